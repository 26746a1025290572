"""Dialogue helpers shared by the Rasa actions (no Rasa import here)."""
