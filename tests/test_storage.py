"""Storage against a real SQLite file and a real PostgreSQL server (Debian's package, started
here in a temporary folder): migrations, records, deletion and retention."""
import asyncio
import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text, update

from actions import storage
from actions.storage import Conversation, Store
from actions.triage import assess
from tools.postgres import temporary_postgres

RECORD_TABLES = ("conversations", "intakes", "assessments", "consent_records", "tickets")


@pytest.fixture(scope="module")
def postgres_url():
    with temporary_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'records.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        Store(url).engine.dispose()
        with Store(url).engine.begin() as conn:  # a clean schema for every test
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    s = Store(url)
    s.migrate()
    yield s
    s.engine.dispose()


INTAKE = {"age": 34, "concerns": ["fine_lines_wrinkles"], "areas": ["forehead"],
          "device": {"type": "pen", "needle_mm": 0.5}, "skin_type": 2,
          "facts": {"pregnant": False, "isotretinoin_stopped_months_ago": 24.0,
                    "anticoagulant": True}, "recent_procedures": {"botox": 10}}


def test_migrations_from_empty_match_the_models(store):
    assert set(RECORD_TABLES) <= set(store.tables())
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), storage.metadata)
    assert diffs == []


def test_migrating_twice_changes_nothing(store):
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"


def test_every_canonical_fact_is_a_column(store):
    columns = {c["name"] for c in inspect(store.engine).get_columns("intakes")}
    assert set(assess.__globals__["default_kb"]().facts) <= columns


def test_intake_round_trip(store):
    store.save_intake("alice", INTAKE, channel="rest", mode="clinic", clinic_id="clinic-a")
    assert store.intake("alice") == INTAKE
    changed = {**INTAKE, "facts": {**INTAKE["facts"], "pregnant": None}}
    store.save_intake("alice", changed)
    assert "pregnant" not in store.intake("alice")["facts"]  # unknown stays unknown
    conv = store.conversation("alice")
    assert (conv.channel, conv.mode, conv.clinic_id) == ("rest", "clinic", "clinic-a")


def test_assessment_keeps_its_rules_version_and_exact_intake(store):
    assessment = assess(INTAKE)
    store.save_assessment("bob", INTAKE, assessment)
    [row] = store.assessments("bob")
    assert row.rules_version == assessment["rules_version"]
    assert row.intake == INTAKE
    assert row.disposition == assessment["disposition"] == "professional_consult"
    assert assess(row.intake) == row.assessment  # the decision can be reproduced


def test_consent_records_keep_version_time_and_channel(store):
    store.record_consent("carol", True, "socketio")
    c = store.consent("carol")
    assert c.given is True and c.channel == "socketio" and c.consent_version
    assert abs((dt.datetime.utcnow() - c.created_at).total_seconds()) < 120


def test_tickets_most_urgent_first_then_longest_waiting(store):
    a = store.open_ticket("p1", "request_human", "professional_consult", {"n": 1})
    b = store.open_ticket("p2", "red_flag", "urgent_care", {"n": 2})
    c = store.open_ticket("p3", "request_human", "professional_consult", {"n": 3})
    assert [t.id for t in store.tickets(["open"])] == [b, a, c]
    assert store.conversation("p1").status == "paused"
    # a second handoff in the same conversation updates its open case
    assert store.open_ticket("p1", "red_flag", "emergency", {"n": 4}) == a
    assert [t.id for t in store.tickets(["open"])] == [a, b, c]


def test_claim_reply_note_resolve(store):
    tid = store.open_ticket("dave", "request_human", "home_suitable", {})
    store.claim(tid, "agent-1")
    store.add_staff_message(tid, "agent-1", "reply", "Hello, I'm Sam.")
    store.add_staff_message(tid, "agent-1", "note", "Checked the label.")
    t = store.ticket(tid)
    assert (t.status, t.claimed_by) == ("claimed", "agent-1")
    assert [(m.kind, m.text) for m in t.messages] == [("reply", "Hello, I'm Sam."),
                                                       ("note", "Checked the label.")]
    store.close_ticket(tid, resolved=True)
    assert store.ticket(tid).status == "resolved" and store.conversation("dave").status == "closed"
    with pytest.raises(ValueError):
        store.claim(tid, "agent-2")
    with pytest.raises(ValueError):
        store.add_staff_message(tid, "agent-1", "shout", "x")


def test_staff_tokens_and_passwords_are_hashed(store):
    token = store.create_user("erin", "clinician", password="s3cret", clinic_id="clinic-a")
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT password_hash, token_hash FROM staff_users")).one()
    assert token not in row.token_hash and "s3cret" not in row.password_hash
    assert store.user_by_token(token).username == "erin"
    assert store.user_by_password("erin", "s3cret").role == "clinician"
    assert store.user_by_password("erin", "wrong") is None
    assert store.user_by_token("nope") is None


def _rows_about(store, cid):
    with store.engine.connect() as conn:
        counts = {t: conn.execute(text(
            f"SELECT COUNT(*) FROM {t} WHERE {'id' if t == 'conversations' else 'conversation_id'} = :c"),
            {"c": cid}).scalar() for t in RECORD_TABLES}
        if "events" in inspect(conn).get_table_names():
            counts["events"] = conn.execute(text("SELECT COUNT(*) FROM events WHERE sender_id = :c"),
                                            {"c": cid}).scalar()
    return counts


def _save_tracker(url, sender):
    """A real Rasa tracker saved by the project's tracker store, in the same database."""
    import os
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from actions.tracker_store import EnvSQLTrackerStore
    old = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    try:
        ts = EnvSQLTrackerStore()
        tracker = DialogueStateTracker.from_events(
            sender, [ActionExecuted("action_listen"), UserUttered("I'm pregnant")])
        asyncio.run(ts.save(tracker))
        ts.engine.dispose()
    finally:
        if old is None:
            os.environ.pop("DATABASE_URL")
        else:
            os.environ["DATABASE_URL"] = old


def test_delete_my_data_leaves_no_row_and_no_tracker_event(store):
    _save_tracker(store.url, "frank")
    store.save_intake("frank", INTAKE)
    store.save_assessment("frank", INTAKE, assess(INTAKE))
    store.record_consent("frank", True, "rest")
    tid = store.open_ticket("frank", "request_human", "professional_consult", {"x": 1})
    store.add_staff_message(tid, "agent", "reply", "hi")
    store.save_intake("grace", INTAKE)
    assert _rows_about(store, "frank")["events"] > 0
    store.delete_conversation("frank")
    assert set(_rows_about(store, "frank").values()) == {0}
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM staff_messages")).scalar() == 0
    assert store.intake("grace") == INTAKE  # nobody else's data is touched


def test_retention_purges_only_old_conversations(store):
    store.save_intake("old", INTAKE)
    store.save_intake("new", INTAKE)
    with store.session() as s:
        s.execute(update(Conversation).where(Conversation.id == "old")
                  .values(updated_at=dt.datetime.utcnow() - dt.timedelta(days=40)))
    assert store.purge_older_than(30) == 1
    assert store.intake("old") is None and store.intake("new") == INTAKE
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Conversation)) == 1


def test_retention_command_line(tmp_path):
    import subprocess
    import sys
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "actions.storage", *a], env=env,
                                    capture_output=True, text=True, cwd=storage.ROOT)
    assert run("migrate").returncode == 0
    r = run("purge", "--days", "30")
    assert r.returncode == 0 and "purged 0" in r.stdout
    assert run("purge", "--days", "0").returncode == 2


def test_an_erase_is_audited_without_the_id(store):
    """After an erase the audit log must not name the person: a WhatsApp id is a phone
    number, and a plain hash of a phone number is reversed by hashing every number."""
    import hashlib
    cid = "whatsapp:+14155550123"
    store.save_intake(cid, INTAKE)
    store.delete_conversation(cid)
    entry = [e for e in store.audit_log() if e.action == "deleted"][0]
    assert "14155550123" not in entry.target_id
    assert entry.target_id != hashlib.sha256(cid.encode()).hexdigest()[:16]
    from actions.audit_ref import conversation_ref
    assert entry.target_id == conversation_ref(cid)


def test_the_command_line_refuses_a_weak_password(tmp_path):
    import subprocess
    import sys
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "PATH": "/usr/bin:/bin"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "actions.storage", *a], env=env,
                                    capture_output=True, text=True, cwd=storage.ROOT)
    assert run("migrate").returncode == 0
    weak = run("create-user", "nina", "agent", "--password", "password")
    assert weak.returncode == 2 and "password" in weak.stderr
    assert run("create-user", "nina", "agent", "--password", "violet-harbour-tandem-41").returncode == 0
