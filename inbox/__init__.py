"""The support agents' inbox (Sanic): ticket list, case view with live transcript, replies
and notes, hand-back to the assistant, clinic summaries; see inbox/app.py."""
