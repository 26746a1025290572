"""Conversation ids: how the inbox addresses them in Rasa's HTTP API, and how it names them in
the audit log.

Rasa's HTTP API (rasa/server.py, Sanic 21.12) routes `/conversations/<conversation_id:path>/...`
on the raw request path and never percent-decodes the id: `/conversations/whatsapp%3A%2B1415/
tracker` is the tracker of a conversation literally named `whatsapp%3A%2B1415`, a new and
empty one. So the id goes into the path verbatim (`whatsapp:+14155550123`, `-1001234567890`,
`a/b` and `100%` all arrive as they are: the route's `path` type accepts `/`). What cannot be
written verbatim in a request line is refused with a clear reason instead of being sent to
another conversation: a space or control character, `?` and `#` (they end the path), and
any non-ASCII character (httptools rejects the raw bytes). Every channel of this project
produces addressable ids (Telegram: digits and `-`; WhatsApp: `whatsapp:+<digits>`; the web
chat: letters, digits, `-` and `_`); only a REST client can choose one that is not.

The audit log never names a conversation (for WhatsApp the id is a phone number): it records
`audit_ref(key, id)` (actions/audit_ref.py), a keyed hash (HMAC-SHA256) that stays the same
for one id under one key, so entries about one person can still be tied together, and that
cannot be reversed by hashing every phone number without the key.
"""
from __future__ import annotations

import re

from actions.audit_ref import audit_key, audit_ref  # noqa: F401 (the inbox's names for them)

ADDRESSABLE = re.compile(r"[\x21-\x7e]+")   # printable ASCII, no space
UNADDRESSABLE_REASON = (
    "this conversation's id contains a character that Rasa's HTTP API cannot address "
    "(a space, '?', '#', a control character or a non-ASCII character), so the assistant "
    "cannot be reached for it")


def rasa_addressable(cid: str) -> bool:
    """Whether Rasa 3.6's HTTP API can address this conversation id (see the module doc)."""
    return (isinstance(cid, str) and ADDRESSABLE.fullmatch(cid) is not None
            and "?" not in cid and "#" not in cid)


def rasa_path_segment(cid: str) -> str:
    """The id as it must appear in Rasa's `/conversations/<id>/...` paths: verbatim (Rasa does
    not decode). ValueError for an id Rasa cannot address."""
    if not rasa_addressable(cid):
        raise ValueError(UNADDRESSABLE_REASON)
    return cid
