"""Shared fixtures, in the conventions of RasaHQ/rasa-demo: a Tracker factory and a
CollectingDispatcher for action unit tests, plus the real servers for end-to-end tests."""
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from tools.servers import running_assistant

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def _default_slots(domain: Dict[str, Any]) -> Dict[str, Any]:
    return {name: spec.get("initial_value") for name, spec in domain["slots"].items()}


@pytest.fixture
def make_tracker(domain):
    """make_tracker(slots={...}, text="...", intent="inform", entities=[...],
    active_loop="intake_form", events=[...]) -> rasa_sdk Tracker"""

    def make(slots: Optional[Dict[str, Any]] = None, text: str = "", intent: Optional[str] = None,
             entities: Iterable[Dict[str, Any]] = (), active_loop: Optional[str] = None,
             events: Optional[List[Dict[str, Any]]] = None, metadata: Optional[Dict] = None,
             sender_id: str = "test-user") -> Tracker:
        all_slots = {**_default_slots(domain), "requested_slot": None, **(slots or {})}
        latest = {"text": text, "intent": {"name": intent, "confidence": 1.0} if intent else {},
                  "entities": list(entities), "metadata": metadata or {}}
        return Tracker(sender_id=sender_id, slots=all_slots, latest_message=latest,
                       events=events or [{"event": "user", "text": text, "parse_data": latest}],
                       paused=False, followup_action=None,
                       active_loop={"name": active_loop} if active_loop else {},
                       latest_action_name="action_listen")

    return make


@pytest.fixture(scope="session")
def assistant():
    """The real action server and Rasa server on free loopback ports, with the trained model."""
    with running_assistant() as bot:
        yield bot
