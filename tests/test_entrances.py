"""Who can reach which conversation, through which entrance (issue 10, items 5, 10, 14, 15
and 16), through the real servers (tools/servers.py: the Rasa server with the project's
channels, and the action server), with the Telegram and WhatsApp channels unconfigured:

- A REST client cannot choose the channel of its messages (`input_channel`), and a channel
  that is not configured never produces an output channel: nothing is ever sent through
  WhatsApp or Telegram for a conversation that did not come from there (item 15).
- Separate id spaces: REST refuses senders that have the form of a Telegram chat id or a
  WhatsApp id; socket.io session ids are issued by the server (unguessable), and a socket's
  messages go to the session it was confirmed, never to one it names (item 5).
- A malformed REST message gets 400, streamed or not; a stream always ends (item 14).
- Bad socket.io events get a chat answer; REST senders that are not text (which made Rasa's
  SQL tracker store exit the whole server) get 400, and the server stays up (item 16).
- No failing input leaves its text in any log (item 10).
"""
import asyncio
import json
import logging
import re
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, List, Optional, Tuple

import pytest
import socketio

from actions import limits
from test_channels import CHANNEL_ENV, environment
from test_message_limits import post_json, rest, user_texts
from tools.servers import TOKEN, running_assistant

MARKER = "qorvexentrancemarker"  # a word no log may ever contain
CONSENT_Q = "Is it OK to use that information for this assessment?"
SESSION = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def bot():
    unconfigured = {name: "" for name in CHANNEL_ENV}  # Telegram and WhatsApp off
    with environment(unconfigured), running_assistant(timeout=300) as assistant:
        yield assistant
        logs = {name: (assistant.workdir / name).read_text(errors="replace")
                for name in ("rasa.log", "actions.log")}
    for name, log in logs.items():  # after every test of the module
        assert MARKER not in log, f"a message's text was written to {name}"
        assert "Twilio: sending" not in log, "something was sent through WhatsApp"


def sender(tag: str = "entrance") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}"


def status_ok(bot) -> bool:
    try:
        with urllib.request.urlopen(f"{bot.url}/status?token={TOKEN}", timeout=10) as r:
            return r.status == 200
    except OSError:
        return False


# ------------------------------------------------------------------ item 15: channels

def test_rest_cannot_choose_the_channel_of_its_messages(bot):
    me = sender()
    status, answer, _ = post_json(rest(bot), {"sender": me, "message": f"hi {MARKER}",
                                              "input_channel": "twilio"})
    assert status == 400, (status, answer)
    assert "input_channel" in answer["error"] and MARKER not in answer["error"]
    assert user_texts(bot, me) == []
    # naming its own channel is fine, and the conversation is on it
    status, answer, _ = post_json(rest(bot), {"sender": me, "message": "hi",
                                              "input_channel": "rest"})
    assert status == 200 and any(CONSENT_Q in (m.get("text") or "") for m in answer)
    assert bot.tracker(me)["latest_input_channel"] == "rest"


@pytest.mark.parametrize("channel", ["twilio", "telegram"])
def test_an_unconfigured_channel_never_sends_anything(bot, channel):
    me = sender()
    assert post_json(rest(bot), {"sender": me, "message": "hi"})[0] == 200
    # what the inbox does to talk to a person (output_channel=<a channel>): with the channel
    # unconfigured, Rasa collects the messages and answers them, nothing goes out
    status, answer, _ = post_json(
        f"{bot.url}/conversations/{me}/trigger_intent?output_channel={channel}&token={TOKEN}",
        {"name": "greet"})
    assert status == 200, answer
    assert answer["messages"], "the messages went to an output channel that is not configured"


# ------------------------------------------------------------------ item 5: id spaces

@pytest.mark.parametrize("conversation", [
    "424201", "-1001234567890", "whatsapp:+15550001001", "WhatsApp:+15550001002", " 424204",
], ids=["telegram-chat", "telegram-group", "whatsapp", "whatsapp-case", "telegram-padded"])
def test_rest_cannot_address_a_telegram_or_whatsapp_conversation(bot, conversation):
    status, answer, _ = post_json(rest(bot), {"sender": conversation,
                                              "message": f"why? {MARKER}"})
    assert status == 400, (status, answer)
    assert "sender" in answer["error"] and MARKER not in answer["error"]
    assert user_texts(bot, conversation.strip()) == []


def test_rest_senders_of_other_forms_still_work(bot):
    for me in (sender("shop-42"), "user:42-" + uuid.uuid4().hex[:6], uuid.uuid4().hex):
        status, answer, _ = post_json(rest(bot), {"sender": me, "message": "hi"})
        assert status == 200 and answer, (me, answer)


class Chat:
    """A socket.io client, as the web chat widget talks to Rasa."""

    def __init__(self, bot) -> None:
        self.bot = bot
        self.client = socketio.AsyncClient()
        self.said: asyncio.Queue = asyncio.Queue()
        self.confirmed: asyncio.Queue = asyncio.Queue()
        self.client.on("bot_uttered", lambda data: self.said.put_nowait(data))
        self.client.on("session_confirm", lambda sid: self.confirmed.put_nowait(sid))

    async def __aenter__(self) -> "Chat":
        await self.client.connect(self.bot.url, socketio_path="/socket.io",
                                  transports=["websocket"])
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.client.disconnect()

    async def session(self, data: Any) -> str:
        await self.client.emit("session_request", data)
        return await asyncio.wait_for(self.confirmed.get(), 20)

    async def send(self, data: Any) -> None:
        await self.client.emit("user_uttered", data)

    async def answer(self, timeout: float = 60) -> Optional[str]:
        try:
            return (await asyncio.wait_for(self.said.get(), timeout)).get("text", "")
        except asyncio.TimeoutError:
            return None

    async def until(self, text: str, timeout: float = 120) -> None:
        while True:
            got = await self.answer(timeout)
            assert got is not None, f"no answer containing {text!r}"
            if text in got:
                return


@pytest.mark.parametrize("requested", [
    "424201", "whatsapp:+15550001001", "alice", "default", "A" * 32, 42, "", None,
], ids=["telegram", "whatsapp", "word", "default", "upper-hex", "number", "empty", "none"])
def test_socketio_session_ids_are_issued_by_the_server(bot, requested):
    async def chat() -> str:
        async with Chat(bot) as c:
            return await c.session({"session_id": requested})

    confirmed = asyncio.run(chat())
    assert SESSION.fullmatch(confirmed), confirmed
    assert confirmed != requested


def test_socketio_an_issued_session_can_be_resumed(bot):
    async def chat() -> Tuple[str, str]:
        async with Chat(bot) as first:
            issued = await first.session({})
            await first.send({"message": "hi", "session_id": issued})
            await first.until(CONSENT_Q)
        async with Chat(bot) as later:  # a page reload: a new socket, the stored session
            return issued, await later.session({"session_id": issued})

    issued, resumed = asyncio.run(chat())
    assert resumed == issued and user_texts(bot, issued) == ["hi"]


def test_socketio_a_message_goes_only_to_its_own_sockets_session(bot):
    async def chat() -> Tuple[str, List[Optional[str]]]:
        async with Chat(bot) as victim, Chat(bot) as other:
            theirs = await victim.session({})
            await victim.send({"message": "hi", "session_id": theirs})
            await victim.until(CONSENT_Q)
            await other.session({})
            await other.send({"message": f"why? {MARKER}", "session_id": theirs})
            answers = [await other.answer(30)]
            # a socket that never asked for a session cannot name one either
            async with Chat(bot) as stranger:
                await stranger.send({"message": f"why? {MARKER}", "session_id": theirs})
                answers.append(await stranger.answer(30))
            assert await victim.answer(3) is None, "the victim's chat received something"
            return theirs, answers

    theirs, answers = asyncio.run(chat())
    assert answers == [limits.OTHER_SESSION, limits.NO_SESSION]
    assert user_texts(bot, theirs) == ["hi"]


# ------------------------------------------------------------------ items 14, 16: bad input

BAD_MESSAGES = {"number": 42, "null": None, "list": ["hi"], "object": {"text": "hi"},
                "true": True, "surrogate": f"\ud800 {MARKER}", "nul": f"hi\x00{MARKER}"}


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "plain"])
@pytest.mark.parametrize("name", sorted(BAD_MESSAGES) + ["missing"])
def test_rest_a_malformed_message_gets_400_and_a_stream_ends(bot, name, stream):
    me = sender()
    body: Dict[str, Any] = {"sender": me}
    if name != "missing":
        body["message"] = BAD_MESSAGES[name]
    url = rest(bot) + ("?stream=true" if stream else "")
    # before: the stream was held open until Rasa's one-hour timeout
    status, answer, headers = post_json(url, body, timeout=30)
    assert status == 400, (status, answer)
    assert "json" in headers.get("content-type", "")
    assert "message" in answer["error"] and "\n" not in answer["error"]
    assert MARKER not in answer["error"]
    assert user_texts(bot, me) == []


@pytest.mark.parametrize("raw,content_type", [
    (b"sender=someone&message=hi", "application/x-www-form-urlencoded"),
    (b'{"sender": "someone", "message": "hi"', "application/json"),
    (b"\xff\xfe\x00garbage", "application/octet-stream"),
    (f'{{"sender": "someone", "message": "{MARKER}"}}'.encode("utf-16"), "application/json"),
], ids=["form", "truncated-json", "binary", "utf-16"])
def test_rest_a_body_that_is_not_json_gets_a_one_line_reason(bot, raw, content_type):
    req = urllib.request.Request(rest(bot), data=raw, headers={"Content-Type": content_type})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == 400
    answer = json.loads(e.value.read())
    assert set(answer) == {"error"} and "JSON" in answer["error"], answer
    assert "\n" not in answer["error"] and MARKER not in answer["error"]


@pytest.mark.parametrize("conversation", [f"p\ud800{MARKER}", f"a\x00b{MARKER}",
                                          f"two\nlines{MARKER}", f"tab\t{MARKER}"],
                         ids=["surrogate", "nul", "newline", "tab"])
def test_rest_a_sender_that_is_not_text_is_refused_and_the_server_stays_up(bot, conversation):
    # before: Rasa's SQL tracker store turned the UnicodeEncodeError into an exit of the
    # whole server
    status, answer, _ = post_json(rest(bot), {"sender": conversation, "message": "hi"},
                                  timeout=30)
    assert status == 400, (status, answer)
    assert "sender" in answer["error"] and MARKER not in answer["error"]
    assert status_ok(bot)


def test_socketio_bad_events_get_a_clear_answer_and_the_chat_carries_on(bot):
    async def chat() -> Tuple[str, List[Optional[str]]]:
        async with Chat(bot) as c:
            session = await c.session({})
            answers = []
            for data in (f"hi {MARKER}", 42, None, [f"hi {MARKER}"],
                         {"message": 5, "session_id": session},
                         {"message": [MARKER], "session_id": session},
                         {"message": f"\ud800 {MARKER}", "session_id": session}):
                await c.send(data)
                answers.append(await c.answer(30))
            await c.send({"message": "hi", "session_id": session})
            await c.until(CONSENT_Q)
            return session, answers

    session, answers = asyncio.run(chat())
    assert answers == [limits.BAD_EVENT] * 7
    assert user_texts(bot, session) == ["hi"]


# ------------------------------------------------------------------ item 10: failures, logs

def test_a_failure_while_handling_a_message_is_answered_and_logs_no_text(caplog):
    """Rasa's REST channel, as the project wraps it, on a real Sanic server whose message
    handler fails (as Rasa's NLU did on an unpaired surrogate): the person is told, a stream
    ends, and neither the text nor the exception's message (which quotes it) is logged."""
    from sanic import Sanic

    from actions.channels import RestInput
    from inbox.server import serve_in_thread, unique_app_name

    async def failing(message) -> None:
        raise RuntimeError(f"could not parse {message.text!r}")

    app = Sanic(unique_app_name("entrances_failing_rest"))
    app.blueprint(RestInput().blueprint(failing), url_prefix="/webhooks/rest")
    caplog.set_level(logging.DEBUG)
    with serve_in_thread(app) as base:
        url = f"{base}/webhooks/rest/webhook"
        body = {"sender": "someone", "message": f"I take warfarin {MARKER}"}
        status, answer, _ = post_json(url, body, timeout=30)
        assert status == 200 and answer == [{"recipient_id": "someone",
                                             "text": limits.NOT_HANDLED}]
        req = urllib.request.Request(url + "?stream=true", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:  # ends: no timeout
            lines = [json.loads(line) for line in r.read().decode().splitlines() if line]
        assert [line["text"] for line in lines] == [limits.NOT_HANDLED]
    assert "could not be handled (RuntimeError)" in caplog.text
    assert MARKER not in caplog.text and "warfarin" not in caplog.text


def test_rasa_structured_logs_never_carry_message_text(caplog):
    """Rasa logs `text=<the message>` when handling a REST message fails or times out
    (structlog, configured by Rasa as in `rasa run`); the channels' module removes such
    values from every structured log event."""
    import structlog
    from rasa.utils.log_utils import configure_structlog

    from actions.channels import REDACTED, install_log_redaction

    saved = structlog.get_config()
    caplog.set_level(logging.INFO)
    try:
        configure_structlog(logging.INFO)
        install_log_redaction()
        log = structlog.get_logger()
        log.error("rest.message.received.failure", text=f"I take warfarin {MARKER}")
        log.error("rest.message.received.timeout", text=f"I take warfarin {MARKER}",
                  user_message=MARKER, metadata={"k": MARKER})
        assert "rest.message.received.failure" in caplog.text and REDACTED in caplog.text
        assert MARKER not in caplog.text and "warfarin" not in caplog.text
    finally:
        structlog.configure(**saved)


# ------------------------------------------------------------------ item 6: the clinic

def test_a_later_message_cannot_move_the_conversation_to_another_clinic(bot):
    me = sender()
    for message, metadata in (("hi", {"mode": "shop", "shop_id": "shop-a"}),
                              ("yes", {"mode": "shop", "clinic_id": "clinic-b"}),
                              ("I'm 34", {"mode": "shop", "shop_id": "shop-c"})):
        status, answer, _ = post_json(rest(bot), {"sender": me, "message": message,
                                                  "metadata": metadata})
        assert status == 200, answer
    assert bot.slots(me)["clinic_id"] == "shop-a"
