"""The Rasa speed fix (actions/rasa_patches.py) keeps Rasa's behaviour: every action-server
response is still validated, and a malformed one is refused with Rasa's own error."""
import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from actions import rasa_patches


@pytest.fixture(scope="module")
def action() -> RemoteAction:
    assert rasa_patches.install()
    assert rasa_patches.install()  # idempotent
    return RemoteAction("action_triage_answer", EndpointConfig("http://127.0.0.1:1/webhook"))


def test_installed_by_the_modules_rasa_imports():
    import actions.nlu.components  # noqa: F401
    import actions.tracker_store  # noqa: F401
    assert RemoteAction._validate_action_result.__module__ == "actions.rasa_patches"


def test_valid_responses_pass(action):
    assert action._validate_action_result({"events": [], "responses": []})
    assert action._validate_action_result({
        "events": [{"event": "slot", "name": "pregnant", "value": False},
                   {"event": "active_loop", "name": None},
                   {"event": "followup", "name": "action_listen"}],
        "responses": [{"text": "Do any of these apply to you right now?",
                       "buttons": [{"title": "None of these", "payload": "/deny"}]}]})


@pytest.mark.parametrize("bad", [
    {"events": "not a list"},
    {"events": [{"event": "slot", "name": 3}]},
    {"events": [{"no": "event key"}]},
    {"events": [], "responses": ["a bare string"]},
    [],
])
def test_malformed_responses_are_refused_with_rasas_message(action, bad):
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result(bad)


def test_a_strange_sender_id_is_an_error_for_one_request_not_the_end_of_the_server(tmp_path, monkeypatch):
    """Found by the hardening probe: Rasa's SQL tracker store took the ValueError of an id with
    an unpaired surrogate for a missing PostgreSQL schema and exited the whole server."""
    import asyncio
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'trackers.db'}")
    from actions.tracker_store import EnvSQLTrackerStore
    store = EnvSQLTrackerStore()
    with pytest.raises(Exception) as raised:
        asyncio.run(store.retrieve("p\ud800x"))
    assert not isinstance(raised.value, SystemExit)
    assert asyncio.run(store.retrieve("someone")) is None  # the store still works
