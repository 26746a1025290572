"""How the audit log names a conversation without naming it: a keyed hash of its id.

A conversation id can be personal data (for WhatsApp it is the person's phone number), and an
unkeyed hash of a phone number is reversed by hashing every number. `audit_ref(key, id)` is
HMAC-SHA256 under a secret key: the same for one id (entries about one conversation can still
be tied together, and found by someone who holds the key and the id), useless without the key.

The key (`audit_key()`): AUDIT_KEY (at least 16 characters), else a random key kept in
var/audit.key (created on first use, mode 0600), so references stay the same across restarts
and across the processes of one machine (Rasa, the action server, the inbox). Processes on
several hosts sharing one database need the same AUDIT_KEY.

Used by the inbox (inbox/app.py) for every audit entry about a conversation; the erase
(actions/storage.py, `delete_conversation`) should use it too.
"""
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Optional

KEY_FILE = Path(__file__).resolve().parents[1] / "var" / "audit.key"


def audit_ref(key: bytes, cid: str) -> str:
    """What the audit log records instead of a conversation id."""
    digest = hmac.new(key, str(cid).encode("utf-8", "surrogatepass"), hashlib.sha256)
    return "ref:" + digest.hexdigest()[:24]


def audit_key(path: Optional[Path] = None) -> bytes:
    env = os.environ.get("AUDIT_KEY")
    if env:
        if len(env) < 16:
            raise ValueError("AUDIT_KEY must be at least 16 characters")
        return env.encode()
    path = path or KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:  # the first process to get here writes the key; the others read it
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    return key


def conversation_ref(cid: str) -> str:
    """audit_ref under this machine's key (audit_key())."""
    return audit_ref(audit_key(), cid)
