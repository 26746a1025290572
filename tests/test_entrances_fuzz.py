"""Issue 10, "Done when" (Rasa side): generated bad inputs thrown at every entrance of the real
servers (tools/servers.py: Rasa with the project's channels, and the action server), at least
500 at each of REST, socket.io, the action server, the Telegram webhook and the WhatsApp
webhook (the inbox has its own: test_inbox_hardening_fuzz.py). For every input: never a 5xx,
a clear answer (a one-line JSON reason for a refusal, the channel's answer otherwise, a chat
message on socket.io); afterwards the servers are healthy and hold a conversation, and no
log holds any of the inputs' text. Bounded and reproducible: derandomized Hypothesis, the
rate limits small (so that valid-looking inputs reach NLU only a few times a minute)."""
import asyncio
import http.client
import json
import time
import urllib.parse
import zlib
from collections import Counter
from typing import Any, Dict, Optional, Tuple

import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions import limits
from test_channels import (TW_NUMBER, TW_SID, FakeAPI, channel_env, environment)
from tools.servers import TOKEN, running_assistant

MARKER = "qzfuzzentrancemarker"  # in every generated text: no log may ever contain it
EXAMPLES = 500
COUNTS: Counter = Counter()
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
CONSENT_Q = "Is it OK to use that information for this assessment?"

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
MARKED = TEXT.map(lambda t: f"{MARKER} {t}")
ODD_TEXT = st.sampled_from([f"\ud800 {MARKER}", f"{MARKER}\x00", f"{MARKER}\x1b[2J", "",
                            " ", "\u202e" + MARKER, MARKER * 300,
                            (MARKER + " ") * (limits.MESSAGE_MAX_CHARS // 10)])
JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), MARKED),
    lambda kids: st.one_of(st.lists(kids, max_size=3),
                           st.dictionaries(st.one_of(TEXT, st.sampled_from(
                               ["text", "message", "sender", "id", "chat", "metadata"])),
                               kids, max_size=3)), max_leaves=8)
MESSAGE = st.one_of(MARKED, ODD_TEXT, JSON_VALUE)
# few conversations that could be real ones, so that what reaches NLU stays bounded (and
# rate-limited); the rest is what no channel should accept
SENDER = st.one_of(st.sampled_from(["fuzz-a", "fuzz-b", "fuzz:c"]),
                   st.sampled_from(["", "  ", "default", "424242", "-100123",
                                    "whatsapp:+15550001111", "WHATSAPP:+1", "a b", "a?b",
                                    "a#b", "x" * 300, f"{MARKER}\n", f"\ud801{MARKER}",
                                    f"{MARKER}\x00"]),
                   st.integers(), st.none(), st.lists(TEXT, max_size=2), MARKED)
METADATA = st.one_of(st.none(), JSON_VALUE,
                     st.just({"k%d" % i: i for i in range(2000)}),
                     st.just(json.loads("[" * 200 + "]" * 200)),
                     st.just({"mode": "clinic", "clinic_id": "A", "shop_id": "x"}),
                     st.text(max_size=20).map(lambda t: json.dumps({"t": t})))
RAW = st.one_of(st.binary(max_size=200), st.just(b"[" * 5000), st.just(b"\xff\xfe"),
                st.just(b'{"sender": "fuzz-a", "message": "' + MARKER.encode() + b'",'),
                JSON_VALUE.map(lambda v: json.dumps(v).encode()))


def structured(keys: Dict[str, Any]) -> st.SearchStrategy:
    """Objects with some of `keys` (each a strategy), as JSON bytes."""
    return st.fixed_dictionaries({}, optional=keys).map(lambda d: json.dumps(d).encode())


@pytest.fixture(scope="module")
def fake():
    api = FakeAPI()
    yield api
    api.close()


@pytest.fixture(scope="module")
def bot(fake):
    env = channel_env(
        fake.url, TELEGRAM_WEBHOOK_URL="", TELEGRAM_SECRET_TOKEN="",
        TWILIO_AUTH_TOKEN="fuzz-auth-token", TWILIO_WEBHOOK_URL="",  # no signature: all fuzzed
        # small limits: what could be a real message reaches NLU a few times a minute
        # (the fuzz stays short), and the limits' own answers are fuzzed too
        NEW_CONVERSATIONS_PER_ADDRESS_PER_MINUTE="3", MESSAGES_PER_CONVERSATION_PER_MINUTE="3",
        HANDOFFS_PER_ADDRESS_PER_HOUR="2")
    with environment(env), running_assistant(timeout=300) as assistant:
        yield assistant
        logs = {name: (assistant.workdir / name).read_text(errors="replace")
                for name in ("rasa.log", "actions.log")}
    for name, log in logs.items():
        assert MARKER not in log, f"a fuzzed input's text was written to {name}"


def send(url: str, method: str, target: str, body: Optional[bytes],
         headers: Dict[str, str], timeout: float = 90) -> Tuple[int, str, bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type") or "", r.read()
    finally:
        conn.close()


def clear_answer(status: int, content_type: str, raw: bytes, where: str) -> None:
    """Never a 5xx; a refusal says why in one line of JSON."""
    assert status < 500, (where, status, raw[:300])
    if status >= 400:
        assert "json" in content_type, (where, status, content_type, raw[:300])
        error = json.loads(raw)["error"]
        assert isinstance(error, str) and error and "\n" not in error and len(error) < 300
        assert MARKER not in error, error


# ------------------------------------------------------------------ REST

REST_BODY = st.one_of(RAW, structured({"sender": SENDER, "message": MESSAGE,
                                       "metadata": METADATA,
                                       "input_channel": st.sampled_from(
                                           ["rest", "twilio", "telegram", "socketio", ""])}))


@FUZZ
@given(body=REST_BODY, stream=st.sampled_from(["", "?stream=true", "?stream=false",
                                              "?stream=maybe"]),
       ctype=st.sampled_from(["application/json", "text/plain", "", "application/x-www-form"
                              "-urlencoded", "multipart/form-data; boundary=x"]))
def test_rest(bot, body, stream, ctype):
    COUNTS["rest"] += 1
    headers = {"Content-Type": ctype} if ctype else {}
    status, content_type, raw = send(bot.url, "POST", "/webhooks/rest/webhook" + stream,
                                     body, headers)
    clear_answer(status, content_type, raw, "REST")
    if status == 200:
        if "event-stream" in content_type:
            assert raw.endswith(b"\n")
        else:
            assert isinstance(json.loads(raw), list)


# ------------------------------------------------------------------ Telegram

CHAT_ID = st.one_of(st.sampled_from([5550001, 5550002, -5550003]),
                    st.sampled_from([0, 10 ** 30, -(10 ** 30), True, 1.5, "5550001",
                                     "whatsapp:+1555", None, [], {}]), MARKED)
TG_MESSAGE = st.fixed_dictionaries(
    {"message_id": st.integers(1, 10 ** 6), "date": st.integers(0, 2 ** 31),
     "chat": st.fixed_dictionaries({"id": CHAT_ID}, optional={
         "type": st.sampled_from(["private", "group", "nonsense"]), "first_name": MARKED})},
    optional={"text": MESSAGE, "from": JSON_VALUE, "location": JSON_VALUE,
              "sticker": JSON_VALUE, "photo": JSON_VALUE})
TG_UPDATE = st.one_of(
    RAW,
    structured({"update_id": st.one_of(st.integers(), MARKED), "message": TG_MESSAGE,
                "edited_message": TG_MESSAGE, "channel_post": TG_MESSAGE,
                "callback_query": st.fixed_dictionaries(
                    {"id": st.one_of(TEXT, st.integers())},
                    optional={"data": MESSAGE, "message": TG_MESSAGE, "from": JSON_VALUE,
                              "chat_instance": TEXT})}))


@FUZZ
@given(body=TG_UPDATE, ctype=st.sampled_from(["application/json", "text/plain", ""]))
def test_telegram(bot, body, ctype):
    COUNTS["telegram"] += 1
    headers = {"Content-Type": ctype} if ctype else {}
    status, content_type, raw = send(bot.url, "POST", "/webhooks/telegram/webhook", body,
                                     headers)
    clear_answer(status, content_type, raw, "Telegram")
    if status < 400:
        assert status == 200 and raw == b"success", (status, raw[:200])


# ------------------------------------------------------------------ WhatsApp

FORM_TEXT = st.one_of(MARKED, ODD_TEXT.filter(lambda t: "\ud800" not in t), TEXT)
WA_FORM = st.fixed_dictionaries({}, optional={
    "From": st.one_of(st.sampled_from(["whatsapp:+15550002001", "whatsapp:+15550002002",
                                       "+15550002003", "whatsapp:", "WhatsApp:+1", "5550001",
                                       "", f"whatsapp:+1{MARKER}\x01"]), FORM_TEXT),
    "Body": FORM_TEXT, "To": st.sampled_from([TW_NUMBER, "", "whatsapp:+1"]),
    "Latitude": st.one_of(TEXT, st.just("52.5")), "Longitude": st.one_of(TEXT, st.just("13.4")),
    "MessageType": st.sampled_from(["location", "text", "image", ""]),
    "NumMedia": st.sampled_from(["0", "1", "x"]), "MediaUrl0": TEXT,
    "ButtonPayload": FORM_TEXT, "AccountSid": st.sampled_from([TW_SID, "AC0"])})
WA_BODY = st.one_of(
    WA_FORM.map(lambda f: ("application/x-www-form-urlencoded",
                           urllib.parse.urlencode(f).encode("utf-8", "surrogatepass"))),
    st.tuples(st.sampled_from(["application/x-www-form-urlencoded", "application/json",
                               "multipart/form-data; boundary=zz", "text/plain", ""]), RAW),
    st.just(("application/x-www-form-urlencoded", b"From=whatsapp%3A%2B1&Body=%FF%FE" +
             MARKER.encode())),
    st.just(("application/x-www-form-urlencoded",
             b"From=whatsapp%3A%2B15550002001&Body=" + b"x" * 20000)))


@FUZZ
@given(body=WA_BODY)
def test_whatsapp(bot, body):
    COUNTS["whatsapp"] += 1
    ctype, raw_body = body
    headers = {"Content-Type": ctype} if ctype else {}
    status, content_type, raw = send(bot.url, "POST", "/webhooks/twilio/webhook", raw_body,
                                     headers)
    clear_answer(status, content_type, raw, "WhatsApp")


# ------------------------------------------------------------------ action server

ACTION_NAMES = st.one_of(st.sampled_from([
    "action_triage_answer", "action_explain", "action_faq", "action_handoff",
    "action_delete_data", "action_ask_delete", "action_after_message", "validate_intake_form",
    "action_validate_slot_mappings", "action_ask_consent", "action_default_fallback",
    "action_ask_q_health", "action_nonexistent", "", "../etc"]), JSON_VALUE)
TRACKER = st.one_of(JSON_VALUE, st.fixed_dictionaries(
    {"sender_id": st.one_of(st.sampled_from(["fuzz-action-a", "whatsapp:+15550003001"]),
                            MARKED, st.integers())},
    optional={"slots": st.one_of(st.dictionaries(st.sampled_from(
        ["age", "consent", "areas", "facts", "mode", "clinic_id", "disposition",
         "requested_slot", "goal", MARKER]), JSON_VALUE, max_size=4), JSON_VALUE),
        "latest_message": st.one_of(st.fixed_dictionaries({}, optional={
            "text": MESSAGE, "intent": JSON_VALUE, "entities": JSON_VALUE,
            "metadata": JSON_VALUE}), JSON_VALUE),
        "events": st.one_of(st.lists(st.fixed_dictionaries(
            {"event": st.sampled_from(["user", "bot", "slot", "action", MARKER])},
            optional={"text": MESSAGE, "name": JSON_VALUE, "value": JSON_VALUE,
                      "timestamp": JSON_VALUE}), max_size=4), JSON_VALUE),
        "paused": JSON_VALUE, "active_loop": JSON_VALUE, "latest_action_name": JSON_VALUE}))
ACTION_CALL = st.one_of(RAW, structured({
    "next_action": ACTION_NAMES, "sender_id": JSON_VALUE, "tracker": TRACKER,
    "domain": st.one_of(JSON_VALUE, st.just({"slots": {}, "responses": {}})),
    "version": st.one_of(st.just("3.6.2"), JSON_VALUE)}))


@FUZZ
@given(body=ACTION_CALL,
       route=st.sampled_from([("POST", "/webhook"), ("POST", "/webhook"), ("POST", "/webhook"),
                              ("GET", "/webhook"), ("GET", "/actions"), ("POST", "/actions"),
                              ("PUT", "/webhook"), ("POST", "/webhook/../health")]),
       encoding=st.sampled_from(["", "", "", "deflate", "gzip", "deflate-garbage", "br"]),
       token=st.sampled_from(["right", "right", "right", "wrong", "none"]))
def test_action_server(bot, body, route, encoding, token):
    COUNTS["action_server"] += 1
    method, path = route
    headers = {"Content-Type": "application/json"}
    if token != "none":
        headers["X-Action-Server-Token"] = bot.action_token if token == "right" else "nope"
    if encoding == "deflate":
        body, headers["Content-Encoding"] = zlib.compress(body), "deflate"
    elif encoding == "gzip":
        c = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
        body, headers["Content-Encoding"] = c.compress(body) + c.flush(), "gzip"
    elif encoding == "deflate-garbage":
        headers["Content-Encoding"] = "deflate"
    elif encoding:
        headers["Content-Encoding"] = encoding
    if method == "GET":
        body = None
    status, content_type, raw = send(bot.action_url, method, path, body, headers)
    clear_answer(status, content_type, raw, "action server")


# ------------------------------------------------------------------ socket.io

class Socket:
    """One web chat connection kept for the whole fuzz, on its own event loop."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = socketio.AsyncClient(reconnection=False)
        self.said: asyncio.Queue = asyncio.Queue()
        self.confirmed: asyncio.Queue = asyncio.Queue()
        self.client.on("bot_uttered", lambda data: self.said.put_nowait(data))
        self.client.on("session_confirm", lambda sid: self.confirmed.put_nowait(sid))
        self.run(self.client.connect(url, socketio_path="/socket.io",
                                     transports=["websocket"]))

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def drain(self, queue: asyncio.Queue) -> None:
        while not queue.empty():
            queue.get_nowait()

    def close(self) -> None:
        self.run(self.client.disconnect())
        self.loop.close()


@pytest.fixture(scope="module")
def sock(bot):
    s = Socket(bot.url)
    yield s
    s.close()


SIO_DATA = st.one_of(
    JSON_VALUE, st.just("x" * 20000),
    st.fixed_dictionaries({}, optional={
        "message": MESSAGE, "session_id": st.one_of(st.just("__current__"), SENDER,
                                                    st.just("0" * 32)),
        "metadata": METADATA, "customData": METADATA}))


@FUZZ
@given(event=st.sampled_from(["user_uttered"] * 6 + ["session_request"]), data=SIO_DATA)
def test_socketio(bot, sock, event, data):
    COUNTS["socketio"] += 1

    async def exchange() -> Tuple[str, Any]:
        await sock.drain(sock.said)
        await sock.drain(sock.confirmed)
        payload = data
        if isinstance(data, dict) and data.get("session_id") == "__current__":
            payload = {**data, "session_id": getattr(sock, "session", None)}
        await sock.client.emit(event, payload)
        queue = sock.confirmed if event == "session_request" else sock.said
        got = await asyncio.wait_for(queue.get(), 90)
        await asyncio.sleep(0.01)
        return event, got

    kind, got = sock.run(exchange())
    assert sock.client.connected, "the server closed the web chat's connection"
    if kind == "session_request":
        assert isinstance(got, str) and len(got) == 32
        sock.session = got
    else:
        assert isinstance(got, dict) and (got.get("text") or got.get("buttons")
                                          or got.get("custom") or got.get("attachment")), got


# ------------------------------------------------------------------ afterwards

def test_every_entrance_got_its_share_and_the_servers_are_healthy(bot, fake):
    assert all(COUNTS[e] >= EXAMPLES for e in
               ("rest", "telegram", "whatsapp", "action_server", "socketio")), COUNTS
    status, _, raw = send(bot.url, "GET", f"/status?token={TOKEN}", None, {})
    assert status == 200, raw[:200]
    assert send(bot.action_url, "GET", "/health", None, {})[0] == 200
    assert send(bot.url, "GET", "/webhooks/telegram/", None, {})[0] == 200
    me = f"after-fuzz-{int(time.time())}"
    status, _, raw = send(bot.url, "POST", "/webhooks/rest/webhook",
                          json.dumps({"sender": me, "message": "hi"}).encode(),
                          {"Content-Type": "application/json"})
    assert status == 200 and CONSENT_Q in raw.decode(), raw[:300]
