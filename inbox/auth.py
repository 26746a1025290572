"""Staff authentication for the inbox.

- JSON API: `Authorization: Bearer <token>` (tokens are stored hashed by actions.storage).
- Web pages: a session cookie (HttpOnly, SameSite=Strict, Path=/) signed with HMAC-SHA256
  and the secret INBOX_SECRET. It names the user, its issue time and a random nonce, and is
  bound to the user's current password hash: changing the password ends every session.
  Logging out revokes the nonce in this process. Sessions last SESSION_SECONDS.
- Forms and scripts that change something with the cookie must carry the session's CSRF
  token (hidden field `csrf_token` or header `X-CSRF-Token`); SameSite=Strict is the first
  line, this is the second.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Deque, Dict, Optional, Set

COOKIE = "inbox_session"
SESSION_SECONDS = 12 * 3600
LOGIN_WINDOW_SECONDS = 300
LOGIN_MAX_FAILURES = 5


@dataclass
class Session:
    username: str
    issued: int
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _fingerprint(password_hash: Optional[str]) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


class Sessions:
    def __init__(self, secret: str):
        if len(secret) < 16:
            raise ValueError("INBOX_SECRET must be at least 16 characters")
        self._key = hashlib.sha256(("inbox-session|" + secret).encode()).digest()
        self._revoked: Set[str] = set()

    def _sign(self, payload: str, password_hash: Optional[str]) -> str:
        msg = f"{payload}|{_fingerprint(password_hash)}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def issue(self, username: str, password_hash: Optional[str]) -> str:
        payload = _b64(f"{username}|{int(time.time())}|{secrets.token_urlsafe(12)}".encode())
        return f"{payload}.{self._sign(payload, password_hash)}"

    def peek(self, value: Optional[str]) -> Optional[Session]:
        """The session a cookie claims (not yet checked against the user's password hash)."""
        if not value or value.count(".") != 1 or len(value) > 1024:
            return None
        payload, _ = value.split(".")
        try:
            username, issued, nonce = _unb64(payload).decode().split("|")
            issued_at = int(issued)
        except (ValueError, UnicodeDecodeError):
            return None
        if not 0 <= time.time() - issued_at <= SESSION_SECONDS or nonce in self._revoked:
            return None
        return Session(username, issued_at, nonce)

    def verify(self, value: str, password_hash: Optional[str]) -> bool:
        payload, sig = value.split(".")
        return hmac.compare_digest(sig, self._sign(payload, password_hash))

    def revoke(self, session: Session) -> None:
        self._revoked.add(session.nonce)

    def csrf(self, session: Session) -> str:
        return hmac.new(self._key, f"csrf|{session.nonce}".encode(), hashlib.sha256).hexdigest()[:32]

    def csrf_ok(self, session: Session, token: Optional[str]) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf(session))


class LoginThrottle:
    """At most LOGIN_MAX_FAILURES failed logins per username and per client address in
    LOGIN_WINDOW_SECONDS (in memory: enough for one inbox process)."""

    def __init__(self) -> None:
        self._failures: Dict[str, Deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> Deque[float]:
        q = self._failures[key]
        while q and time.time() - q[0] > LOGIN_WINDOW_SECONDS:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(k)) >= LOGIN_MAX_FAILURES for k in keys)

    def failed(self, *keys: str) -> None:
        for k in keys:
            self._recent(k).append(time.time())

    def succeeded(self, *keys: str) -> None:
        for k in keys:
            self._failures.pop(k, None)
