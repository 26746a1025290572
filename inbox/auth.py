"""Staff authentication for the inbox.

- JSON API: `Authorization: Bearer <token>` (tokens are stored hashed by actions.storage).
- Web pages: a session cookie (HttpOnly, SameSite=Strict, Path=/) signed with HMAC-SHA256
  and the secret INBOX_SECRET. It names the user, its issue time and a random nonce, and is
  bound to the user's current password hash: changing the password ends every session.
  Logging out revokes the nonce, in this process and in the database (an audit entry
  `session_ended` naming a hash of the nonce, checked for every cookie), so it survives a
  restart and holds for every process sharing the database. Sessions last SESSION_SECONDS.
- Forms and scripts that change something with the cookie must carry the session's CSRF
  token (hidden field `csrf_token` or header `X-CSRF-Token`); SameSite=Strict is the first
  line, this is the second. The login form has its own token, bound to a pre-login cookie
  (`inbox_login`, set by GET /login): a login posted from another site is refused (no
  "log the victim in as the attacker"). Logging out is a POST with the session's token.
- Failed logins are limited per username *and* address pair (LOGIN_MAX_FAILURES): someone
  guessing from one address cannot lock the account out for everybody else; one address
  is also limited across all usernames (ADDRESS_MAX_FAILURES, password spraying).
- A login takes the same time whether the username exists or not (the password is checked
  against a dummy hash when there is no such user).
- Host header (DNS rebinding): the inbox and the web chat answer only requests naming one of
  their host names (allowed_hosts: the loopback names, the configured host, ALLOWED_HOSTS);
  any other gets 400 with a one-line reason.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, FrozenSet, Optional, Set
from urllib.parse import urlsplit

COOKIE = "inbox_session"
LOGIN_COOKIE = "inbox_login"
SESSION_SECONDS = 12 * 3600
LOGIN_WINDOW_SECONDS = 300
LOGIN_MAX_FAILURES = 5      # per username and address
ADDRESS_MAX_FAILURES = 30   # per address, all usernames together
_DUMMY_HASH: Optional[str] = None


def verify_password(store: Any, username: str, password: str) -> Any:
    """The staff user with this username and password, or None; the same work (one PBKDF2)
    whether the username exists or not, so the time does not tell."""
    global _DUMMY_HASH
    from actions.storage import _check, _hash  # the storage's own password hashing
    user = store.user(username)
    if user is not None and user.password_hash:
        return user if _check(password, user.password_hash) else None
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hash(secrets.token_urlsafe(16))
    _check(password, _DUMMY_HASH)
    return None


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

    @staticmethod
    def reference(session: Session) -> str:
        """What the audit log records about an ended session (not the cookie's nonce)."""
        return "session:" + hashlib.sha256(session.nonce.encode()).hexdigest()[:32]

    def csrf(self, session: Session) -> str:
        return hmac.new(self._key, f"csrf|{session.nonce}".encode(), hashlib.sha256).hexdigest()[:32]

    def csrf_ok(self, session: Session, token: Optional[str]) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf(session))

    @staticmethod
    def login_nonce() -> str:
        return secrets.token_urlsafe(16)

    def login_csrf(self, nonce: str) -> str:
        """The login form's token, bound to the pre-login cookie's nonce."""
        return hmac.new(self._key, f"login|{nonce}".encode(), hashlib.sha256).hexdigest()[:32]

    def login_csrf_ok(self, nonce: Optional[str], token: Optional[str]) -> bool:
        if not nonce or not token or len(nonce) > 64:
            return False
        return hmac.compare_digest(str(token), self.login_csrf(nonce))


class LoginThrottle:
    """At most LOGIN_MAX_FAILURES failed logins per (username, address) pair and
    ADDRESS_MAX_FAILURES per address in LOGIN_WINDOW_SECONDS (in memory: enough for one inbox
    process). Never per username alone: that would let anyone lock out any account."""

    def __init__(self) -> None:
        self._failures: Dict[str, Deque[float]] = defaultdict(deque)

    @staticmethod
    def keys(username: str, address: str) -> Dict[str, int]:
        return {f"pair:{username.lower()}|{address}": LOGIN_MAX_FAILURES,
                f"ip:{address}": ADDRESS_MAX_FAILURES}

    def _recent(self, key: str) -> Deque[float]:
        q = self._failures[key]
        while q and time.time() - q[0] > LOGIN_WINDOW_SECONDS:
            q.popleft()
        if not q:
            self._failures.pop(key, None)
        return q

    def blocked(self, username: str, address: str) -> bool:
        return any(len(self._recent(k)) >= limit
                   for k, limit in self.keys(username, address).items())

    def failed(self, username: str, address: str) -> None:
        if len(self._failures) > 10_000:  # many addresses and names: forget what expired
            for k in list(self._failures):
                self._recent(k)
        for k in self.keys(username, address):
            self._failures[k] = self._recent(k)
            self._failures[k].append(time.time())

    def succeeded(self, username: str, address: str) -> None:
        self._failures.pop(next(iter(self.keys(username, address))), None)


# --------------------------------------------------------------------------- Host header

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_ANY_INTERFACE = frozenset({"", "0.0.0.0", "::", "*"})


def host_name(value: Optional[str]) -> Optional[str]:
    """The host name of a Host header or of a URL's authority ("Example.org:5056" ->
    "example.org", "[::1]:5056" -> "::1"), lower case, without a trailing dot; None when it
    is not one."""
    text = (value or "").strip()
    if "://" in text:
        text = urlsplit(text).netloc.rpartition("@")[2]
    if not text or len(text) > 255 or any(c in text for c in "/\\?#@ \t\r\n"):
        return None
    if text.startswith("["):
        name, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not re.fullmatch(r":[0-9]{1,5}", rest)):
            return None
    else:
        name, colon, port = text.partition(":")
        if colon and not re.fullmatch(r"[0-9]{1,5}", port):
            return None
    name = name.rstrip(".").lower()
    return name or None


def allowed_hosts(*configured: Optional[str]) -> FrozenSet[str]:
    """The host names a server answers to (DNS rebinding: a page of any site whose name
    resolves to this machine would otherwise talk to it): the loopback names, the server's
    configured host names or URLs (`configured`, an address for every interface excepted),
    and ALLOWED_HOSTS (names separated by spaces or commas, no port; `*`: any name, which
    turns the check off)."""
    names = set(LOOPBACK_HOSTS)
    extra = re.split(r"[\s,]+", os.environ.get("ALLOWED_HOSTS") or "")
    if "*" in extra:
        return frozenset({"*"})
    for value in [*configured, *extra]:
        if value and value.strip() not in _ANY_INTERFACE:
            name = host_name(value.strip())
            if name:
                names.add(name)
    return frozenset(names)


def host_problem(header: Optional[str], allowed: FrozenSet[str]) -> Optional[str]:
    """None when a request's Host header names an allowed host, else a one-line reason
    (never quoting the header)."""
    if "*" in allowed:
        return None
    name = host_name(header)
    if name is None:
        return "the Host header is missing or malformed"
    if name not in allowed:
        return "this server does not answer to that host name (see ALLOWED_HOSTS)"
    return None
