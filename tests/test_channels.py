"""Telegram and WhatsApp (Twilio) channels end to end: the real Rasa server and action server,
with Telegram's and Twilio's APIs replaced by a fake HTTP server on loopback that records every
outbound call. Webhooks are posted in each service's real format."""
import base64
import contextlib
import itertools
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Optional

import pytest
from twilio.request_validator import RequestValidator

from actions.channels import _chunks, whatsapp_text
from tools.servers import running_assistant

TG_TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"
TG_SECRET = "test-secret_123"
TW_SID = "AC" + "0" * 32
TW_TOKEN = "twilio-auth-token"
TW_NUMBER = "whatsapp:+14155238886"
TW_PUBLIC_URL = "https://clinic.example.org/webhooks/twilio/webhook"
CONSENT_Q = "Is it OK to use that information for this assessment?"
CHANNEL_ENV = ("TELEGRAM_TOKEN", "TELEGRAM_BOT_NAME", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_API_URL",
               "TELEGRAM_SECRET_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN",
               "TWILIO_WHATSAPP_NUMBER", "TWILIO_API_URL", "TWILIO_WEBHOOK_URL")


def channel_env(api_url: str, **overrides: str) -> Dict[str, str]:
    """Both channels configured against the fake Telegram/Twilio server at api_url (with the
    test secrets); overrides replace or add settings."""
    return {"TELEGRAM_TOKEN": TG_TOKEN, "TELEGRAM_BOT_NAME": "clinic_bot",
            "TELEGRAM_WEBHOOK_URL": "https://clinic.example.org/webhooks/telegram/webhook",
            "TELEGRAM_API_URL": api_url, "TELEGRAM_SECRET_TOKEN": TG_SECRET,
            "TWILIO_ACCOUNT_SID": TW_SID, "TWILIO_AUTH_TOKEN": TW_TOKEN,
            "TWILIO_WHATSAPP_NUMBER": TW_NUMBER, "TWILIO_API_URL": api_url,
            "TWILIO_WEBHOOK_URL": TW_PUBLIC_URL, **overrides}


# ------------------------------------------------------------------ fake Telegram + Twilio

class FakeAPI:
    """Records requests: {"path", "form" (dict of str), "json", "headers"}."""

    def __init__(self) -> None:
        self.calls: List[Dict[str, Any]] = []
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ctype = self.headers.get("Content-Type", "")
                form: Dict[str, str] = {}
                body_json = None
                if "json" in ctype:
                    body_json = json.loads(raw or b"null")
                elif "multipart" in ctype:
                    from email.parser import BytesParser
                    from email.policy import HTTP
                    msg = BytesParser(policy=HTTP).parsebytes(
                        f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
                    for part in msg.iter_parts():
                        form[part.get_param("name", header="content-disposition")] = \
                            part.get_content()
                else:
                    form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
                call = {"path": self.path, "form": form, "json": body_json,
                        "headers": dict(self.headers)}
                with api.lock:
                    api.calls.append(call)
                status, reply = api.reply(call)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def reply(call: Dict[str, Any]):
        path = call["path"]
        if path.endswith("/Messages.json"):
            return 201, {"sid": "SM" + "1" * 32, "status": "queued"}
        params = call["json"] or call["form"]
        if path.endswith("/sendMessage"):
            return 200, {"ok": True, "result": {
                "message_id": 1, "date": int(time.time()), "text": params.get("text", ""),
                "chat": {"id": int(params.get("chat_id", 0)), "type": "private"}}}
        if path.endswith("/getMe"):
            return 200, {"ok": True, "result": {"id": 123456789, "is_bot": True,
                                                "first_name": "Clinic", "username": "clinic_bot"}}
        return 200, {"ok": True, "result": True}

    def telegram(self, method: str) -> List[Dict[str, Any]]:
        with self.lock:
            return [c["json"] or c["form"] for c in self.calls
                    if c["path"] == f"/bot{TG_TOKEN}/{method}"]

    def twilio(self) -> List[Dict[str, Any]]:
        with self.lock:
            return [c for c in self.calls
                    if c["path"] == f"/2010-04-01/Accounts/{TW_SID}/Messages.json"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def environment(values: Dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAPI]:
    api = FakeAPI()
    yield api
    api.close()


@pytest.fixture(scope="module")
def bot(fake):
    env = channel_env(fake.url)
    with environment(env), running_assistant() as assistant:
        deadline = time.time() + 15  # setWebhook runs just after the server has started
        while not fake.telegram("setWebhook") and time.time() < deadline:
            time.sleep(0.2)
        yield assistant


# ------------------------------------------------------------------ webhook helpers

_ids = itertools.count(1000)


def post(url: str, data: bytes, headers: Dict[str, str]) -> int:
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def telegram_update(chat_id: int, text: Optional[str] = None,
                    callback_data: Optional[str] = None) -> Dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": "Alice", "language_code": "en"}
    chat = {"id": chat_id, "first_name": "Alice", "type": "private"}
    update: Dict[str, Any] = {"update_id": next(_ids)}
    if callback_data is None:
        update["message"] = {"message_id": next(_ids), "from": user, "chat": chat,
                             "date": int(time.time()), "text": text}
    else:
        update["callback_query"] = {
            "id": str(next(_ids)), "from": user, "chat_instance": "-1", "data": callback_data,
            "message": {"message_id": next(_ids), "from": {"id": 123456789, "is_bot": True,
                                                            "first_name": "Clinic"},
                        "chat": chat, "date": int(time.time()), "text": CONSENT_Q}}
    return update


def send_telegram(bot, update: Dict[str, Any], secret: Optional[str] = TG_SECRET) -> int:
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return post(f"{bot.url}/webhooks/telegram/webhook", json.dumps(update).encode(), headers)


def whatsapp_form(sender: str, body: str) -> Dict[str, str]:
    return {"SmsMessageSid": f"SM{next(_ids):032d}", "NumMedia": "0", "ProfileName": "Bob",
            "SmsSid": f"SM{next(_ids):032d}", "WaId": sender.split("+")[-1],
            "SmsStatus": "received", "Body": body, "To": TW_NUMBER, "NumSegments": "1",
            "ReferralNumMedia": "0", "MessageSid": f"SM{next(_ids):032d}",
            "AccountSid": TW_SID, "From": sender, "ApiVersion": "2010-04-01"}


def send_whatsapp(bot, sender: str, body: str, sign: bool = True) -> int:
    form = whatsapp_form(sender, body)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sign:
        headers["X-Twilio-Signature"] = RequestValidator(TW_TOKEN).compute_signature(
            TW_PUBLIC_URL, form)
    return post(f"{bot.url}/webhooks/twilio/webhook", urllib.parse.urlencode(form).encode(),
                headers)


def sent_to(fake: FakeAPI, chat_id: int) -> List[Dict[str, Any]]:
    return [m for m in fake.telegram("sendMessage") if str(m.get("chat_id")) == str(chat_id)]


def whatsapp_to(fake: FakeAPI, sender: str) -> List[Dict[str, Any]]:
    return [c for c in fake.twilio() if c["form"].get("To") == sender]


# ------------------------------------------------------------------ Telegram

def test_telegram_webhook_registered_at_startup(bot, fake):
    calls = fake.telegram("setWebhook")
    assert calls, "setWebhook was not called at start-up"
    assert calls[-1]["url"] == "https://clinic.example.org/webhooks/telegram/webhook"
    assert calls[-1]["secret_token"] == TG_SECRET


def test_telegram_answers_with_consent_and_inline_keyboard(bot, fake):
    chat = 424201
    assert send_telegram(bot, telegram_update(chat, "hi")) == 200
    texts = [m["text"] for m in sent_to(fake, chat)]
    assert any(CONSENT_Q in t for t in texts), texts
    question = next(m for m in sent_to(fake, chat) if CONSENT_Q in m["text"])
    markup = json.loads(question["reply_markup"])
    keys = [b for row in markup["inline_keyboard"] for b in row]
    assert [(b["text"], b["callback_data"]) for b in keys] == \
        [("Yes, that's OK", "/affirm"), ("No", "/deny")]
    assert bot.slots(str(chat))["mode"] == "clinic"


def test_telegram_button_tap_gives_consent(bot, fake):
    chat = 424202
    assert send_telegram(bot, telegram_update(chat, "hello")) == 200
    before = len(sent_to(fake, chat))
    update = telegram_update(chat, callback_data="/affirm")
    assert send_telegram(bot, update) == 200
    after = sent_to(fake, chat)[before:]
    assert after and not any(CONSENT_Q in m["text"] for m in after)
    slots = bot.slots(str(chat))
    assert slots["consent"] is True and slots["mode"] == "clinic"
    answered = [c for c in fake.telegram("answerCallbackQuery")
                if c.get("callback_query_id") == update["callback_query"]["id"]]
    assert answered, "the button's spinner was not stopped"


def test_telegram_refuses_updates_without_the_secret(bot, fake):
    chat = 424203
    assert send_telegram(bot, telegram_update(chat, "hi"), secret=None) == 403
    assert send_telegram(bot, telegram_update(chat, "hi"), secret="wrong") == 403
    assert sent_to(fake, chat) == []


# ------------------------------------------------------------------ WhatsApp

def test_whatsapp_answers_with_numbered_choices(bot, fake):
    sender = "whatsapp:+15550001001"
    assert send_whatsapp(bot, sender, "Hi") == 204
    sent = whatsapp_to(fake, sender)
    assert sent, "no message sent to the sender"
    for call in sent:
        assert call["form"]["From"] == TW_NUMBER
        auth = base64.b64decode(call["headers"]["Authorization"].split()[1]).decode()
        assert auth == f"{TW_SID}:{TW_TOKEN}"
    bodies = [c["form"]["Body"] for c in sent]
    question = [b for b in bodies if CONSENT_Q in b]
    assert len(question) == 1, bodies  # question and choices in ONE message
    assert "1. Yes, that's OK\n2. No" in question[0]
    assert not any("/affirm" in b or "/deny" in b or "{" in b for b in bodies)
    assert bot.slots(sender)["mode"] == "clinic"


def test_whatsapp_numbered_reply_gives_consent(bot, fake):
    sender = "whatsapp:+15550001002"
    assert send_whatsapp(bot, sender, "Hello") == 204
    before = len(whatsapp_to(fake, sender))
    assert send_whatsapp(bot, sender, "1") == 204
    after = [c["form"]["Body"] for c in whatsapp_to(fake, sender)[before:]]
    assert after and not any(CONSENT_Q in b for b in after), after
    slots = bot.slots(sender)
    assert slots["consent"] is True and slots["mode"] == "clinic"
    assert not any("/inform" in b or "/deny" in b for b in after)


def test_whatsapp_refuses_unsigned_webhooks(bot, fake):
    sender = "whatsapp:+15550001003"
    assert send_whatsapp(bot, sender, "Hi", sign=False) == 403
    assert whatsapp_to(fake, sender) == []


# ------------------------------------------------------------------ formatting (no server)

def test_whatsapp_text_formats():
    buttons = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
    assert whatsapp_text("Q?", buttons) == "Q?\n\n1. Yes\n2. No\n\n(Reply with a number.)"
    single = whatsapp_text("How old?", [{"title": "I don't know", "payload": "/dont_know"}])
    assert "1." not in single and "/dont_know" not in single
    long = "\n".join("x" * 100 for _ in range(40))
    parts = _chunks(long)
    assert all(len(p) <= 1600 for p in parts) and "\n".join(parts) == long


# ------------------------------------------------------------------ not configured

def test_unconfigured_channels_answer_503_and_call_nothing(fake):
    blank = {k: "" for k in CHANNEL_ENV}
    # API URLs point at the fake so that any call would be recorded
    blank.update(TELEGRAM_API_URL=fake.url, TWILIO_API_URL=fake.url)
    calls_before = len(fake.calls)
    with environment(blank), running_assistant() as assistant:
        code = send_telegram(assistant, telegram_update(99, "hi"))
        assert code == 503
        assert send_whatsapp(assistant, "whatsapp:+15550009999", "Hi", sign=False) == 503
        req = urllib.request.Request(f"{assistant.url}/webhooks/telegram/webhook",
                                     data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert json.loads(e.value.read()) == {"error": "telegram channel not configured"}
        assert assistant.say("rest-user", "hi"), "the REST channel still works"
        time.sleep(1)
    assert len(fake.calls) == calls_before, fake.calls[calls_before:]
