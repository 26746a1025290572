"""Telegram's and WhatsApp's entrances with failing and malformed input (issue 10, items 10,
16 and 19), through the real servers, with Telegram's and Twilio's APIs replaced by
tests/test_channels.py's fake (here, Twilio refuses every message, quoting the recipient's
number and the message, as its error answers do):

- a failed WhatsApp send logs neither the recipient's number nor what Twilio answered;
- a malformed Telegram update gets 400 and its content is in no log;
- a message that is not text (an unpaired surrogate; as a command, it made Rasa's SQL tracker
  store exit the whole server) gets a chat answer and goes no further; the server stays up.
"""
import json
import time
import urllib.request
from typing import Any, Dict, Tuple

import pytest

from actions import limits
from test_channels import (channel_env, TG_SECRET, FakeAPI, environment, post, send_telegram,
                           send_whatsapp, sent_to, telegram_update)
from tools.servers import TOKEN, running_assistant

MARKER = "qorvexmessagingmarker"  # a word no log may ever contain
PATIENT = "whatsapp:+15550009876"


class RefusingTwilio(FakeAPI):
    """Telegram as usual; Twilio answers every message with a 400 quoting it."""

    @staticmethod
    def reply(call: Dict[str, Any]) -> Tuple[int, Any]:
        if call["path"].endswith("/Messages.json"):
            return 400, {"code": 21211, "status": 400,
                         "message": f"The 'To' number {call['form'].get('To')} is not valid: "
                                    f"{call['form'].get('Body', '')[:80]}"}
        return FakeAPI.reply(call)


@pytest.fixture(scope="module")
def fake():
    api = RefusingTwilio()
    yield api
    api.close()


@pytest.fixture(scope="module")
def bot(fake):
    env = channel_env(fake.url)
    with environment(env), running_assistant(timeout=300) as assistant:
        yield assistant


def logs(bot) -> str:
    time.sleep(0.5)
    return "".join((bot.workdir / name).read_text(errors="replace")
                   for name in ("rasa.log", "actions.log"))


def status_ok(bot) -> bool:
    try:
        with urllib.request.urlopen(f"{bot.url}/status?token={TOKEN}", timeout=10) as r:
            return r.status == 200
    except OSError:
        return False


def test_a_failed_whatsapp_send_logs_neither_the_number_nor_the_message(bot, fake):
    assert send_whatsapp(bot, PATIENT, f"hi {MARKER}") == 204
    deadline = time.time() + 30
    while not [c for c in fake.twilio() if c["form"].get("To") == PATIENT] \
            and time.time() < deadline:
        time.sleep(0.2)
    assert [c for c in fake.twilio() if c["form"].get("To") == PATIENT], "nothing was sent"
    content = logs(bot)
    assert "Twilio: sending a message failed: HTTP 400" in content
    assert "15550009876" not in content, "the recipient's number is in a log"
    assert MARKER not in content and "not valid" not in content


@pytest.mark.parametrize("update", [
    [{"message": {"text": MARKER}}],
    f"{MARKER}",
    {"update_id": "x", "message": {"text": MARKER, "chat": "not a chat"}},
    {"update_id": 1, "message": {"message_id": 1, "date": 0, "text": MARKER,
                                 "chat": {"id": {"nested": MARKER}, "type": "private"}}},
], ids=["array", "string", "bad-fields", "bad-chat-id"])
def test_a_malformed_telegram_update_gets_400_and_is_in_no_log(bot, update):
    status = post(f"{bot.url}/webhooks/telegram/webhook", json.dumps(update).encode(),
                  {"Content-Type": "application/json",
                   "X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    assert status == 400
    assert MARKER not in logs(bot)
    assert status_ok(bot)


@pytest.mark.parametrize("text", ["/\ud800", f"\ud800 {MARKER}", f"hi\x00{MARKER}"],
                         ids=["surrogate-command", "surrogate", "nul"])
def test_a_telegram_message_that_is_not_text_is_answered_and_the_server_stays_up(bot, fake,
                                                                                 text):
    chat = 777000 + len(fake.telegram("sendMessage"))
    assert send_telegram(bot, telegram_update(chat, text)) == 200
    assert [m["text"] for m in sent_to(fake, chat)] == [limits.BAD_EVENT]
    assert status_ok(bot), "the server stopped"
    assert MARKER not in logs(bot)


@pytest.mark.parametrize("chat_id", ["whatsapp:+15550001001", "0123", 4.5, True],
                         ids=["whatsapp-id", "string", "float", "bool"])
def test_a_telegram_update_cannot_name_a_conversation_outside_telegrams(bot, fake, chat_id):
    update = telegram_update(424299, f"why? {MARKER}")
    update["message"]["chat"]["id"] = chat_id
    assert send_telegram(bot, update) == 400
    with urllib.request.urlopen(f"{bot.url}/conversations/{chat_id}/tracker?token={TOKEN}",
                                timeout=30) as r:
        assert [e for e in json.loads(r.read())["events"] if e["event"] == "user"] == []


@pytest.mark.parametrize("sender", ["424201", "0" * 32, "+15550001003", "alice"],
                         ids=["telegram-id", "web-session", "sms-number", "word"])
def test_whatsapp_cannot_name_a_conversation_outside_whatsapps(bot, fake, sender):
    # signed like Twilio's own requests: the From field alone decides the conversation
    assert send_whatsapp(bot, sender, f"why? {MARKER}") == 400
    with urllib.request.urlopen(f"{bot.url}/conversations/{sender}/tracker?token={TOKEN}",
                                timeout=30) as r:
        assert [e for e in json.loads(r.read())["events"] if e["event"] == "user"] == []
    assert not [c for c in fake.twilio() if c["form"].get("To") == sender]
