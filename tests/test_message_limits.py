"""What one message may carry, at every entrance (issue 10, items 4 and 7), through the real
servers: the Rasa server (REST, socket.io, Telegram and WhatsApp channels) and the action
server, with Telegram's and Twilio's APIs replaced by tests/test_channels.py's fake.

- REST refuses a message without a sender, or with an empty or blank one, with 400 and a JSON
  reason, instead of Rasa's shared conversation `default`.
- A message over actions.limits.MESSAGE_MAX_CHARS is answered with limits.TOO_LONG in the
  person's chat at every entrance; nothing of it reaches NLU or the tracker, the conversation
  stays where it was, and its text is in no log.
- Metadata over the size or depth limits is refused (400 on REST, a chat message on socket.io).
"""
import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, List, Optional, Tuple

import pytest
import socketio

from actions import limits
from tools.servers import running_assistant
from test_channels import (channel_env, FakeAPI, environment, send_telegram, send_whatsapp,
                           sent_to, telegram_update, whatsapp_to)
from test_e2e_conversations import Conversation, asks

CONSENT_Q = "Is it OK to use that information for this assessment?"
MARKER = "zyxquplimitmarker"  # a word no log may ever contain


def long_message(chars: int) -> str:
    words = f"{MARKER} so I have been reading forums for weeks and honestly I am a bit lost "
    return (words * (chars // len(words) + 1))[:chars]


@pytest.fixture(scope="module")
def fake():
    api = FakeAPI()
    yield api
    api.close()


@pytest.fixture(scope="module")
def bot(fake):
    env = channel_env(fake.url)
    with environment(env), running_assistant(timeout=300) as assistant:
        yield assistant
        logs = [(assistant.workdir / name).read_text(errors="replace")
                for name in ("rasa.log", "actions.log")]
    for log in logs:  # after every test of the module: no message text in any log
        assert MARKER not in log, "a message's text was written to a log"


def post_json(url: str, payload: Any, raw: Optional[bytes] = None,
              timeout: float = 120) -> Tuple[int, Any, Dict[str, str]]:
    data = raw if raw is not None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body, status, headers = r.read(), r.status, {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        body, status, headers = e.read(), e.code, {k.lower(): v for k, v in e.headers.items()}
    try:
        return status, json.loads(body), headers
    except ValueError:
        return status, body.decode(errors="replace"), headers


def rest(bot) -> str:
    return f"{bot.url}/webhooks/rest/webhook"


def user_texts(bot, sender: str) -> List[str]:
    return [e.get("text") or "" for e in bot.tracker(sender)["events"] if e["event"] == "user"]


def at_the_health_checklist(bot, tag: str) -> Conversation:
    c = Conversation(bot, tag)
    c.say("hi")
    c.say("yes")
    assert asks(c.say("I'm 34 and I'd like to smooth the fine lines on my forehead"),
                "health"), c.transcript()
    return c


# ------------------------------------------------------------------ REST: sender (item 7)

@pytest.mark.parametrize("body", [
    {"message": "I'm pregnant"},
    {"sender": None, "message": "I'm pregnant"},
    {"sender": "", "message": "I'm pregnant"},
    {"sender": "   \t\n", "message": "I'm pregnant"},
    {"sender": 12345, "message": "I'm pregnant"},
    {"sender": ["alice"], "message": "I'm pregnant"},
    {"sender": "x" * (limits.SENDER_MAX_CHARS + 1), "message": "hi"},
], ids=["missing", "null", "empty", "blank", "number", "list", "too-long"])
def test_rest_refuses_a_message_without_a_usable_sender(bot, body):
    before = user_texts(bot, "default")
    status, answer, headers = post_json(rest(bot), body)
    assert status == 400, (status, answer)
    assert "json" in headers.get("content-type", "")
    assert isinstance(answer, dict) and "sender" in answer["error"], answer
    assert user_texts(bot, "default") == before, "the message landed in conversation 'default'"


@pytest.mark.parametrize("raw", [b"[]", b'"hi"', b"null", b"42", b""],
                         ids=["array", "string", "null", "number", "empty"])
def test_rest_refuses_a_body_that_is_not_an_object(bot, raw):
    status, answer, _ = post_json(rest(bot), None, raw=raw)
    assert status == 400, (status, answer)
    assert isinstance(answer, dict) and answer["error"], answer


def test_rest_still_answers_a_message_with_a_sender(bot):
    sender = f"limits-ok-{uuid.uuid4().hex[:8]}"
    status, answer, _ = post_json(rest(bot), {"sender": sender, "message": "hi"})
    assert status == 200 and any(CONSENT_Q in (m.get("text") or "") for m in answer), answer
    assert user_texts(bot, sender) == ["hi"]


# ------------------------------------------------------------------ REST: length (item 4)

def test_rest_answers_a_too_long_message_and_processes_nothing_of_it(bot):
    c = at_the_health_checklist(bot, "limits-rest-long")
    before_slots, before_users = c.slots(), user_texts(bot, c.sender)
    for size in (limits.MESSAGE_MAX_CHARS + 1, 5000, 200_000):
        started = time.time()
        reply = c.say(long_message(size))
        assert time.time() - started < 10, "a long message was not refused quickly"
        assert [m.get("text") for m in reply] == [limits.TOO_LONG], c.transcript()
        assert reply[0]["recipient_id"] == c.sender
    assert user_texts(bot, c.sender) == before_users, "the long message reached the tracker"
    assert c.slots() == before_slots
    # the conversation carries on where it was
    assert asks(c.say("none of these"), "skin_now"), c.transcript()


def test_rest_a_message_at_the_limit_is_processed(bot):
    sender = f"limits-at-{uuid.uuid4().hex[:8]}"
    text = ("hello there " * limits.MESSAGE_MAX_CHARS)[:limits.MESSAGE_MAX_CHARS]
    status, answer, _ = post_json(rest(bot), {"sender": sender, "message": text})
    assert status == 200 and limits.TOO_LONG not in [m.get("text") for m in answer], answer
    assert user_texts(bot, sender) == [text]


def test_rest_streamed_too_long_message_gets_the_answer_and_ends(bot):
    sender = f"limits-stream-{uuid.uuid4().hex[:8]}"
    req = urllib.request.Request(
        rest(bot) + "?stream=true", headers={"Content-Type": "application/json"},
        data=json.dumps({"sender": sender, "message": long_message(50_000)}).encode())
    with urllib.request.urlopen(req, timeout=30) as r:
        lines = [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]
    assert [m["text"] for m in lines] == [limits.TOO_LONG]
    assert user_texts(bot, sender) == []


def test_rest_refuses_a_huge_body_before_reading_it_as_json(bot):
    sender = f"limits-huge-{uuid.uuid4().hex[:8]}"
    status, answer, _ = post_json(rest(bot), {"sender": sender,
                                              "message": long_message(2_000_000)})
    assert status == 413 and "larger" in answer["error"], answer
    assert user_texts(bot, sender) == []


# ------------------------------------------------------------------ REST: metadata (item 4)

def nested(depth: int) -> Dict[str, Any]:
    value: Dict[str, Any] = {"mode": "clinic"}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


def nested_json(depth: int) -> str:
    return '{"x": ' * (depth - 1) + '{"mode": "clinic"}' + "}" * (depth - 1)


@pytest.mark.parametrize("metadata", [
    json.dumps({f"k{i}": i for i in range(50_000)}),
    json.dumps({"note": "a" * (limits.METADATA_MAX_BYTES + 1)}),
    nested_json(limits.METADATA_MAX_DEPTH + 1),
    nested_json(500),
    '[{"mode": "clinic"}]',
    '"clinic"',
], ids=["50k-keys", "long-value", "one-level-too-deep", "500-deep", "array", "string"])
def test_rest_refuses_metadata_over_the_limits(bot, metadata):
    sender = f"limits-meta-{uuid.uuid4().hex[:8]}"
    raw = f'{{"sender": "{sender}", "message": "hi", "metadata": {metadata}}}'.encode()
    started = time.time()
    status, answer, _ = post_json(rest(bot), None, raw=raw)
    assert time.time() - started < 10
    assert status == 400 and "metadata" in answer["error"], (status, answer)
    assert user_texts(bot, sender) == []


def test_rest_refuses_metadata_nested_beyond_what_json_can_read(bot):
    sender = f"limits-meta-deep-{uuid.uuid4().hex[:8]}"
    raw = f'{{"sender": "{sender}", "message": "hi", "metadata": {nested_json(100_000)}}}'
    status, answer, _ = post_json(rest(bot), None, raw=raw.encode())
    assert status == 400, (status, answer)
    assert user_texts(bot, sender) == []


def test_rest_accepts_metadata_within_the_limits(bot):
    sender = f"limits-meta-ok-{uuid.uuid4().hex[:8]}"
    metadata = {**nested(limits.METADATA_MAX_DEPTH), "shop_id": "demo-shop"}
    status, answer, _ = post_json(rest(bot), {"sender": sender, "message": "hi",
                                              "metadata": metadata})
    assert status == 200 and answer, answer
    assert user_texts(bot, sender) == ["hi"]


# ------------------------------------------------------------------ socket.io (the web chat)

def test_socketio_answers_too_long_messages_and_bad_metadata_and_carries_on(bot):
    session = uuid.uuid4().hex
    widget_metadata = {"mode": "shop", "shop_id": "demo-shop"}

    async def chat() -> List[str]:
        client = socketio.AsyncClient()
        got: asyncio.Queue = asyncio.Queue()
        client.on("bot_uttered", lambda data: got.put_nowait(data))
        confirmed = asyncio.get_running_loop().create_future()
        client.on("session_confirm", lambda sid: confirmed.set_result(sid))
        await client.connect(bot.url, socketio_path="/socket.io", transports=["websocket"])
        await client.emit("session_request", {"session_id": session})
        assert await asyncio.wait_for(confirmed, 20) == session

        async def say(message: str, metadata: Any = widget_metadata) -> str:
            await client.emit("user_uttered", {"message": message, "session_id": session,
                                               "customData": metadata})
            return (await asyncio.wait_for(got.get(), 120)).get("text", "")

        answers = [await say(long_message(limits.MESSAGE_MAX_CHARS + 1)),
                   await say(long_message(300_000)),
                   await say("hi", {f"k{i}": i for i in range(50_000)}),
                   await say("hi", nested(limits.METADATA_MAX_DEPTH + 1)),
                   await say("hi", json.dumps(nested(limits.METADATA_MAX_DEPTH + 1))),
                   await say("hi", "{not json")]
        assert got.empty()
        assert user_texts(bot, session) == [], "a refused message reached the tracker"
        # the same session goes on normally (metadata as a JSON string is still accepted)
        await client.emit("user_uttered", {"message": "hi", "session_id": session,
                                           "customData": json.dumps(widget_metadata)})
        while True:
            text = (await asyncio.wait_for(got.get(), 120)).get("text", "")
            if CONSENT_Q in text:
                break
        await client.disconnect()
        return answers

    answers = asyncio.run(chat())
    assert answers[:2] == [limits.TOO_LONG] * 2
    assert answers[2:] == [limits.BAD_METADATA] * 4
    assert user_texts(bot, session) == ["hi"]
    assert bot.slots(session)["mode"] == "shop"


# ------------------------------------------------------------------ Telegram, WhatsApp

def test_telegram_answers_a_too_long_message_in_the_chat(bot, fake):
    chat = 515101
    assert send_telegram(bot, telegram_update(chat, "hi")) == 200
    before_users, before_sent = user_texts(bot, str(chat)), len(sent_to(fake, chat))
    assert send_telegram(bot, telegram_update(chat, long_message(limits.MESSAGE_MAX_CHARS + 1))) \
        == 200
    assert send_telegram(bot, telegram_update(chat, long_message(100_000))) == 200
    assert [m["text"] for m in sent_to(fake, chat)[before_sent:]] == [limits.TOO_LONG] * 2
    assert user_texts(bot, str(chat)) == before_users
    # the consent question still waits for its answer
    assert send_telegram(bot, telegram_update(chat, "yes that's fine")) == 200
    assert bot.slots(str(chat))["consent"] is True


def test_whatsapp_answers_a_too_long_message_in_the_chat(bot, fake):
    sender = "whatsapp:+15550009001"
    assert send_whatsapp(bot, sender, "hi") == 204
    before_users, before_sent = user_texts(bot, sender), len(whatsapp_to(fake, sender))
    assert send_whatsapp(bot, sender, long_message(limits.MESSAGE_MAX_CHARS + 1)) == 204
    assert send_whatsapp(bot, sender, long_message(100_000)) == 204
    assert [c["form"]["Body"] for c in whatsapp_to(fake, sender)[before_sent:]] == \
        [limits.TOO_LONG] * 2
    assert user_texts(bot, sender) == before_users
    # "1" still picks the first of the choices sent before the long message
    assert send_whatsapp(bot, sender, "1") == 204
    assert bot.slots(sender)["consent"] is True


# ------------------------------------------------------------------ one limit, one place

def test_the_web_chat_widget_takes_its_maxlength_from_the_servers_limit():
    from inbox.server import serve_in_thread
    from webchat import create_app
    with serve_in_thread(create_app("http://127.0.0.1:9")) as base:
        with urllib.request.urlopen(base + "/widget.js", timeout=30) as r:
            body = r.read().decode()
    assert f'parseInt("{limits.MESSAGE_MAX_CHARS}", 10)' in body
    assert "__MESSAGE_MAX_CHARS__" not in body and "maxLength = 1000" not in body
    assert len(limits.TOO_LONG) < limits.MESSAGE_MAX_CHARS
    assert limits.MESSAGE_MAX_CHARS < 5000  # tests/test_e2e_conversations.py's "5000-chars"


def test_metadata_checks_stop_early():
    assert limits.metadata_problem(None) is None
    assert limits.metadata_problem({"mode": "clinic", "shop_id": "demo"}) is None
    assert limits.metadata_problem(nested(limits.METADATA_MAX_DEPTH)) is None
    assert "deeper" in limits.metadata_problem(nested(limits.METADATA_MAX_DEPTH + 1))
    assert "larger" in limits.metadata_problem({f"k{i}": i for i in range(10_000)})
    assert "larger" in limits.metadata_problem({"a": ["b" * limits.METADATA_MAX_BYTES]})
    assert "object" in limits.metadata_problem(["a"])
    assert "object" in limits.metadata_problem('{"mode": "clinic"}')
    assert limits.parse_metadata('{"mode": "clinic"}') == ({"mode": "clinic"}, None)
    assert "larger" in limits.parse_metadata("x" * (limits.METADATA_MAX_BYTES + 1))[1]
    assert "JSON" in limits.parse_metadata("[" * 3000)[1]
