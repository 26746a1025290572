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
from typing import Any, Optional, Tuple

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


def too_long(text: Any) -> bool:
    """Is this message text over MESSAGE_MAX_CHARS? (Only text is measured: other values
    are left to the channel's own checks.)"""
    return isinstance(text, str) and len(text) > MESSAGE_MAX_CHARS


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
