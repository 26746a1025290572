"""Home-microneedling triage: a sourced knowledge base and a pure-Python engine (no Rasa)."""
from .engine import assess, default_kb
from .intake import Intake, IntakeError, validate
from .kb import KnowledgeBase, KnowledgeBaseError, load

__all__ = ["assess", "default_kb", "Intake", "IntakeError", "validate", "KnowledgeBase",
           "KnowledgeBaseError", "load"]
