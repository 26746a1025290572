"""Records and handoff with the real servers: a real conversation ends in a complete ticket
(on SQLite and on PostgreSQL), an agent's reply reaches a real socket.io client live, the
assistant pauses and resumes, "delete my data" leaves nothing behind, logs hold no message
text."""
import asyncio
import json
import urllib.request
import uuid

import pytest
import socketio
from sqlalchemy import text

from actions.storage import Store
from inbox.app import create_app
from inbox.rasa import resume_events
from inbox.server import serve_in_thread
from tools.postgres import temporary_postgres
from tools.servers import TOKEN, running_assistant


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bot(request):
    if request.param == "sqlite":
        with running_assistant() as b:
            yield b
    else:
        with temporary_postgres() as url, running_assistant(database_url=url) as b:
            yield b


def sender() -> str:
    return f"person-{uuid.uuid4().hex[:10]}"


def texts(replies):
    return " ".join(r.get("text", "") for r in replies)


def test_a_conversation_ending_in_handoff_creates_a_complete_ticket(bot):
    me = sender()
    for message in ["hi", "yes", "texture on my cheeks, I'm 45", "I take Eliquis"]:
        bot.say(me, message)
    assert bot.slots(me)["disposition"] == "professional_consult"
    reply = texts(bot.say(me, "can I talk to a real person please?"))
    assert "passed your conversation to our team" in reply and "within" in reply
    tracker = bot.tracker(me)
    assert tracker["paused"] is True

    [ticket] = [t for t in Store(bot.database_url).tickets() if t.conversation_id == me]
    s = ticket.summary
    assert ticket.status == "open" and ticket.urgency == "professional_consult"
    assert s["reason"] in ("discuss_contraindication", "request_human")
    assert s["disposition"] == "professional_consult"
    assert s["facts"]["present"][0]["id"] == "anticoagulant"  # pertinent positive first
    assert any(r["rule"] == "anticoagulant" and r["source_names"] for r in s["reasons"])
    assert {"person", "assistant"} <= {line["who"] for line in s["transcript"]}
    assert any("Eliquis" in line["text"] for line in s["transcript"])
    assert (s["channel"], s["mode"], s["consent"]) == ("rest", "shop", True)
    assert s["intake"]["age"] == 45 and s["intake"]["areas"] == ["cheeks"]

    # while paused, the person's messages are kept for the agent and the bot stays quiet
    assert bot.say(me, "hello? anyone there?") == []
    assert "hello? anyone there?" in [e.get("text") for e in bot.tracker(me)["events"]]


def test_a_red_flag_opens_an_urgent_case(bot):
    me = sender()
    reply = texts(bot.say(me, "there's pus and red streaks after I rolled yesterday"))
    assert "doctor today" in reply
    [ticket] = [t for t in Store(bot.database_url).tickets() if t.conversation_id == me]
    assert ticket.urgency == "urgent_care" and ticket.reason == "red_flag"
    # ranked as urgent care, and listed before every less urgent case
    from actions.triage.engine import default_kb
    assert ticket.urgency_rank == default_kb().rank["urgent_care"]
    listed = Store(bot.database_url).tickets()
    ids = [t.id for t in listed]
    assert all(ids.index(ticket.id) < ids.index(t.id) for t in listed
               if t.urgency_rank > ticket.urgency_rank)


def test_consent_and_assessment_are_recorded(bot):
    me = sender()
    for message in ["hi", "yes", "fine lines on my forehead, I'm 34", "I'm pregnant"]:
        bot.say(me, message)
    store = Store(bot.database_url)
    assert store.consent(me).given is True and store.consent(me).consent_version
    [a] = store.assessments(me)
    assert a.disposition == "do_not_treat" and a.intake["facts"]["pregnant"] is True
    assert a.rules_version == a.assessment["rules_version"]
    assert store.intake(me)["facts"]["pregnant"] is True


def _count(url, sql, **params):
    store = Store(url)
    with store.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def test_delete_my_data_leaves_no_row_and_no_tracker_event(bot):
    me = sender()
    for message in ["hi", "yes", "wrinkles on my forehead, I'm 50", "I take warfarin",
                    "talk to a human please"]:
        bot.say(me, message)
    # the agent hands the chat back; then the person asks for deletion
    store = Store(bot.database_url)
    [ticket] = [t for t in store.tickets() if t.conversation_id == me]
    store.close_ticket(ticket.id, resolved=False)
    _post_events(bot, me, resume_events())
    assert "delete everything" in texts(bot.say(me, "please delete my data"))
    assert "deleted" in texts(bot.say(me, "yes"))
    for table in ("conversations", "intakes", "assessments", "consent_records", "tickets"):
        column = "id" if table == "conversations" else "conversation_id"
        assert _count(bot.database_url, f"SELECT COUNT(*) FROM {table} WHERE {column} = :c",
                      c=me) == 0, table
    assert _count(bot.database_url, "SELECT COUNT(*) FROM events WHERE sender_id = :c", c=me) == 0
    # and the next message starts from nothing
    bot.say(me, "hi")
    assert bot.slots(me).get("anticoagulant") is None


def _post_events(bot, me, events):
    req = urllib.request.Request(
        f"{bot.url}/conversations/{me}/tracker/events?token={TOKEN}",
        data=json.dumps(events).encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()


def test_an_agents_reply_reaches_a_real_socketio_client(bot):
    store = Store(bot.database_url)
    agent_token = store.create_user(f"agent-{uuid.uuid4().hex[:6]}", "agent")
    received = []

    async def chat(inbox_url):
        client = socketio.AsyncClient()
        got = asyncio.Queue()
        client.on("bot_uttered", lambda data: got.put_nowait(data))
        confirmed = asyncio.get_running_loop().create_future()
        client.on("session_confirm", lambda sid: confirmed.set_result(sid))
        await client.connect(bot.url, socketio_path="/socket.io", transports=["websocket"])
        session = uuid.uuid4().hex
        await client.emit("session_request", {"session_id": session})
        assert await asyncio.wait_for(confirmed, 10) == session

        async def say(message, wait_for):
            await client.emit("user_uttered", {"message": message, "session_id": session})
            while True:
                data = await asyncio.wait_for(got.get(), 30)
                received.append(data.get("text", ""))
                if wait_for in data.get("text", ""):
                    return

        await say("hi", "Is it OK")
        await say("I'd like to speak to a person", "passed your conversation")
        [ticket] = [t for t in store.tickets() if t.conversation_id == session]
        assert ticket.channel == "socketio"

        def reply():
            req = urllib.request.Request(
                f"{inbox_url}/api/tickets/{ticket.id}/reply",
                data=json.dumps({"text": "Hi, I'm Sam from the clinic team."}).encode(),
                headers={"Content-Type": "application/json",
                         "Authorization": f"Bearer {agent_token}"})
            return json.loads(urllib.request.urlopen(req, timeout=30).read())

        await asyncio.get_running_loop().run_in_executor(None, reply)
        data = await asyncio.wait_for(got.get(), 30)   # live, without asking
        received.append(data.get("text", ""))
        await client.disconnect()
        return data

    with serve_in_thread(create_app(store, bot.url, TOKEN)) as inbox_url:
        data = asyncio.run(chat(inbox_url))
    assert data["text"] == "Hi, I'm Sam from the clinic team."
    replies = [m.text for t in store.tickets() for m in store.ticket(t.id).messages]
    assert "Hi, I'm Sam from the clinic team." in replies  # kept for the transcript


def test_logs_carry_no_message_text_or_health_facts(bot):
    me = sender()
    secret = "zebrafinch"
    for message in ["hi", "yes", f"I'm on warfarin and my cat is called {secret}"]:
        bot.say(me, message)
    for log in ("rasa.log", "actions.log"):
        content = (bot.workdir / log).read_text(errors="replace")
        assert secret not in content and "warfarin" not in content, log
