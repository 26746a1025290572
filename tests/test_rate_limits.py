"""Issue 10, item 13: rate limits at every entrance, through the real servers
(tools/servers.py), with small limits set through the environment (the settings of
actions/limits.py): new conversations per address, messages per conversation, handoffs per
address; REST answers 429 with a one-line JSON reason and Retry-After, socket.io a chat
message, Telegram and WhatsApp a polite message once, then silence. A refused message never
reaches Rasa (no user event in its tracker). Each REST test comes from its own loopback
address (127.0.0.x), as distinct clients would."""
import asyncio
import http.client
import json
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

import pytest

from actions import limits
from test_channels import (channel_env, FakeAPI, environment, send_telegram, send_whatsapp,
                           sent_to, telegram_update, whatsapp_to)
from test_entrances import Chat
from test_message_limits import user_texts
from tools.servers import ROOT, running_assistant

MARKER = "vrqlimitratemarker"  # a word no log may ever contain
NEW, MESSAGES, HANDOFFS = 3, 4, 2
RED_FLAG = "there's pus and red streaks after I rolled yesterday"


@pytest.fixture(scope="module")
def fake():
    api = FakeAPI()
    yield api
    api.close()


@pytest.fixture(scope="module")
def bot(fake):
    env = channel_env(fake.url, NEW_CONVERSATIONS_PER_ADDRESS_PER_MINUTE=str(NEW),
                      MESSAGES_PER_CONVERSATION_PER_MINUTE=str(MESSAGES),
                      HANDOFFS_PER_ADDRESS_PER_HOUR=str(HANDOFFS))
    with environment(env), running_assistant(timeout=300) as assistant:
        yield assistant
        logs = [(assistant.workdir / name).read_text(errors="replace")
                for name in ("rasa.log", "actions.log")]
    for log in logs:
        assert MARKER not in log, "a message's text was written to a log"


def say_from(bot, address: str, sender: str, message: str) -> Tuple[int, Any, Dict[str, str]]:
    """POST /webhooks/rest/webhook from the loopback address `address`."""
    host, port = bot.url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120,
                                      source_address=(address, 0))
    try:
        conn.request("POST", "/webhooks/rest/webhook",
                     json.dumps({"sender": sender, "message": message}).encode(),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null"), {k.lower(): v for k, v in
                                                             r.getheaders()}
    finally:
        conn.close()


def me(tag: str) -> str:
    return f"rate-{tag}-{uuid.uuid4().hex[:8]}"


def assert_429(status: int, answer: Any, headers: Dict[str, str], words: str) -> None:
    assert status == 429, (status, answer)
    assert "json" in headers.get("content-type", "")
    error = answer["error"]
    assert words in error and "\n" not in error and MARKER not in error, error
    assert 1 <= int(headers["retry-after"]) <= 3600, headers


def test_rest_limits_new_conversations_per_address(bot):
    senders = [me("new") for _ in range(NEW + 1)]
    for s in senders[:NEW]:
        assert say_from(bot, "127.0.0.11", s, "hi")[0] == 200
    status, answer, headers = say_from(bot, "127.0.0.11", senders[NEW], f"hi {MARKER}")
    assert_429(status, answer, headers, "new conversations")
    assert int(headers["retry-after"]) <= 60
    assert user_texts(bot, senders[NEW]) == []
    # the conversations already open carry on, and another address is another client
    assert say_from(bot, "127.0.0.11", senders[0], "yes")[0] == 200
    assert say_from(bot, "127.0.0.12", me("other"), "hi")[0] == 200


def test_rest_limits_messages_per_conversation(bot):
    sender = me("messages")
    for _ in range(MESSAGES):
        assert say_from(bot, "127.0.0.13", sender, "hello")[0] == 200
    status, answer, headers = say_from(bot, "127.0.0.13", sender, f"hello {MARKER}")
    assert_429(status, answer, headers, "messages in this conversation")
    assert user_texts(bot, sender) == ["hello"] * MESSAGES


def test_rest_limits_handoffs_per_address(bot):
    for _ in range(HANDOFFS):
        sender = me("handoff")
        status, answer, _ = say_from(bot, "127.0.0.14", sender, RED_FLAG)
        assert status == 200 and bot.tracker(sender)["paused"] is True, answer
    # under the new-conversation limit, but this address has had its handoffs for the hour
    late = me("handoff")
    status, answer, headers = say_from(bot, "127.0.0.14", late, f"hi {MARKER}")
    assert_429(status, answer, headers, "handed to the team")
    assert user_texts(bot, late) == []
    assert say_from(bot, "127.0.0.15", me("elsewhere"), "hi")[0] == 200


def test_socketio_answers_over_the_limits_with_a_chat_message(bot):
    async def chat() -> Tuple[str, List[Optional[str]], List[Optional[str]]]:
        async with Chat(bot) as first:
            session = await first.session({})
            for _ in range(MESSAGES):
                await first.send({"message": "hello", "session_id": session})
            await first.send({"message": f"hello {MARKER}", "session_id": session})
            seen: List[Optional[str]] = []
            while limits.SLOW_DOWN not in seen:
                got = await first.answer(60)
                assert got is not None, f"no 'slow down' answer: {seen}"
                seen.append(got)
            while await first.answer(3) is not None:  # the earlier messages' answers
                pass
        later = []
        for _ in range(NEW):  # the first session was a new conversation too
            async with Chat(bot) as other:
                other_session = await other.session({})
                await other.send({"message": f"hi {MARKER}", "session_id": other_session})
                later.append(await other.answer(60))
        return session, seen, later

    session, seen, later = asyncio.run(chat())
    assert seen.count(limits.SLOW_DOWN) == 1
    assert user_texts(bot, session) == ["hello"] * MESSAGES
    assert limits.TOO_MANY_CHATS not in later[:NEW - 1] and later[-1] == limits.TOO_MANY_CHATS


def _wait_for(predicate, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while not predicate() and time.time() < deadline:
        time.sleep(0.2)


def test_telegram_says_slow_down_once_then_nothing(bot, fake):
    chat_id = 700000000 + uuid.uuid4().int % 1000000
    for _ in range(MESSAGES):
        assert send_telegram(bot, telegram_update(chat_id, "hello")) == 200
    for _ in range(3):
        assert send_telegram(bot, telegram_update(chat_id, f"hello {MARKER}")) == 200
    _wait_for(lambda: any(m.get("text") == limits.SLOW_DOWN for m in sent_to(fake, chat_id)))
    told = [m for m in sent_to(fake, chat_id) if m.get("text") == limits.SLOW_DOWN]
    assert len(told) == 1, sent_to(fake, chat_id)
    assert user_texts(bot, str(chat_id)) == ["hello"] * MESSAGES


def test_whatsapp_says_slow_down_once_then_nothing(bot, fake):
    sender = f"whatsapp:+1555{uuid.uuid4().int % 10_000_000:07d}"
    for _ in range(MESSAGES):
        assert send_whatsapp(bot, sender, "hello") in (200, 204)
    for _ in range(3):
        assert send_whatsapp(bot, sender, f"hello {MARKER}") in (200, 204)
    told = [c for c in whatsapp_to(fake, sender) if c["form"].get("Body") == limits.SLOW_DOWN]
    assert len(told) == 1, whatsapp_to(fake, sender)
    assert user_texts(bot, sender) == ["hello"] * MESSAGES


def test_limits_count_in_a_sliding_window():
    window = limits.RateLimit(2, 60)
    assert [window.hit("a", now=t) for t in (0, 1)] == [0, 0]
    assert window.hit("a", now=30) == pytest.approx(30)
    assert window.hit("b", now=30) == 0 and window.hit("a", now=60.5) == 0
    assert limits.RateLimit(0, 60).hit("a") == 0  # 0: no limit
    assert limits.retry_after(0.2) == "1" and limits.retry_after(30.01) == "31"


def test_the_inbox_answers_429_past_its_limit_per_address(tmp_path):
    from actions.storage import Store
    from inbox.app import create_app
    from inbox.server import free_port, serve_in_thread
    from test_inbox_api import AUDIT_KEY, seed_users
    store = Store(f"sqlite:///{tmp_path}/t.db")
    store.migrate()
    tokens = seed_users(store)
    app = create_app(store, f"http://127.0.0.1:{free_port()}", "some-token",
                     secret="rate-secret-0123456789", audit_key=AUDIT_KEY,
                     requests_per_minute=5)
    with serve_in_thread(app) as base:
        host, port = base.split("//")[1].split(":")

        def call(address: str, path: str = "/api/tickets") -> Tuple[int, Any, Dict[str, str]]:
            conn = http.client.HTTPConnection(host, int(port), timeout=30,
                                              source_address=(address, 0))
            try:
                conn.request("GET", path, headers={"Authorization": f"Bearer {tokens['agent']}"})
                r = conn.getresponse()
                raw = r.read()
                return r.status, raw, {k.lower(): v for k, v in r.getheaders()}
            finally:
                conn.close()

        assert [call("127.0.0.21")[0] for _ in range(5)] == [200] * 5
        status, raw, headers = call("127.0.0.21")
        assert_429(status, json.loads(raw), headers, "too many requests")
        assert call("127.0.0.21", "/")[0] == 429  # the pages too
        assert call("127.0.0.22")[0] == 200       # another client


def test_every_limit_is_a_setting():
    names = ["NEW_CONVERSATIONS_PER_ADDRESS_PER_MINUTE", "MESSAGES_PER_CONVERSATION_PER_MINUTE",
             "HANDOFFS_PER_ADDRESS_PER_HOUR", "INBOX_REQUESTS_PER_ADDRESS_PER_MINUTE"]
    example = (ROOT / ".env.example").read_text()
    for name in names:
        assert isinstance(getattr(limits, name), int) and f"\n{name}=" in example, name
        with environment({name: "7"}):
            assert limits._setting(name, 1) == 7
        with environment({name: "lots"}):
            assert limits._setting(name, 1) == 1
        with environment({name: "-3"}):
            assert limits._setting(name, 1) == 0
