"""Messaging channels for clinic intake: Telegram and WhatsApp (through Twilio); and Rasa's
REST and socket.io channels with the project's checks on what a message may carry.

Both are configured only from environment variables (or the project's .env), so that
credentials.yml lists them without secrets and the Rasa server still starts when they are
not configured: their webhooks then answer 503 and nothing is sent anywhere.

    credentials.yml:
      actions.channels.TelegramInput:
      actions.channels.WhatsAppInput:

Every message from these channels carries the metadata {"mode": "clinic"}: messaging
channels are the clinic intake (see action_validate_slot_mappings in actions/actions.py).

Telegram  (webhook POST /webhooks/telegram/webhook)
    TELEGRAM_TOKEN          bot token from @BotFather (channel off when empty)
    TELEGRAM_BOT_NAME       the bot's username (informational, logged at start-up)
    TELEGRAM_WEBHOOK_URL    public HTTPS URL of the webhook; registered with Telegram at
                            start-up when set (setWebhook)
    TELEGRAM_SECRET_TOKEN   optional; sent with setWebhook, then every update must carry it
                            in X-Telegram-Bot-Api-Secret-Token (403 otherwise)
    TELEGRAM_API_URL        Bot API server (default https://api.telegram.org)

WhatsApp through Twilio  (webhook POST /webhooks/twilio/webhook)
    TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN   (channel off when either is empty)
    TWILIO_WHATSAPP_NUMBER  sender, e.g. whatsapp:+14155238886 (the prefix is added if missing)
    TWILIO_WEBHOOK_URL      optional; the public URL configured in Twilio. When set, the
                            X-Twilio-Signature of every webhook is checked (403 otherwise)
    TWILIO_API_URL          REST API (default https://api.twilio.com)

WhatsApp has no buttons: a message with buttons is sent as ONE message whose choices are
numbered ("1. Yes, that's OK"); the reply "1" is mapped back to that button's payload (the
last buttons sent to each number are kept in memory). A single button (e.g. "I don't know"
under a free-text question) is not numbered, so a numeric answer stays a numeric answer.

Limits (actions/limits.py, the one place for them): at every entrance, a message over
MESSAGE_MAX_CHARS never reaches Rasa's NLU nor the tracker; the person gets limits.TOO_LONG in
their chat instead, and the conversation stays where it was. REST and socket.io also refuse
metadata over METADATA_MAX_BYTES or nested deeper than METADATA_MAX_DEPTH, and REST refuses a
message without a sender (or with an empty one) with 400 instead of Rasa's shared `default`
conversation:

    credentials.yml:
      actions.channels.RestInput:        # POST /webhooks/rest/webhook
      actions.channels.SocketIOInput:    # the web chat (same settings as Rasa's socketio)
        ...

Who can reach which conversation: a conversation's channel is where it came in. REST refuses
an `input_channel` other than "rest" and senders shaped like a Telegram chat id (digits) or a
WhatsApp id ("whatsapp:..."); Telegram takes only integer chat ids; socket.io issues session
ids itself (uuid4) and a socket's messages go to the session it was confirmed, never to one a
message names. An unconfigured channel has no output channel (Rasa's HTTP API then collects
the messages instead of sending them). Only the pages of WEBCHAT_ORIGINS (origins separated by
spaces or commas; scripts/run.sh sets it) may open socket.io; empty: no check.

Rate limits (actions/limits.py, issue 10 item 13; in memory, per process): a client (its
address on REST and socket.io, its chat id on Telegram and WhatsApp) opens at most
NEW_CONVERSATIONS_PER_ADDRESS_PER_MINUTE conversations, a conversation sends at most
MESSAGES_PER_CONVERSATION_PER_MINUTE messages, and an address whose conversations were handed
to the team HANDOFFS_PER_ADDRESS_PER_HOUR times opens no new one for the rest of the hour.
A refused message never reaches Rasa: REST answers 429 with a one-line JSON reason and
Retry-After, socket.io a chat message, Telegram and WhatsApp a polite message once, then
nothing until the window has passed. Behind a reverse proxy, the address is the client's only
when Sanic is told to trust the proxy (SANIC_REAL_IP_HEADER or SANIC_PROXIES_COUNT).

Text that is not text (an unpaired surrogate, a NUL character) is answered (limits.BAD_EVENT,
or 400 on REST) and never reaches NLU nor the tracker store. A message whose handling fails is
answered with limits.NOT_HANDLED, and a REST stream always ends. Logs never hold a message's
text, a sender id nor the error messages that may quote them: Rasa's structured log events
lose their private values (redact_private), and the channels log errors by type.
"""
import asyncio
import contextvars
import hashlib
import json
import logging
import os
import re
import traceback
import uuid
from asyncio import Queue
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

import aiohttp
from aiogram import Bot
from aiogram.bot.api import TelegramAPIServer
from aiogram.types import Update
from aiogram.utils.exceptions import ValidationError
from dotenv import load_dotenv
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.rest import QueueOutputChannel
from rasa.core.channels.rest import RestInput as RasaRestInput
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from rasa.core.channels.telegram import TelegramInput as RasaTelegramInput
from rasa.core.channels.telegram import TelegramOutput as RasaTelegramOutput
from rasa.core.channels.twilio import TwilioInput, TwilioOutput
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse

from actions import limits
from inbox.ids import rasa_addressable

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
CLINIC_METADATA = {"mode": "clinic"}
TELEGRAM_DEFAULT_API = "https://api.telegram.org"
TWILIO_DEFAULT_API = "https://api.twilio.com"
TELEGRAM_CALLBACK_LIMIT = 64  # bytes of callback_data Telegram accepts
WHATSAPP_BODY_LIMIT = 1600  # characters of a message body Twilio accepts


def _env(name: str, default: str = "") -> str:
    """A setting from the environment; the project's .env fills only unset variables."""
    load_dotenv(ROOT / ".env", override=False)
    return (os.environ.get(name) or default).strip()


def _not_configured(channel: str) -> HTTPResponse:
    return response.json({"error": f"{channel} channel not configured"}, status=503)


# --------------------------------------------------------------------------- Telegram

_long_payloads: Dict[str, str] = {}  # callback_data key -> payload too long for Telegram


def _callback_data(payload: str) -> str:
    if len(payload.encode()) <= TELEGRAM_CALLBACK_LIMIT:
        return payload
    key = "#" + hashlib.sha1(payload.encode()).hexdigest()[:20]
    _long_payloads[key] = payload
    return key


class TelegramOutput(RasaTelegramOutput):
    """Rasa's Telegram output on a configurable Bot API server; button payloads longer than
    Telegram's 64-byte callback_data limit are replaced by a key mapped back on input."""

    def __init__(self, access_token: str, api_url: str = TELEGRAM_DEFAULT_API) -> None:
        Bot.__init__(self, access_token, server=TelegramAPIServer.from_base(api_url))

    async def send_text_with_buttons(self, recipient_id: Text, text: Text,
                                     buttons: List[Dict[Text, Any]], **kwargs: Any) -> None:
        buttons = [{**b, "payload": _callback_data(str(b.get("payload") or b.get("title")))}
                   for b in buttons]
        # one button per row: the titles are long sentences
        await super().send_text_with_buttons(recipient_id, text, buttons,
                                             button_type=kwargs.get("button_type", "vertical"))


class TelegramInput(RasaTelegramInput):
    """Telegram input channel configured from TELEGRAM_* environment variables."""

    @classmethod
    def name(cls) -> Text:
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls(_env("TELEGRAM_TOKEN") or None, _env("TELEGRAM_BOT_NAME") or None,
                   _env("TELEGRAM_WEBHOOK_URL") or None,
                   api_url=_env("TELEGRAM_API_URL", TELEGRAM_DEFAULT_API),
                   secret_token=_env("TELEGRAM_SECRET_TOKEN") or None)

    def __init__(self, access_token: Optional[Text], verify: Optional[Text] = None,
                 webhook_url: Optional[Text] = None, debug_mode: bool = False,
                 api_url: str = TELEGRAM_DEFAULT_API, secret_token: Optional[str] = None) -> None:
        super().__init__(access_token, verify, webhook_url, debug_mode)
        self.api_url = api_url.rstrip("/")
        self.secret_token = secret_token
        self.rate_limits = limits.ClientLimits()

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        return dict(CLINIC_METADATA)

    def get_output_channel(self) -> Optional[TelegramOutput]:
        """The output channel, or None when the channel is not configured. Unlike Rasa's,
        no network call here: the webhook is registered when the server has started."""
        if not self.access_token:
            return None
        try:
            return TelegramOutput(self.access_token, self.api_url)
        except ValidationError as e:
            logger.error("TELEGRAM_TOKEN is not a valid bot token (%s): channel disabled", e)
            return None

    async def register_webhook(self, out: TelegramOutput) -> bool:
        if not self.webhook_url:
            logger.warning("Telegram: TELEGRAM_WEBHOOK_URL not set, webhook not registered")
            return False
        data: Dict[str, Any] = {"url": self.webhook_url}
        if self.secret_token:
            data["secret_token"] = self.secret_token
        try:
            ok = bool(await out.request("setWebhook", data))
        except Exception as e:  # noqa: BLE001 - a Telegram outage must not stop the server
            logger.error("Telegram: setWebhook failed: %s", e)
            return False
        logger.info("Telegram: webhook %s registered (bot %s)", self.webhook_url,
                    self.verify or "?")
        return ok

    def _text_of(self, update: Update) -> Optional[tuple]:
        """(chat id, text) of an update, or None for updates that aren't user input."""
        if update.callback_query is not None and update.callback_query.message is not None:
            data = update.callback_query.data or ""
            return update.callback_query.message.chat.id, _long_payloads.get(data, data)
        msg = update.message or update.edited_message
        if msg is None:
            return None
        if msg.text is not None:
            return msg.chat.id, msg.text.replace("/bot", "")
        if msg.location is not None:
            return msg.chat.id, '{{"lng":{0}, "lat":{1}}}'.format(
                msg.location.longitude, msg.location.latitude)
        return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("telegram_webhook", __name__)
        out = self.get_output_channel()

        if out is not None:
            @bp.listener("after_server_start")
            async def set_webhook_at_start(app, loop) -> None:
                await self.register_webhook(out)

            @bp.listener("before_server_stop")
            async def close_session(app, loop) -> None:
                if out._session is not None:  # aiogram's Bot.close() is deprecated
                    await out._session.close()

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            if out is None:
                return _not_configured("telegram")
            return response.json({"status": "ok"})

        @bp.route("/set_webhook", methods=["GET", "POST"])
        async def set_webhook(_: Request) -> HTTPResponse:
            if out is None:
                return _not_configured("telegram")
            if await self.register_webhook(out):
                return response.text("Webhook setup successful")
            return response.text("Invalid webhook", status=502)

        @bp.route("/webhook", methods=["POST"])
        async def message(request: Request) -> HTTPResponse:
            if out is None:
                return _not_configured("telegram")
            if self.secret_token and (request.headers.get("X-Telegram-Bot-Api-Secret-Token")
                                      != self.secret_token):
                return response.json({"error": "invalid secret token"}, status=403)
            try:
                update = Update(**(request.json or {}))
                found = self._text_of(update)
            except Exception as e:  # noqa: BLE001 - malformed update
                # the error's type only: its message may quote the update (what was said)
                logger.warning("Telegram: a malformed update was ignored (%s)",
                               type(e).__name__)
                return response.json({"error": "malformed update"}, status=400)
            if found is None:
                return response.text("success")
            chat_id, text = found
            if not isinstance(chat_id, int) or isinstance(chat_id, bool):
                # Telegram's chat ids are integers: anything else would name a conversation
                # of the sender's choice (a WhatsApp one, a web chat's)
                logger.warning("Telegram: an update whose chat id is no integer was ignored")
                return response.json({"error": "malformed update: chat.id must be an integer"},
                                     status=400)
            if limits.unreadable(text):  # never reaches NLU nor the tracker store
                logger.info("Telegram: a message that is not text was not processed")
                try:
                    await out.send_text_message(str(chat_id), limits.BAD_EVENT)
                except Exception as e:  # noqa: BLE001 - answer 200 or Telegram resends
                    logger.error("Telegram: the 'unreadable' answer was not sent (%s)",
                                 type(e).__name__)
                return response.text("success")
            if limits.too_long(text):  # never reaches NLU nor the tracker
                logger.info("Telegram: a message over %d characters was not processed",
                            limits.MESSAGE_MAX_CHARS)
                try:
                    await out.send_text_message(str(chat_id), limits.TOO_LONG)
                except Exception as e:  # noqa: BLE001 - answer 200 or Telegram resends
                    logger.error("Telegram: the 'too long' answer was not sent (%s)",
                                 type(e).__name__)
                return response.text("success")
            refused = self.rate_limits.admit(f"telegram:{chat_id}", str(chat_id))
            if refused is not None:  # a polite message once, then silence until it passes
                logger.info("Telegram: a message over the rate limits was not processed")
                if self.rate_limits.first_warning(str(chat_id), refused[2]):
                    try:
                        await out.send_text_message(str(chat_id), refused[0])
                    except Exception as e:  # noqa: BLE001 - answer 200 or Telegram resends
                        logger.error("Telegram: the 'slow down' answer was not sent (%s)",
                                     type(e).__name__)
                return response.text("success")
            if update.callback_query is not None:
                try:  # stops the spinner on the tapped button
                    await out.answer_callback_query(update.callback_query.id)
                except Exception as e:  # noqa: BLE001
                    logger.debug("Telegram: answerCallbackQuery failed: %s", e)
            try:
                await on_new_message(UserMessage(text, out, str(chat_id),
                                                 input_channel=self.name(),
                                                 metadata=self.get_metadata(request)))
            except Exception as e:  # noqa: BLE001 - answer 200 or Telegram resends the update
                _log_failure("Telegram", e)
            await _count_handoff(self.rate_limits, f"telegram:{chat_id}", str(chat_id))
            return response.text("success")

        return bp


# --------------------------------------------------------------------------- WhatsApp

_NUMBER_REPLY = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")


def whatsapp_text(text: str, buttons: List[Dict[str, Any]]) -> str:
    """A message with buttons as plain text: numbered choices, never the payloads."""
    titles = [str(b.get("title") or "").strip() for b in buttons]
    titles = [t for t in titles if t]
    text = (text or "").strip()
    if not titles:
        return text
    if len(titles) == 1:
        return f"{text}\n\n(Or reply: {titles[0]})".strip()
    choices = "\n".join(f"{n}. {t}" for n, t in enumerate(titles, 1))
    return f"{text}\n\n{choices}\n\n(Reply with a number.)".strip()


def _chunks(body: str, limit: int = WHATSAPP_BODY_LIMIT) -> List[str]:
    """Splits a body longer than Twilio's limit at line ends (at worst inside a line)."""
    parts: List[str] = []
    current = ""
    for line in body.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts or [""]


class WhatsAppOutput(TwilioOutput):
    """Sends through Twilio's REST API (Messages.json) with aiohttp, so the server's event
    loop is never blocked; buttons become numbered choices in the same message."""

    def __init__(self, account_sid: str, auth_token: str, twilio_number: str,
                 api_url: str, last_buttons: Dict[str, List[Dict[str, Any]]]) -> None:
        super().__init__(account_sid, auth_token, twilio_number)
        self.api_url = api_url.rstrip("/")
        self.last_buttons = last_buttons
        self._sid, self._token = account_sid, auth_token

    async def _post(self, to: str, body: str, media_url: Optional[str] = None) -> bool:
        url = f"{self.api_url}/2010-04-01/Accounts/{self._sid}/Messages.json"
        form = {"To": to, "From": self.twilio_number, "Body": body}
        if media_url:
            form["MediaUrl"] = media_url
        try:
            async with aiohttp.ClientSession(auth=aiohttp.BasicAuth(self._sid, self._token),
                                             timeout=aiohttp.ClientTimeout(total=20)) as s:
                async with s.post(url, data=form) as r:
                    if r.status >= 300:
                        # neither the recipient (a phone number) nor Twilio's answer (which
                        # may quote it, or the message)
                        logger.error("Twilio: sending a message failed: HTTP %s", r.status)
                        return False
            return True
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            logger.error("Twilio: sending a message failed (%s)", type(e).__name__)
            return False

    async def _send_body(self, recipient_id: str, body: str) -> None:
        for part in _chunks(body):
            await self._post(recipient_id, part)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        self.last_buttons.pop(recipient_id, None)  # a later "2" is no longer a choice
        await self._send_body(recipient_id, text.strip())

    async def send_text_with_buttons(self, recipient_id: Text, text: Text,
                                     buttons: List[Dict[Text, Any]], **kwargs: Any) -> None:
        buttons = [b for b in buttons if str(b.get("title") or "").strip()]
        if buttons:
            self.last_buttons[recipient_id] = buttons
        else:
            self.last_buttons.pop(recipient_id, None)
        await self._send_body(recipient_id, whatsapp_text(text, buttons))

    async def send_quick_replies(self, recipient_id: Text, text: Text,
                                 quick_replies: List[Dict[Text, Any]], **kwargs: Any) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies, **kwargs)

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self._post(recipient_id, "", media_url=image)

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any],
                               **kwargs: Any) -> None:
        body = json_message.get("body") or json_message.get("text")
        if body:
            await self.send_text_message(recipient_id, str(body))


class WhatsAppInput(TwilioInput):
    """WhatsApp through Twilio, configured from TWILIO_* environment variables."""

    @classmethod
    def name(cls) -> Text:
        return "twilio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        number = _env("TWILIO_WHATSAPP_NUMBER")
        if number and not number.startswith("whatsapp:"):
            number = "whatsapp:" + number
        return cls(_env("TWILIO_ACCOUNT_SID") or None, _env("TWILIO_AUTH_TOKEN") or None,
                   number or None, api_url=_env("TWILIO_API_URL", TWILIO_DEFAULT_API),
                   webhook_url=_env("TWILIO_WEBHOOK_URL") or None)

    def __init__(self, account_sid: Optional[Text], auth_token: Optional[Text],
                 twilio_number: Optional[Text], debug_mode: bool = False,
                 api_url: str = TWILIO_DEFAULT_API, webhook_url: Optional[str] = None) -> None:
        super().__init__(account_sid, auth_token, twilio_number, debug_mode)
        self.api_url = api_url
        self.webhook_url = webhook_url
        self.last_buttons: Dict[str, List[Dict[str, Any]]] = {}
        self.rate_limits = limits.ClientLimits()

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self.auth_token and self.twilio_number)

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        return dict(CLINIC_METADATA)

    def get_output_channel(self) -> Optional[WhatsAppOutput]:
        """The output channel, or None when the channel is not configured (Rasa's HTTP API
        then collects the messages instead of sending them anywhere)."""
        if not self.configured:
            return None
        return WhatsAppOutput(self.account_sid or "", self.auth_token or "",
                              self.twilio_number or "", self.api_url, self.last_buttons)

    def reply_to_payload(self, sender: str, text: str) -> str:
        """Maps "2" (or a choice's exact title) to the payload of the last buttons sent."""
        buttons = self.last_buttons.get(sender) or []
        m = _NUMBER_REPLY.match(text or "")
        if m and len(buttons) > 1 and 1 <= int(m.group(1)) <= len(buttons):
            return str(buttons[int(m.group(1)) - 1].get("payload") or text)
        wanted = (text or "").strip().casefold()
        for b in buttons:
            if wanted and str(b.get("title") or "").strip().casefold() == wanted:
                return str(b.get("payload") or text)
        return text

    def _signature_ok(self, request: Request) -> bool:
        if not self.webhook_url:
            return True
        from twilio.request_validator import RequestValidator
        params = {k: v[0] if isinstance(v, list) else v for k, v in request.form.items()}
        return RequestValidator(self.auth_token).validate(
            self.webhook_url, params, request.headers.get("X-Twilio-Signature", ""))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("twilio_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            if not self.configured:
                return _not_configured("whatsapp")
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def message(request: Request) -> HTTPResponse:
            if not self.configured:
                return _not_configured("whatsapp")
            try:  # (Sanic would log a traceback for a form it cannot decode)
                (request.body or b"").decode("utf-8")
            except UnicodeDecodeError:
                return response.json({"error": "the form must be UTF-8"}, status=400)
            if not self._signature_ok(request):
                return response.json({"error": "invalid Twilio signature"}, status=403)
            sender = request.form.get("From")
            text = request.form.get("Body")
            if self._is_location_message(request):
                text = '{{"lng":{0}, "lat":{1}}}'.format(request.form.get("Longitude"),
                                                          request.form.get("Latitude"))
            if not sender or text is None:
                return response.json({"error": "From and Body are required"}, status=400)
            if limits.bad_sender(sender) or not sender.startswith("whatsapp:"):
                # a WhatsApp conversation's id is its "whatsapp:+<number>", nothing else (not
                # a Telegram chat id, not a web chat's session)
                return response.json({"error": "From must be a WhatsApp address "
                                               "(whatsapp:+<number>)"}, status=400)
            if limits.unreadable(text):  # never reaches NLU nor the tracker store
                logger.info("WhatsApp: a message that is not text was not processed")
                await self.get_output_channel()._send_body(sender, limits.BAD_EVENT)
                return response.text("", status=204)
            if limits.too_long(text):  # never reaches NLU nor the tracker
                logger.info("WhatsApp: a message over %d characters was not processed",
                            limits.MESSAGE_MAX_CHARS)
                # not send_text_message: the choices last sent stay valid for the reply
                await self.get_output_channel()._send_body(sender, limits.TOO_LONG)
                return response.text("", status=204)
            refused = self.rate_limits.admit(sender, sender)
            if refused is not None:  # a polite message once, then silence until it passes
                logger.info("WhatsApp: a message over the rate limits was not processed")
                if self.rate_limits.first_warning(sender, refused[2]):
                    await self.get_output_channel()._send_body(sender, refused[0])
                return response.text("", status=204)
            text = self.reply_to_payload(sender, text.replace("¡", "@"))
            try:
                await on_new_message(UserMessage(text, self.get_output_channel(), sender,
                                                 input_channel=self.name(),
                                                 metadata=self.get_metadata(request)))
            except Exception as e:  # noqa: BLE001
                _log_failure("WhatsApp", e)
                if self.debug_mode:
                    raise
            await _count_handoff(self.rate_limits, sender, sender)
            return response.text("", status=204)

        return bp


# --------------------------------------------------------------------------- logs

# Keys of Rasa's structured log events that carry what a person said or what is known about
# them (Rasa's own list of "anonymizable" keys, and the request bodies): their values never
# reach a log. Rasa's REST channel, for one, logs `text=<the whole message>` when handling a
# message fails or times out.
PRIVATE_LOG_KEYS = frozenset({
    "text", "response_text", "user_text", "slot_values", "parse_data_text",
    "parse_data_entities", "prediction_events", "tracker_latest_message", "prefilled_slots",
    "message", "response", "slot_candidates", "rasa_event", "rasa_events", "tracker_states",
    "current_states", "old_states", "successes", "current_entity", "next_entity", "states",
    "entity", "token_text", "user_message", "json_message", "metadata", "body",
    "request_body", "utter_action", "events", "tracker", "sender_id"})
REDACTED = "[not logged]"


def redact_private(_: Any, __: str, event_dict: Dict[str, Any]) -> Dict[str, Any]:
    """structlog processor: the values of PRIVATE_LOG_KEYS are replaced by REDACTED."""
    for key in PRIVATE_LOG_KEYS.intersection(event_dict):
        event_dict[key] = REDACTED
    return event_dict


def install_log_redaction() -> bool:
    """Puts redact_private first in structlog's processors (Rasa configures structlog before
    it reads credentials.yml, so this runs when the channels are built; idempotent)."""
    try:
        import structlog
    except ImportError:  # pragma: no cover - Rasa depends on it
        return False
    processors = structlog.get_config()["processors"]  # the live list every logger uses
    if redact_private not in processors:
        processors.insert(0, redact_private)
    return True


def _log_failure(where: str, exc: BaseException) -> None:
    """Logs that handling a message failed: the exception's type and the traceback's frames,
    never its message nor the message's text (either may quote what the person said)."""
    logger.error("%s: a message could not be handled (%s)\n%s", where, type(exc).__name__,
                 "".join(traceback.format_tb(exc.__traceback__)))


def _answered_on_failure(on_new_message: Callable[[UserMessage], Awaitable[Any]],
                         where: str) -> Callable[[UserMessage], Awaitable[None]]:
    """on_new_message, but a failure is logged without the message's text and the person
    gets limits.NOT_HANDLED in their chat (Rasa would log the text and answer nothing)."""

    async def handle(message: UserMessage) -> None:
        try:
            await on_new_message(message)
        except Exception as e:  # noqa: BLE001
            _log_failure(where, e)
            try:
                await message.output_channel.send_text_message(message.sender_id,
                                                               limits.NOT_HANDLED)
            except Exception as e2:  # noqa: BLE001
                logger.error("%s: the apology was not sent either (%s)", where,
                             type(e2).__name__)
        client = _CLIENT.get()
        if client is not None:  # (rate_limits, address) set by the channel
            await _count_handoff(client[0], client[1], message.sender_id)

    return handle


# --------------------------------------------------------------------------- rate limits

# The client address of the message being handled (REST and socket.io), so that the handler
# wrapped by _answered_on_failure can count a handoff against it.
_CLIENT: contextvars.ContextVar[Optional[tuple]] = contextvars.ContextVar("client",
                                                                           default=None)


def _client_address(request: Any) -> str:
    """A request's client address: the proxy's word only when Sanic is told to trust it."""
    try:
        return str(request.remote_addr or request.ip or "?")
    except Exception:  # noqa: BLE001 - a request without a transport
        return "?"


def _paused(conversation: str) -> bool:
    from actions.storage import default_store
    conv = default_store().conversation(conversation)
    return conv is not None and conv.status == "paused"


async def _count_handoff(rate_limits: limits.ClientLimits, address: str,
                         conversation: str) -> None:
    """After a message: was its conversation handed to the team (paused for an agent)?
    Then it counts against its address's HANDOFFS_PER_ADDRESS_PER_HOUR."""
    if not limits.HANDOFFS_PER_ADDRESS_PER_HOUR or conversation in rate_limits.handed:
        return
    try:
        paused = await asyncio.get_running_loop().run_in_executor(None, _paused, conversation)
    except Exception as e:  # noqa: BLE001 - counting must never fail a message
        logger.warning("rate limits: a handoff could not be checked (%s)", type(e).__name__)
        return
    if paused:
        rate_limits.handed_off(address, conversation)


# --------------------------------------------------------------------------- REST, socket.io

# What Telegram's and WhatsApp's conversation ids look like (a chat id; "whatsapp:+<number>"):
# REST senders and socket.io sessions can never be one of them.
_TELEGRAM_ID = re.compile(r"-?[0-9]+")
_SESSION_ID = re.compile(r"[0-9a-f]{32}")  # what SocketIOInput issues: uuid4().hex


def reserved_sender(sender: str) -> Optional[str]:
    """The messaging channel whose conversation ids look like `sender`, or None."""
    bare = sender.strip()
    if _TELEGRAM_ID.fullmatch(bare):
        return "Telegram"
    if bare.casefold().startswith("whatsapp:"):
        return "WhatsApp"
    return None


def web_chat_origins() -> List[str]:
    """WEBCHAT_ORIGINS: the origins (scheme://host[:port], separated by spaces or commas) of
    the pages allowed to open the web chat's socket.io connection. Empty: no check."""
    return [o.rstrip("/") for o in re.split(r"[\s,]+", _env("WEBCHAT_ORIGINS")) if o]


def _rest_error(reason: str, status: int = 400) -> HTTPResponse:
    return response.json({"error": reason}, status=status)


class RestInput(RasaRestInput):
    """Rasa's REST channel (same name and URL: POST /webhooks/rest/webhook), checked before
    Rasa sees the message: a body over REST_MAX_BODY_BYTES gets 413; a body that is not a JSON
    object, a missing, empty or blank sender, a sender shaped like a Telegram or WhatsApp
    conversation id, a message that is not a string, an `input_channel` other than "rest",
    or metadata over the limits get 400 with a one-line JSON reason; a message over
    MESSAGE_MAX_CHARS gets limits.TOO_LONG as the bot's answer (200, Rasa's answer format)
    and is neither parsed nor stored. A message whose handling fails is answered with
    limits.NOT_HANDLED (and a stream always ends); its text is in no log."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def __init__(self) -> None:
        super().__init__()
        self.rate_limits = limits.ClientLimits()

    def rate_refusal(self, request: Request) -> Optional[HTTPResponse]:
        """429 for a message over the rate limits (after refusal(): a refused body does not
        count), with a one-line reason and Retry-After; else None (the message counted)."""
        address = _client_address(request)
        refused = self.rate_limits.admit(address, request.json["sender"])
        if refused is None:
            _CLIENT.set((self.rate_limits, address))
            return None
        logger.info("REST: a message over the rate limits was not processed")
        wait = limits.retry_after(refused[2])
        return response.json({"error": f"{refused[1]}; try again in {wait} s"}, status=429,
                             headers={"Retry-After": wait})

    def refusal(self, request: Request) -> Optional[HTTPResponse]:
        """The answer to a webhook call that must not reach Rasa, or None."""
        if len(request.body or b"") > limits.REST_MAX_BODY_BYTES:
            return _rest_error(f"request body larger than {limits.REST_MAX_BODY_BYTES} bytes",
                               413)
        try:
            body = request.json
        except InvalidUsage:  # not JSON (Sanic's own answer would be a page, not a reason)
            return _rest_error('the body must be JSON: {"sender": ..., "message": ...}')
        if not isinstance(body, dict):
            return _rest_error('the body must be a JSON object: {"sender": ..., "message": ...}')
        sender = body.get("sender")
        if not isinstance(sender, str) or not sender.strip():
            return _rest_error("sender is required: a non-empty string naming the conversation")
        if len(sender) > limits.SENDER_MAX_CHARS:
            return _rest_error(f"sender is longer than {limits.SENDER_MAX_CHARS} characters")
        if limits.bad_sender(sender):
            return _rest_error("sender must be plain text: no control characters nor unpaired "
                               "surrogates")
        if not rasa_addressable(sender):  # the inbox could never reach this conversation
            return _rest_error("sender must be printable ASCII with no space, '?' or '#' "
                               "(the support team's inbox addresses the conversation by it)")
        owner = reserved_sender(sender)
        if owner:
            return _rest_error(f"sender has the form of a {owner} conversation id, which only "
                               f"the {owner} channel may use")
        if body.get("input_channel") not in (None, self.name()):
            return _rest_error(f'input_channel cannot be set: a REST message is on the '
                               f'"{self.name()}" channel')
        message = body.get("message")
        if not isinstance(message, str):
            return _rest_error("message is required: a string")
        if limits.unreadable(message):
            return _rest_error("message must be text: no NUL characters nor unpaired "
                               "surrogates")
        problem = limits.metadata_problem(body.get("metadata"))
        if problem:
            return _rest_error(problem)
        if limits.too_long(message):
            logger.info("REST: a message over %d characters was not processed",
                        limits.MESSAGE_MAX_CHARS)
            answer = [{"recipient_id": sender, "text": limits.TOO_LONG}]
            if bool_arg(request, "stream", default=False):
                return response.text(json.dumps(answer[0]) + "\n",
                                     content_type="text/event-stream")
            return response.json(answer)
        return None

    def _extract_input_channel(self, req: Request) -> Text:
        return self.name()  # never what the client says (refusal() refuses another)

    @staticmethod
    async def on_message_wrapper(on_new_message: Callable[[UserMessage], Awaitable[Any]],
                                 text: Text, queue: Queue, sender_id: Text,
                                 input_channel: Text,
                                 metadata: Optional[Dict[Text, Any]]) -> None:
        """Rasa's, but the stream always ends: on a failure, with limits.NOT_HANDLED."""
        try:
            await on_new_message(UserMessage(text, QueueOutputChannel(queue), sender_id,
                                             input_channel=input_channel, metadata=metadata))
        except Exception as e:  # noqa: BLE001
            _log_failure("REST", e)
            await queue.put({"recipient_id": sender_id, "text": limits.NOT_HANDLED})
        finally:
            await queue.put("DONE")

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        install_log_redaction()
        bp = super().blueprint(_answered_on_failure(on_new_message, "REST"))

        @bp.middleware("request")
        async def checked(request: Request) -> Optional[HTTPResponse]:
            if request.method == "POST" and request.path.rstrip("/").endswith("/webhook"):
                return self.refusal(request) or self.rate_refusal(request)
            return None

        return bp


class SocketIOInput(RasaSocketIOInput):
    """Rasa's socket.io channel (same name, path and settings), with the project's checks:

    - Only pages from WEBCHAT_ORIGINS may connect (when it is set: scripts/run.sh sets it).
    - Session ids are issued here (uuid4, unguessable); a `session_request` naming anything
      else (a REST sender, a Telegram or WhatsApp id, a guessable word) gets a new one. A
      socket's messages go to the session it was confirmed, never to a session_id the
      message names: naming another one is refused with limits.OTHER_SESSION.
    - A message over MESSAGE_MAX_CHARS, metadata over the limits, or an event that is not a
      message (not an object, no message, an empty one, a message that is not text) is
      answered on the sending socket
      (limits.TOO_LONG, limits.BAD_METADATA, limits.BAD_EVENT, as a bot message) and goes
      no further. A message whose handling fails is answered with limits.NOT_HANDLED."""

    @classmethod
    def name(cls) -> Text:
        return "socketio"

    rate_limits: Optional[limits.ClientLimits] = None

    def refusal(self, data: Any) -> Optional[str]:
        """What to tell the sender instead of processing this event, or None. Checks
        `data` and, when the metadata came as a JSON string, replaces it by its parsed value
        (so Rasa's handler does not parse an unchecked string)."""
        if not isinstance(data, dict):
            logger.info("socket.io: an event that is not an object was refused")
            return limits.BAD_EVENT
        if (not isinstance(data.get("message"), str) or not data["message"].strip()
                or limits.unreadable(data["message"])):
            # no message, an empty one (Rasa would run it through NLU and may answer nothing)
            # or one that is not text
            logger.info("socket.io: an event without a message as text was refused")
            return limits.BAD_EVENT
        if limits.too_long(data.get("message")):
            logger.info("socket.io: a message over %d characters was not processed",
                        limits.MESSAGE_MAX_CHARS)
            return limits.TOO_LONG
        key = self.metadata_key or "metadata"
        if key in data:
            metadata, problem = limits.parse_metadata(data[key])
            if problem is None:
                problem = limits.metadata_problem(metadata)
                data[key] = metadata  # parsed once here, checked; Rasa's handler takes it
        else:
            problem = None
        if problem:
            logger.info("socket.io: a message was refused: %s", problem)
            return limits.BAD_METADATA
        return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        install_log_redaction()
        bp = super().blueprint(_answered_on_failure(on_new_message, "socket.io"))
        sio = self.sio
        assert sio is not None
        namespace = self.namespace or "/"
        rasa_handler = sio.handlers[namespace][self.user_message_evt]
        origins = web_chat_origins()
        if origins:  # engine.io checks the Origin header of every request, websockets too
            sio.eio.cors_allowed_origins = origins
        sessions: Dict[str, str] = {}  # socket id -> the session it was confirmed
        self.sessions = sessions
        rate_limits = self.rate_limits = limits.ClientLimits()

        def socket_address(sid: Text) -> str:
            try:
                request = (sio.get_environ(sid, namespace=self.namespace) or {}).get(
                    "sanic.request")
            except Exception:  # noqa: BLE001 - a socket already gone
                request = None
            return _client_address(request) if request is not None else "?"

        async def session_request(sid: Text, data: Any = None) -> None:
            wanted = data.get("session_id") if isinstance(data, dict) else None
            if isinstance(wanted, str) and _SESSION_ID.fullmatch(wanted):
                session = wanted
            else:
                if wanted is not None:
                    logger.info("socket.io: a session id not issued here was replaced")
                session = uuid.uuid4().hex
            previous = sessions.get(sid)
            if self.session_persistence and previous and previous != session:
                sio.leave_room(sid, previous, namespace=self.namespace)
            sessions[sid] = session
            if self.session_persistence:
                sio.enter_room(sid, session, namespace=self.namespace)
            await sio.emit("session_confirm", session, room=sid, namespace=self.namespace)

        async def disconnect(sid: Text) -> None:
            sessions.pop(sid, None)

        async def handle_message(sid: Text, data: Any = None) -> None:
            answer = self.refusal(data)
            if answer is None and self.session_persistence:
                session = sessions.get(sid)
                claimed = data.get("session_id")
                if session is None:
                    answer = limits.NO_SESSION
                elif claimed not in (None, session):
                    logger.info("socket.io: a message naming another session was refused")
                    answer = limits.OTHER_SESSION
                else:
                    data["session_id"] = session
            address = None
            if answer is None:
                address = socket_address(sid)
                conversation = data.get("session_id") if self.session_persistence else None
                refused = rate_limits.admit(address, str(conversation or sid))
                if refused is not None:
                    logger.info("socket.io: a message over the rate limits was not processed")
                    answer = refused[0]
            if answer is not None:
                await sio.emit(self.bot_message_evt, {"text": answer}, room=sid,
                               namespace=self.namespace)
                return
            _CLIENT.set((rate_limits, address))
            await rasa_handler(sid, data)

        sio.on("session_request", session_request, namespace=self.namespace)
        sio.on("disconnect", disconnect, namespace=self.namespace)
        sio.on(self.user_message_evt, handle_message, namespace=self.namespace)
        return bp


install_log_redaction()
