"""What one message may carry, at every entrance (REST, socket.io, Telegram, WhatsApp).

The single place for these limits and for what the person is told when one is crossed:
actions/channels.py checks them before a message reaches Rasa (so nothing of a refused
message is read by NLU or stored in the tracker), and the web chat's widget takes its input's
maxlength from MESSAGE_MAX_CHARS (webchat/app.py fills it in when serving /widget.js).

Why: DIET's attention grows with the square of a message's length (a 16,000-word message held
Rasa's event loop for 14 s and took 10 GiB), and 100,000 metadata keys made one turn take
7.5 s. The limits are generous for people: 4,000 characters is about 700 words, more than
any intake answer needs (Telegram's own limit is 4,096).

Pure Python, no Rasa import: the web chat's process reads it too.
"""
import json
import math
import os
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any, Deque, Dict, Optional, Tuple

MESSAGE_MAX_CHARS = 4000          # characters (code points) of one message's text
METADATA_MAX_BYTES = 4096         # a message's metadata, as compact JSON (UTF-8)
METADATA_MAX_DEPTH = 4            # {"a": {"b": {"c": {"d": 1}}}} is depth 4
SENDER_MAX_CHARS = 255            # a REST sender id (Rasa's SQL tracker store column size)
REST_MAX_BODY_BYTES = 1_000_000   # a REST webhook body (socket.io's own default packet limit)

# What the person reads in their chat when their message is over MESSAGE_MAX_CHARS.
TOO_LONG = ("That message is too long for me — could you say it in a few sentences? "
            f"(At most {MESSAGE_MAX_CHARS:,} characters.)")
# What the web chat shows when a message arrives with metadata over the limits (the widget
# never sends such metadata; another client does).
BAD_METADATA = ("Sorry, I couldn't take that message: it came with too much extra data. "
                "Please reload the page and try again.")
# What the person reads for a message that cannot be read: not text (an unpaired surrogate, a
# NUL character), or on the web chat an event that is not a message (the widget never sends
# one; another client does).
BAD_EVENT = "Sorry, I couldn't read that message. Could you type it again?"
# A web chat message before its session was confirmed (`session_request` first), or naming a
# session other than the one confirmed to its connection.
NO_SESSION = "Sorry, this chat isn't connected yet. Please reload the page and try again."
OTHER_SESSION = ("Sorry, I couldn't take that message: this window's chat session changed. "
                 "Please reload the page to continue.")
# What the person reads when handling their message failed on our side (REST, socket.io).
NOT_HANDLED = ("Sorry, something went wrong on our side and I couldn't take that message. "
               "Please try again in a moment.")


def too_long(text: Any) -> bool:
    """Is this message text over MESSAGE_MAX_CHARS? (Only text is measured: other values
    are left to the channel's own checks.)"""
    return isinstance(text, str) and len(text) > MESSAGE_MAX_CHARS


def unreadable(text: Any) -> bool:
    """Is this string one no keyboard produces and the stores cannot keep: with a lone UTF-16
    surrogate (JSON's "\\ud800"; it crashes Rasa's NLU, and in a conversation id or an
    intent name it makes Rasa's SQL tracker store exit the whole server) or a NUL character
    (PostgreSQL cannot store it)? Other values are left to the channel's own checks."""
    if not isinstance(text, str):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return "\x00" in text


def bad_sender(sender: str) -> bool:
    """Is this conversation id unusable: unreadable (above), or with a control character?"""
    return unreadable(sender) or any(ord(c) < 32 or ord(c) == 127 for c in sender)


def metadata_problem(metadata: Any) -> Optional[str]:
    """None if a message's metadata is within the limits, else a one-line reason (never
    quoting the metadata). `None` and `{}` are fine; anything else must be an object (see
    parse_metadata for metadata sent as a JSON string)."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        return "metadata must be a JSON object"
    # Walked without recursion, stopping as soon as a limit is crossed, so that neither a
    # deep nesting nor 100,000 keys costs more than a few thousand steps.
    budget = METADATA_MAX_BYTES
    stack = [(metadata, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > METADATA_MAX_DEPTH:
                return f"metadata is nested deeper than {METADATA_MAX_DEPTH} levels"
            budget -= 2
            items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
            for key, item in items:
                if key is not None:
                    budget -= len(str(key).encode("utf-8", "replace")) + 3
                budget -= 1
                if budget < 0:
                    return f"metadata is larger than {METADATA_MAX_BYTES} bytes"
                stack.append((item, depth + 1))
        elif isinstance(value, str):
            budget -= len(value.encode("utf-8", "replace")) + 2
        else:
            budget -= len(str(value))
        if budget < 0:
            return f"metadata is larger than {METADATA_MAX_BYTES} bytes"
    return None


def parse_metadata(metadata: Any) -> Tuple[Any, Optional[str]]:
    """(metadata, problem): metadata sent as a JSON string (Rasa's socket.io channel allows
    it) is parsed only when its size is within the limits; other values are returned as
    they are. `problem` is a one-line reason when it is too large or not JSON."""
    if not isinstance(metadata, (str, bytes)):
        return metadata, None
    if len(metadata) > METADATA_MAX_BYTES:
        return None, f"metadata is larger than {METADATA_MAX_BYTES} bytes"
    try:
        return (json.loads(metadata) if metadata else {}), None
    except (ValueError, RecursionError):
        return None, "metadata is not valid JSON"


# --------------------------------------------------------------------------- rate limits
#
# How fast one client may use the service (issue 10, item 13: one client opened 300
# conversations in 6 s and 200 handoffs in 4 s). Each is a named constant overridable by the
# environment variable of the same name (documented in .env.example); 0 turns a limit off.
#
# - a client is its address (Sanic's request.remote_addr when a proxy is trusted, see
#   SANIC_REAL_IP_HEADER / SANIC_PROXIES_COUNT, else the peer's address) on REST and
#   socket.io, and the chat id on Telegram and WhatsApp (their requests all come from
#   Telegram's or Twilio's servers);
# - a conversation is its id (REST sender, socket.io session, chat id).
#
# The counts are kept in memory, per process (enough for the one Rasa process and the one
# inbox process this project runs; several processes behind a load balancer would each allow
# as much: a later step moves this state to Redis). A restart forgets them.

def _setting(name: str, default: int) -> int:
    """An integer limit from the environment (or the project's .env), else `default`."""
    try:
        from dotenv import load_dotenv
        load_dotenv(Path(__file__).resolve().parents[1] / ".env", override=False)
    except ImportError:  # pragma: no cover - python-dotenv is a dependency
        pass
    raw = (os.environ.get(name) or "").strip()
    try:
        return max(0, int(raw)) if raw else default
    except ValueError:
        return default


# New conversations (a sender, session or chat not seen in the last hour) one address may
# open in a minute. A person opens one; an office or a mobile network's shared address more,
# and a shop's backend calling REST for all its customers more still (raise it, or 0). The
# handoff limit below is what keeps one address from filling the team's inbox.
NEW_CONVERSATIONS_PER_ADDRESS_PER_MINUTE = _setting(
    "NEW_CONVERSATIONS_PER_ADDRESS_PER_MINUTE", 120)
# Messages one conversation may send in a minute: a person types at most one every 2 s.
MESSAGES_PER_CONVERSATION_PER_MINUTE = _setting("MESSAGES_PER_CONVERSATION_PER_MINUTE", 30)
# Conversations handed to a person (a case in the inbox) per address in an hour; past it, the
# address opens no new conversation until the hour has passed.
HANDOFFS_PER_ADDRESS_PER_HOUR = _setting("HANDOFFS_PER_ADDRESS_PER_HOUR", 30)
# Requests to the agents' inbox (API and pages) per address in a minute: a case page polls
# every 2 s (30 a minute); an office of agents shares one address.
INBOX_REQUESTS_PER_ADDRESS_PER_MINUTE = _setting("INBOX_REQUESTS_PER_ADDRESS_PER_MINUTE", 1200)

# What the person reads when a limit is crossed (once, then nothing until it passes, on
# Telegram and WhatsApp).
SLOW_DOWN = ("You're sending messages faster than I can read them. Please wait a minute, "
             "then send your message again.")
TOO_MANY_CHATS = ("We're receiving too many new chats from your network right now. "
                  "Please try again in a few minutes.")
TOO_MANY_HANDOFFS = ("Our team has received many requests from your network this hour, so "
                     "I can't start a new chat right now. Please try again later.")


class RateLimit:
    """At most `limit` events per key in any `seconds` (a sliding window), in memory.
    `limit` 0: no limit. At most `max_keys` keys are kept: past it, expired ones are
    forgotten first, then the oldest."""

    def __init__(self, limit: int, seconds: float, max_keys: int = 100_000) -> None:
        self.limit, self.seconds, self.max_keys = limit, seconds, max_keys
        self._events: Dict[str, Deque[float]] = {}

    def _recent(self, key: str, now: float) -> Deque[float]:
        q = self._events.get(key)
        if q is None:
            return deque()
        while q and now - q[0] >= self.seconds:
            q.popleft()
        if not q:
            del self._events[key]
        return q

    def wait(self, key: str, now: Optional[float] = None) -> float:
        """Seconds until `key` may have another event (0: now), recording nothing."""
        if not self.limit:
            return 0.0
        now = time.monotonic() if now is None else now
        q = self._recent(key, now)
        if len(q) < self.limit:
            return 0.0
        return max(0.001, self.seconds - (now - q[-self.limit]))

    def hit(self, key: str, now: Optional[float] = None) -> float:
        """Records an event for `key` if it is allowed and returns 0; else returns the
        seconds to wait (and records nothing)."""
        if not self.limit:
            return 0.0
        now = time.monotonic() if now is None else now
        waiting = self.wait(key, now)
        if waiting:
            return waiting
        if key not in self._events and len(self._events) >= self.max_keys:
            self._forget(now)
        q = self._events.setdefault(key, deque(maxlen=self.limit))
        q.append(now)
        return 0.0

    def _forget(self, now: float) -> None:
        for key in list(self._events):
            self._recent(key, now)
        while len(self._events) >= self.max_keys:  # the oldest first (insertion order)
            del self._events[next(iter(self._events))]


class Recent:
    """Keys seen in the last `seconds` (e.g. the conversations already open), in memory,
    at most `max_keys` of them (the oldest forgotten first)."""

    def __init__(self, seconds: float, max_keys: int = 100_000) -> None:
        self.seconds, self.max_keys = seconds, max_keys
        self._seen: "OrderedDict[str, float]" = OrderedDict()

    def __contains__(self, key: str) -> bool:
        at = self._seen.get(key)
        return at is not None and time.monotonic() - at < self.seconds

    def add(self, key: str) -> None:
        self._seen[key] = time.monotonic()
        self._seen.move_to_end(key)
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)

    def discard(self, key: str) -> None:
        self._seen.pop(key, None)


class ClientLimits:
    """The Rasa entrances' limits for one channel (one process). `admit` says whether a
    message may go on to Rasa; `handed_off` records a conversation handed to the team."""

    def __init__(self) -> None:
        self.new_conversations = RateLimit(NEW_CONVERSATIONS_PER_ADDRESS_PER_MINUTE, 60)
        self.messages = RateLimit(MESSAGES_PER_CONVERSATION_PER_MINUTE, 60)
        self.handoffs = RateLimit(HANDOFFS_PER_ADDRESS_PER_HOUR, 3600)
        self.open = Recent(3600)             # conversations seen in the last hour
        self.handed = Recent(3600)           # conversations already counted as handed off
        self._warned: Dict[str, float] = {}  # key -> until when it was told to slow down

    def admit(self, address: str, conversation: str) -> Optional[Tuple[str, str, float]]:
        """None if the message may go on; else (the person's message, a one-line reason for
        an HTTP answer, the seconds to wait)."""
        if conversation not in self.open:
            waiting = self.handoffs.wait(address)
            if waiting:
                return (TOO_MANY_HANDOFFS, f"too many conversations handed to the team from "
                        f"this address: at most {HANDOFFS_PER_ADDRESS_PER_HOUR} an hour",
                        waiting)
            waiting = self.new_conversations.hit(address)
            if waiting:
                return (TOO_MANY_CHATS, f"too many new conversations from this address: at "
                        f"most {NEW_CONVERSATIONS_PER_ADDRESS_PER_MINUTE} a minute", waiting)
        waiting = self.messages.hit(conversation)
        if waiting:
            return (SLOW_DOWN, f"too many messages in this conversation: at most "
                    f"{MESSAGES_PER_CONVERSATION_PER_MINUTE} a minute", waiting)
        self.open.add(conversation)
        return None

    def handed_off(self, address: str, conversation: str) -> None:
        """A conversation of `address` was handed to the team (counted once an hour)."""
        if conversation not in self.handed:
            self.handed.add(conversation)
            self.handoffs.hit(address)

    def first_warning(self, key: str, waiting: float) -> bool:
        """True the first time `key` is refused until the wait is over (tell once, then
        silence): for channels where every refusal would be another message sent."""
        now = time.monotonic()
        if self._warned.get(key, 0.0) > now:
            return False
        if len(self._warned) > 100_000:
            self._warned = {k: t for k, t in self._warned.items() if t > now}
        self._warned[key] = now + waiting
        return True


def retry_after(seconds: float) -> str:
    """An HTTP Retry-After value: whole seconds, rounded up."""
    return str(max(1, math.ceil(seconds)))
