"""The customers' web chat: an embeddable widget (vanilla JS) that talks to Rasa's socket.io
channel, plus a demo shop page and the knowledge base's sources. See webchat/README.md."""
from .app import create_app

__all__ = ["create_app"]
