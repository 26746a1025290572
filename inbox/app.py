"""The support agents' inbox: a Sanic app over actions.storage and Rasa's HTTP API.

    app = create_app(Store(), "http://127.0.0.1:5005", "local-dev-token")

Roles: agents and admins handle tickets; clinicians read their own clinic's clinic-mode
summaries; admins also read the audit log and create staff accounts. Every view and every
change is written to the audit log (who, what, which record).

Before anything else, every request must name one of the inbox's host names in its Host
header (inbox.auth.allowed_hosts: loopback names, INBOX_HOST, ALLOWED_HOSTS; 400 otherwise,
against DNS rebinding), and one address may make INBOX_REQUESTS_PER_ADDRESS_PER_MINUTE
requests a minute (actions/limits.py; in memory, per process; 429 with Retry-After past it).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import os
import re
import secrets
import traceback
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Tuple
from urllib.parse import quote, unquote, urlencode

from jinja2 import Environment, FileSystemLoader
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import func, select

from actions import limits
from actions.storage import ROLES, TICKET_STATES, AuditEntry, Conversation, Store, Ticket
from actions.triage.engine import default_kb

from . import summary as S
from .auth import (COOKIE, LOGIN_COOKIE, SESSION_SECONDS, LoginThrottle, Sessions,
                   allowed_hosts, host_problem, verify_password)
from .ids import audit_ref
from .passwords import password_problem
from .rasa import RasaClient, RasaError, resume_events
from .server import unique_app_name

HERE = Path(__file__).resolve().parent
MAX_TEXT = 4000
MAX_BODY = 64 * 1024
TICKET_ROLES = ("agent", "admin")
CLINIC_ROLES = ("clinician", "admin")
ACTIONS = ("claim", "reply", "note", "handback", "resolve", "erase")
MAX_ID = 2 ** 31 - 1          # ticket ids are 32-bit integers in every supported database
PAGE_SIZE, PAGE_MAX = 50, 200  # case and clinic lists: default and largest page
WHOLE = re.compile(r"[0-9]{1,10}")  # ASCII digits only: "²".isdigit() is True, int("²") fails
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
DEFAULT_RESUMED = "I'm back: the assistant is answering again."
DEFAULT_ERASED = "Done: your answers, the assessment and this conversation's history have been deleted."
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
logger = logging.getLogger("inbox")


class Problem(Exception):
    """An expected failure of a request: HTTP status and a message safe to show."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def _duration(seconds: Any) -> str:
    s = int(seconds or 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _when(iso: Any) -> str:
    """'2026-11-21T15:09:13Z' -> '2026-11-21 15:09:13 UTC' (what staff read)."""
    text = str(iso or "")
    return text.replace("T", " ").replace("Z", " UTC") if text else "—"


def _templates() -> Environment:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    kb = default_kb()
    env.filters["duration"] = _duration
    env.filters["when"] = _when
    env.filters["level"] = lambda d: (d or "unknown").replace("_", " ")
    env.globals["headline"] = lambda d: kb.raw["dispositions"].get(d, {}).get("headline", "")
    return env


def _text_of(body: Any) -> str:
    """The `text` of a reply or note, validated (Problem 400 otherwise)."""
    if not isinstance(body, dict):
        raise Problem(400, 'the body must be a JSON object like {"text": "..."}')
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise Problem(400, "text is required and must not be empty")
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # forms send CRLF
    if len(text) > MAX_TEXT:
        raise Problem(400, f"text is too long: {len(text):,} characters, at most {MAX_TEXT:,}")
    if "\x00" in text:
        raise Problem(400, "text must not contain NUL characters")
    return text.strip()


def _json_body(request: Request) -> Any:
    raw = request.body or b""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, f"malformed JSON in the request body: {exc}") from None
    except RecursionError:
        raise Problem(400, "malformed JSON in the request body: nested too deeply") from None


def _whole(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within [low, high] (Problem 400 otherwise)."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not WHOLE.fullmatch(raw) or not low <= int(raw) <= high:
        raise Problem(400, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def _link_segment(cid: str) -> str:
    """A conversation id as one path segment of the inbox's own links (its routes decode it);
    an id of only dots is encoded too, or browsers would resolve it as '.' or '..'."""
    segment = quote(cid, safe="")
    return segment.replace(".", "%2E") if set(cid) <= {"."} else segment


def create_app(store: Store, rasa_url: str, rasa_token: str,
               secret: Optional[str] = None, audit_key: Optional[bytes] = None,
               hosts: Optional[Iterable[str]] = None,
               requests_per_minute: Optional[int] = None) -> Sanic:
    """The inbox app. `secret` signs session cookies (default: env INBOX_SECRET, else a
    random secret, so sessions end when the process restarts). `audit_key` keys the hash that
    names conversations in the audit log (actions.audit_ref; default: env AUDIT_KEY,
    else random per process; `python -m inbox` keeps one in var/). `hosts`: the host names
    it answers to (default: the loopback names, INBOX_HOST and ALLOWED_HOSTS; any other
    Host header gets 400). `requests_per_minute`: per client address (default
    limits.INBOX_REQUESTS_PER_ADDRESS_PER_MINUTE, 0 for none; in memory, per process);
    more get 429 with Retry-After."""
    app = Sanic(unique_app_name("inbox"))
    app.config.REQUEST_MAX_SIZE = MAX_BODY
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.store = store
    app.ctx.rasa = RasaClient(rasa_url, rasa_token)
    app.ctx.sessions = Sessions(secret or os.environ.get("INBOX_SECRET")
                                or secrets.token_urlsafe(32))
    app.ctx.throttle = LoginThrottle()
    env_key = os.environ.get("AUDIT_KEY")
    app.ctx.audit_key = audit_key or (env_key.encode() if env_key else secrets.token_bytes(32))
    env = _templates()
    app.static("/static", str(HERE / "static"), name="static")
    rasa: RasaClient = app.ctx.rasa
    sessions: Sessions = app.ctx.sessions
    app.ctx.allowed_hosts = (frozenset(hosts) if hosts is not None
                             else allowed_hosts(os.environ.get("INBOX_HOST")))
    app.ctx.rate_limit = limits.RateLimit(
        limits.INBOX_REQUESTS_PER_ADDRESS_PER_MINUTE if requests_per_minute is None
        else requests_per_minute, 60)

    def audit(user: Any, action: str, target_type: str, target_id: Any) -> None:
        store.audit(user.username if hasattr(user, "username") else str(user), action,
                    target_type, target_id)

    def ref(cid: str) -> str:
        """How the audit log and the logs name a conversation: never its id (for WhatsApp,
        a phone number) but a keyed hash of it."""
        return audit_ref(app.ctx.audit_key, cid)

    def safe_path(request: Request) -> str:
        """The request's path with a conversation id in it replaced by its reference."""
        cid = (request.match_info or {}).get("cid") if request.route else None
        if cid is None:
            return request.path[:200]
        return "/" + request.route.path.replace("<cid:path>", ref(unquote(str(cid)))).lstrip("/")

    # --- rendering and errors ------------------------------------------------------
    def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTTPResponse:
        session = getattr(request.ctx, "session", None)
        ctx.setdefault("user", getattr(request.ctx, "user", None))
        ctx.setdefault("csrf", sessions.csrf(session) if session else "")
        return response.html(env.get_template(name).render(**ctx), status=status)

    def is_api(request: Request) -> bool:
        return request.path.startswith("/api/") or request.path == "/health"

    def problem(request: Request, status: int, message: str, **extra: Any) -> HTTPResponse:
        if is_api(request):
            headers = {"WWW-Authenticate": 'Bearer realm="inbox"'} if status == 401 else None
            return response.json({"error": message, **extra}, status=status, headers=headers)
        return render(request, "error.html", status=status, status_code=status, message=message)

    @app.exception(Problem)
    async def on_problem(request: Request, exc: Problem):
        return problem(request, exc.status, exc.message, **exc.extra)

    @app.exception(SanicException)
    async def on_sanic_error(request: Request, exc: SanicException):
        status = getattr(exc, "status_code", 500) or 500
        messages = {404: "not found", 405: "method not allowed",
                    413: f"request body too large (at most {MAX_BODY:,} bytes)"}
        message = messages.get(status) or (str(exc) if status < 500 else "internal error")
        return problem(request, status, message)

    @app.exception(Exception)
    async def on_error(request: Request, exc: Exception):
        # the class and the place, never the message nor the traceback's values: they can
        # hold what a person or an agent wrote (a database error quotes its parameters)
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
        logger.error("inbox: unexpected %s at %s on %s %s", exc.__class__.__name__, where,
                     request.method, safe_path(request))
        return problem(request, 500, "internal error")

    # --- host and rate limit (before anything else) ------------------------------------
    @app.middleware("request")
    async def host_and_rate(request: Request):
        wrong_host = host_problem(request.headers.get("host"), app.ctx.allowed_hosts)
        if wrong_host:
            return problem(request, 400, wrong_host)
        if request.path.startswith("/static/"):
            return None
        # the proxy's word for the address only when Sanic trusts it (SANIC_REAL_IP_HEADER)
        wait = app.ctx.rate_limit.hit(request.remote_addr or request.ip or "?")
        if wait:
            limit = app.ctx.rate_limit.limit
            seconds = limits.retry_after(wait)
            resp = problem(request, 429, f"too many requests from this address: at most "
                                         f"{limit} a minute; try again in {seconds} s")
            resp.headers["Retry-After"] = seconds
            return resp
        return None

    # --- authentication ------------------------------------------------------------
    @app.middleware("request")
    async def authenticate(request: Request):
        request.ctx.user, request.ctx.via, request.ctx.session = None, None, None
        header = request.headers.get("authorization") or ""
        if header[:7].lower() == "bearer ":
            user = store.user_by_token(header[7:].strip())
            if user is not None:
                request.ctx.user, request.ctx.via = user, "token"
            return
        cookie = request.cookies.get(COOKIE)
        session = sessions.peek(cookie)
        if session is None:
            return
        user = store.user(session.username)
        if user is not None and sessions.verify(cookie, user.password_hash) \
                and not session_ended(session):
            request.ctx.user, request.ctx.via, request.ctx.session = user, "cookie", session

    def session_ended(session: Any) -> bool:
        """Logged out, by this process or another one sharing the database (the audit log
        keeps `session_ended` entries; only those since the session began are looked at)."""
        with store.session() as s:
            since = dt.datetime.fromtimestamp(session.issued, dt.timezone.utc).replace(
                tzinfo=None) - dt.timedelta(seconds=5)
            ended = s.scalar(select(AuditEntry.id).where(
                AuditEntry.at >= since, AuditEntry.action == "session_ended",
                AuditEntry.target_type == "session",
                AuditEntry.target_id == Sessions.reference(session)).limit(1))
        if ended is not None:
            sessions.revoke(session)
        return ended is not None

    @app.middleware("response")
    async def security_headers(request: Request, resp: HTTPResponse):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Content-Security-Policy", CSP)
        if not request.path.startswith("/static/"):
            resp.headers.setdefault("Cache-Control", "no-store")

    def guard(roles: Iterable[str], api: bool):
        """Decorator: who may call the handler; CSRF for cookie-authenticated changes."""
        roles = tuple(roles)

        def wrap(handler: Callable[..., Awaitable[HTTPResponse]]):
            @functools.wraps(handler)
            async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
                user = request.ctx.user
                if user is None:
                    if api:
                        raise Problem(401, "authentication required: send "
                                           "'Authorization: Bearer <token>'")
                    target = request.path + (f"?{request.query_string}"
                                             if request.query_string else "")
                    return response.redirect("/login?" + urlencode({"next": target}))
                if user.role not in roles:
                    audit(user, "denied", "endpoint", f"{request.method} {safe_path(request)}"[:255])
                    raise Problem(403, f"your role ({user.role}) may not do this")
                if request.method not in ("GET", "HEAD") and request.ctx.via == "cookie":
                    token = request.headers.get("x-csrf-token")
                    if token is None and request.form:
                        token = request.form.get("csrf_token")
                    if not sessions.csrf_ok(request.ctx.session, token):
                        raise Problem(403, "missing or wrong CSRF token: reload the page")
                return await handler(request, *args, **kwargs)
            return guarded
        return wrap

    # --- core operations (shared by the JSON API and the web pages) ---------------------
    def get_ticket(ticket_id: int) -> Any:
        if not 1 <= ticket_id <= MAX_ID:  # 10**26 would overflow the database's integer
            raise Problem(404, f"no such ticket: ticket numbers go from 1 to {MAX_ID}")
        t = store.ticket(ticket_id)
        if t is None:
            raise Problem(404, f"no ticket {ticket_id}")
        return t

    async def load_transcript(t: Any) -> Tuple[List[Dict[str, Any]], str, Optional[str]]:
        snapshot = t.summary if isinstance(t.summary, dict) else {}
        try:
            tracker = await rasa.tracker(t.conversation_id)
            return S.transcript(tracker.get("events") or [], t.messages), "rasa", None
        except RasaError as exc:
            return (S.transcript(None, t.messages, snapshot), "handoff_snapshot",
                    f"{exc}; showing the transcript kept at handoff")

    async def ticket_detail(t: Any) -> Dict[str, Any]:
        lines, source, error = await load_transcript(t)
        out = {"ticket": S.ticket_row(t), "summary": S.ticket_summary(store, t),
               "transcript": lines, "transcript_source": source}
        if error:
            out["transcript_error"] = error
        return out

    def page_args(request: Request) -> Tuple[int, int]:
        """limit (default PAGE_SIZE, at most PAGE_MAX) and offset of a list page."""
        return (_whole(request, "limit", PAGE_SIZE, 1, PAGE_MAX),
                _whole(request, "offset", 0, 0, MAX_ID))

    def paging(total: int, limit: int, offset: int, shown: int) -> Dict[str, Any]:
        following = offset + shown
        return {"total": total, "limit": limit, "offset": offset,
                "next_offset": following if following < total else None,
                "previous_offset": max(0, offset - limit) if offset > 0 else None}

    def list_tickets(user: Any, statuses: List[str], limit: int = PAGE_SIZE,
                     offset: int = 0) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
        """One page of cases: most urgent first, then longest waiting."""
        with store.session() as s:
            where = Ticket.status.in_(statuses)
            total = s.scalar(select(func.count(Ticket.id)).where(where)) or 0
            rows = [S.ticket_row(t) for t in s.scalars(
                select(Ticket).where(where)
                .order_by(Ticket.urgency_rank, Ticket.created_at, Ticket.id)
                .offset(offset).limit(limit))]
        audit(user, "listed", "tickets", ",".join(statuses))
        return rows, paging(total, limit, offset, len(rows))

    def list_clinic(user: Any, limit: int = PAGE_SIZE,
                    offset: int = 0) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
        """One page of the clinic-mode conversations the user may read, most recent first."""
        if user.role != "admin" and not user.clinic_id:
            return [], paging(0, limit, offset, 0)
        with store.session() as s:
            where = [Conversation.mode == "clinic"]
            if user.role != "admin":
                where.append(Conversation.clinic_id == user.clinic_id)
            total = s.scalar(select(func.count(Conversation.id)).where(*where)) or 0
            convs = list(s.scalars(select(Conversation).where(*where)
                                   .order_by(Conversation.updated_at.desc(), Conversation.id)
                                   .offset(offset).limit(limit)))
        rows = [S.clinic_row(store, c) for c in convs]
        audit(user, "listed", "clinic_summaries", user.clinic_id or "*")
        return rows, paging(total, limit, offset, len(rows))

    def parse_statuses(raw: Optional[str]) -> List[str]:
        statuses = [s.strip() for s in (raw or "open,claimed").split(",") if s.strip()]
        bad = [s for s in statuses if s not in TICKET_STATES]
        if bad or not statuses:
            raise Problem(400, f"unknown status {', '.join(bad)[:100] or '(none)'}; "
                               f"use any of {', '.join(TICKET_STATES)}")
        return statuses

    def do_claim(user: Any, ticket_id: int) -> Any:
        t = get_ticket(ticket_id)
        if t.status == "resolved":
            raise Problem(409, "this case is already resolved")
        if t.status == "claimed" and t.claimed_by not in (None, user.username):
            raise Problem(409, f"already claimed by {t.claimed_by}")
        store.claim(ticket_id, user.username)
        audit(user, "claimed", "ticket", ticket_id)
        return store.ticket(ticket_id)

    async def do_reply(user: Any, ticket_id: int, text: str) -> Tuple[int, Dict[str, Any]]:
        t = get_ticket(ticket_id)
        if t.status == "resolved":
            raise Problem(409, "this case is resolved; the person is talking to the assistant")
        if t.status == "open":
            store.claim(ticket_id, user.username)
            audit(user, "claimed", "ticket", ticket_id)
        m = store.add_staff_message(ticket_id, user.username, "reply", text)
        audit(user, "replied", "ticket", ticket_id)
        message = {"id": m.id, "author": m.author, "kind": m.kind, "text": m.text,
                   "at": S.iso(m.created_at)}
        try:
            await rasa.append(t.conversation_id, [{
                "event": "bot", "text": text,
                "metadata": {"agent": user.username, "staff_message_id": m.id}}])
        except RasaError as exc:
            return 502, {"error": f"the reply is saved but was not delivered: {exc}",
                         "stored": True, "delivered": False, "message": message}
        return 200, {"stored": True, "delivered": True, "message": message}

    def do_note(user: Any, ticket_id: int, text: str) -> Dict[str, Any]:
        get_ticket(ticket_id)
        m = store.add_staff_message(ticket_id, user.username, "note", text)
        audit(user, "noted", "ticket", ticket_id)
        return {"stored": True, "message": {"id": m.id, "author": m.author, "kind": m.kind,
                                            "text": m.text, "at": S.iso(m.created_at)}}

    def resumed_text() -> str:
        return str((default_kb().raw.get("handoff") or {}).get("resumed") or DEFAULT_RESUMED)

    async def do_handback(user: Any, ticket_id: int) -> Tuple[int, Dict[str, Any]]:
        """The assistant takes the chat back. Rasa first: a hand-back that did not reach the
        person must not be recorded as done (the case stays with the team)."""
        t = get_ticket(ticket_id)
        if t.status == "resolved":
            raise Problem(409, "this case is already closed")
        try:
            await rasa.append(t.conversation_id, resume_events(
                {"event": "bot", "text": resumed_text(), "metadata": {"handback": user.username}}))
        except RasaError as exc:
            return 502, {"error": f"not handed back, the case stays open: {exc}",
                         "handed_back": False, "ticket": S.ticket_row(t)}
        store.close_ticket(ticket_id, resolved=False)
        audit(user, "handed_back", "ticket", ticket_id)
        return 200, {"handed_back": True, "ticket": S.ticket_row(store.ticket(ticket_id))}

    async def do_resolve(user: Any, ticket_id: int) -> Tuple[int, Dict[str, Any]]:
        """The team's decision is recorded whatever happens; then the assistant is resumed
        (a failure there is reported: the chat may still be paused)."""
        t = get_ticket(ticket_id)
        if t.status == "resolved":
            raise Problem(409, "this case is already resolved")
        store.close_ticket(ticket_id, resolved=True)
        audit(user, "resolved", "ticket", ticket_id)
        row = S.ticket_row(store.ticket(ticket_id))
        try:
            await rasa.append(t.conversation_id, resume_events())
        except RasaError as exc:
            return 200, {"resolved": True, "assistant_resumed": False, "ticket": row,
                         "warning": f"resolved, but the assistant was not resumed: {exc}"}
        return 200, {"resolved": True, "assistant_resumed": True, "ticket": row}

    def erased_text() -> str:
        return str((default_kb().raw.get("privacy") or {}).get("deleted") or DEFAULT_ERASED)

    async def do_erase(user: Any, ticket_id: int) -> Dict[str, Any]:
        """The person asked the agent to delete their data: tell them while their chat still
        exists, then erase everything about the conversation (intake, assessments, consent,
        cases with the staff's replies and notes, Rasa's tracker events). The erase happens
        whether or not the message reached them; the audit log names the conversation only
        by its keyed hash."""
        t = get_ticket(ticket_id)
        cid = t.conversation_id
        out: Dict[str, Any] = {"erased": True, "person_told": True}
        try:
            await rasa.append(cid, [{"event": "bot", "text": erased_text(),
                                     "metadata": {"erased_by": user.username}}])
        except RasaError as exc:
            out.update(person_told=False, warning=f"erased, but the person was not told: {exc}")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, functools.partial(
            store.delete_conversation, cid, actor=user.username))
        audit(user, "erased", "conversation", ref(cid))
        return out

    def clinic_conversation(user: Any, cid: str) -> Any:
        conv = store.conversation(cid) if len(cid) <= 255 else None
        if conv is None or conv.mode != "clinic":
            raise Problem(404, "no clinic summary for this conversation")
        if user.role != "admin" and (user.clinic_id is None or conv.clinic_id != user.clinic_id):
            audit(user, "denied", "clinic_summary", ref(cid))
            raise Problem(403, "this summary belongs to another clinic")
        return conv

    # --- public ----------------------------------------------------------------------
    @app.get("/health")
    async def health(request: Request):
        return response.json({"status": "ok"})

    @app.get("/favicon.ico")
    async def favicon(request: Request):
        return response.empty(status=204)

    def safe_next(target: Optional[str], user: Any = None) -> str:
        if target and target.startswith("/") and not target.startswith("//") \
                and "\\" not in target and not target.startswith("/login"):
            return target
        return "/clinic" if user is not None and user.role == "clinician" else "/"

    def login_page(request: Request, status: int = 200, error: Optional[str] = None,
                   username: str = "", target: str = "") -> HTTPResponse:
        """The login form, with a token bound to the pre-login cookie (set here if absent)."""
        nonce = request.cookies.get(LOGIN_COOKIE) or ""
        fresh = not (0 < len(nonce) <= 64)
        if fresh:
            nonce = sessions.login_nonce()
        resp = render(request, "login.html", status=status, next=target, error=error,
                      username=username, login_csrf=sessions.login_csrf(nonce))
        if fresh:
            resp.cookies[LOGIN_COOKIE] = nonce
            for key, value in (("httponly", True), ("samesite", "Strict"), ("path", "/"),
                               ("max-age", SESSION_SECONDS)):
                resp.cookies[LOGIN_COOKIE][key] = value
            if os.environ.get("INBOX_COOKIE_SECURE", "").lower() in ("1", "true", "yes"):
                resp.cookies[LOGIN_COOKIE]["secure"] = True
        return resp

    @app.get("/login")
    async def login_form(request: Request):
        if request.ctx.user is not None and request.ctx.via == "cookie":
            return response.redirect(safe_next(request.args.get("next"), request.ctx.user))
        return login_page(request, target=request.args.get("next") or "")

    @app.post("/login")
    async def login(request: Request):
        form = request.form or {}
        username = (form.get("username") or "").strip()[:64]
        password = form.get("password") or ""
        target = form.get("next") or ""
        if not sessions.login_csrf_ok(
                request.cookies.get(LOGIN_COOKIE), form.get("csrf_token")):
            return login_page(request, status=403, username=username, target=target,
                              error="This login form has expired or came from another site. "
                                    "Please try again.")
        throttle: LoginThrottle = app.ctx.throttle
        if throttle.blocked(username, request.ip):
            audit(username or "-", "login_blocked", "staff_user", username or "-")
            return login_page(request, status=429, username=username, target=target,
                              error="Too many failed attempts. Wait a few minutes and try again.")
        user = None
        if username and password and len(password) <= 1024:
            loop = asyncio.get_running_loop()
            user = await loop.run_in_executor(None, verify_password, store, username, password)
        if user is None:
            throttle.failed(username, request.ip)
            audit(username or "-", "login_failed", "staff_user", username or "-")
            return login_page(request, status=401, username=username, target=target,
                              error="Wrong username or password.")
        throttle.succeeded(username, request.ip)
        audit(user, "logged_in", "staff_user", user.username)
        resp = response.redirect(safe_next(target, user), status=303)
        resp.cookies[COOKIE] = sessions.issue(user.username, user.password_hash)
        for key, value in (("httponly", True), ("samesite", "Strict"), ("path", "/"),
                           ("max-age", SESSION_SECONDS)):
            resp.cookies[COOKIE][key] = value
        if os.environ.get("INBOX_COOKIE_SECURE", "").lower() in ("1", "true", "yes"):
            resp.cookies[COOKIE]["secure"] = True
        return resp

    @app.get("/logout")
    async def logout_form(request: Request):
        """Logging out changes something: only the page's POST form (with its CSRF token)
        does it; a link or an image pointing here from elsewhere cannot."""
        if request.ctx.session is None:
            return response.redirect("/login", status=303)
        return render(request, "logout.html")

    @app.post("/logout")
    async def logout(request: Request):
        if request.ctx.session is not None:
            form = request.form or {}
            token = request.headers.get("x-csrf-token") or form.get("csrf_token")
            if not sessions.csrf_ok(request.ctx.session, token):
                raise Problem(403, "missing or wrong CSRF token: reload the page")
            sessions.revoke(request.ctx.session)
            audit(request.ctx.user, "session_ended", "session",
                  Sessions.reference(request.ctx.session))
            audit(request.ctx.user, "logged_out", "staff_user", request.ctx.user.username)
        resp = response.redirect("/login", status=303)
        resp.cookies[COOKIE] = ""
        resp.cookies[COOKIE]["max-age"] = 0
        resp.cookies[COOKIE]["path"] = "/"
        resp.cookies[COOKIE]["httponly"] = True
        resp.cookies[COOKIE]["samesite"] = "Strict"
        return resp

    # --- JSON API: tickets ---------------------------------------------------------------
    @app.get("/api/tickets")
    @guard(TICKET_ROLES, api=True)
    async def api_tickets(request: Request):
        statuses = parse_statuses(request.args.get("status"))
        rows, page = list_tickets(request.ctx.user, statuses, *page_args(request))
        return response.json({"tickets": rows, **page})

    @app.get("/api/tickets/<ticket_id:int>")
    @guard(TICKET_ROLES, api=True)
    async def api_ticket(request: Request, ticket_id: int):
        detail = await ticket_detail(get_ticket(ticket_id))
        audit(request.ctx.user, "viewed", "ticket", ticket_id)
        return response.json(detail)

    @app.get("/api/tickets/<ticket_id:int>/events")
    @guard(TICKET_ROLES, api=True)
    async def api_ticket_events(request: Request, ticket_id: int):
        after = _whole(request, "after", 0, 0, MAX_ID)
        t = get_ticket(ticket_id)
        lines, source, error = await load_transcript(t)
        new = lines[after:]
        if new:  # polling every 2 s: only a poll that shows something new is a view
            audit(request.ctx.user, "viewed", "ticket_events", ticket_id)
        out = {"lines": new, "next": len(lines), "status": t.status,
               "claimed_by": t.claimed_by, "transcript_source": source}
        if error:
            out["transcript_error"] = error
        return response.json(out)

    @app.post("/api/tickets/<ticket_id:int>/claim")
    @guard(TICKET_ROLES, api=True)
    async def api_claim(request: Request, ticket_id: int):
        _json_body(request)
        return response.json({"ticket": S.ticket_row(do_claim(request.ctx.user, ticket_id))})

    @app.post("/api/tickets/<ticket_id:int>/reply")
    @guard(TICKET_ROLES, api=True)
    async def api_reply(request: Request, ticket_id: int):
        text = _text_of(_json_body(request))
        status, body = await do_reply(request.ctx.user, ticket_id, text)
        return response.json(body, status=status)

    @app.post("/api/tickets/<ticket_id:int>/note")
    @guard(TICKET_ROLES, api=True)
    async def api_note(request: Request, ticket_id: int):
        text = _text_of(_json_body(request))
        return response.json(do_note(request.ctx.user, ticket_id, text), status=201)

    @app.post("/api/tickets/<ticket_id:int>/handback")
    @guard(TICKET_ROLES, api=True)
    async def api_handback(request: Request, ticket_id: int):
        _json_body(request)
        status, body = await do_handback(request.ctx.user, ticket_id)
        return response.json(body, status=status)

    @app.post("/api/tickets/<ticket_id:int>/resolve")
    @guard(TICKET_ROLES, api=True)
    async def api_resolve(request: Request, ticket_id: int):
        _json_body(request)
        status, body = await do_resolve(request.ctx.user, ticket_id)
        return response.json(body, status=status)

    @app.post("/api/tickets/<ticket_id:int>/erase")
    @guard(TICKET_ROLES, api=True)
    async def api_erase(request: Request, ticket_id: int):
        body = _json_body(request)
        if not isinstance(body, dict) or body.get("confirm") is not True:
            raise Problem(400, 'erasing cannot be undone: send {"confirm": true} once the '
                               "person has asked for it")
        return response.json(await do_erase(request.ctx.user, ticket_id))

    # --- JSON API: clinic summaries --------------------------------------------------------
    @app.get("/api/clinic/summaries")
    @guard(CLINIC_ROLES, api=True)
    async def api_clinic_summaries(request: Request):
        rows, page = list_clinic(request.ctx.user, *page_args(request))
        return response.json({"summaries": rows, **page})

    # Links percent-encode the id (`_link_segment`) and these handlers decode it (Sanic
    # 21.12 hands a `path` parameter over raw, `unquote=True` notwithstanding), so any id
    # round-trips: WhatsApp's `whatsapp:+...`, ids with spaces, '/', '%' or accents.
    @app.get("/api/clinic/summaries/<cid:path>")
    @guard(CLINIC_ROLES, api=True)
    async def api_clinic_summary(request: Request, cid: str):
        cid = unquote(cid)
        conv = clinic_conversation(request.ctx.user, cid)
        body = S.clinic_summary(store, conv)
        audit(request.ctx.user, "viewed", "clinic_summary", ref(cid))
        return response.json(body)

    # --- JSON API: admin -------------------------------------------------------------------
    @app.get("/api/admin/audit")
    @guard(("admin",), api=True)
    async def api_audit(request: Request):
        limit = _whole(request, "limit", 200, 1, 5000)
        entries = [{"id": e.id, "at": S.iso(e.at), "actor": e.actor, "action": e.action,
                    "target_type": e.target_type, "target_id": e.target_id}
                   for e in store.audit_log(limit)]
        audit(request.ctx.user, "viewed", "audit_log", "*")
        return response.json({"entries": entries})

    @app.post("/api/admin/users")
    @guard(("admin",), api=True)
    async def api_create_user(request: Request):
        body = _json_body(request)
        if not isinstance(body, dict):
            raise Problem(400, "the body must be a JSON object")
        username, role = body.get("username"), body.get("role")
        password, clinic = body.get("password"), body.get("clinic_id")
        display = body.get("display_name")
        if not isinstance(username, str) or not USERNAME.match(username):
            raise Problem(400, "username: 2-64 letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise Problem(400, f"role must be one of {', '.join(ROLES)}")
        if password is not None:
            weak = password_problem(password, username)
            if weak:
                raise Problem(400, weak)
        if role == "clinician" and (not isinstance(clinic, str) or not clinic.strip()):
            raise Problem(400, "a clinician needs a clinic_id")
        if clinic is not None and (not isinstance(clinic, str) or len(clinic) > 64):
            raise Problem(400, "clinic_id must be a string of at most 64 characters")
        if display is not None and (not isinstance(display, str) or len(display) > 128):
            raise Problem(400, "display_name must be a string of at most 128 characters")
        if store.user(username) is not None:
            raise Problem(409, f"user {username} already exists")
        token = store.create_user(username, role, display, password, clinic)
        audit(request.ctx.user, "created_user", "staff_user", username)
        return response.json({"username": username, "role": role, "clinic_id": clinic,
                              "token": token}, status=201)

    # --- web pages -------------------------------------------------------------------------
    @app.get("/")
    async def index(request: Request):
        user = request.ctx.user
        if user is not None and user.role == "clinician":
            return response.redirect("/clinic")
        return await tickets_page(request)

    @guard(TICKET_ROLES, api=False)
    async def tickets_page(request: Request):
        statuses = parse_statuses(request.args.get("status"))
        rows, page = list_tickets(request.ctx.user, statuses, *page_args(request))
        base = {"status": ",".join(statuses)}
        if page["limit"] != PAGE_SIZE:
            base["limit"] = str(page["limit"])
        links = {k: "/?" + urlencode({**base, "offset": page[f"{k}_offset"]})
                 for k in ("next", "previous") if page[f"{k}_offset"] is not None}
        return render(request, "tickets.html", tickets=rows, statuses=statuses,
                      all_states=TICKET_STATES, page=page, links=links,
                      notice=notices.get(request.args.get("done") or ""))

    async def render_ticket(request: Request, ticket_id: int, status: int = 200,
                            error: Optional[str] = None, notice: Optional[str] = None,
                            draft: Optional[Dict[str, str]] = None) -> HTTPResponse:
        detail = await ticket_detail(get_ticket(ticket_id))
        audit(request.ctx.user, "viewed", "ticket", ticket_id)
        return render(request, "ticket.html", status=status, d=detail, t=detail["ticket"],
                      s=detail["summary"], error=error, notice=notice, draft=draft or {},
                      max_text=MAX_TEXT)

    notices = {"claim": "You claimed this case.", "reply": "Reply sent to the person.",
               "note": "Internal note added (not sent to the person).",
               "handback": "The assistant has the conversation back; the person was told.",
               "resolve": "Case resolved; the assistant is answering again.",
               "erase": "The person's data has been erased, and they were told in their chat.",
               "erase_untold": "The person's data has been erased, but the message telling "
                               "them could not be delivered."}

    @app.get("/tickets/<ticket_id:int>")
    @guard(TICKET_ROLES, api=False)
    async def ticket_page(request: Request, ticket_id: int):
        done = request.args.get("done")
        return await render_ticket(request, ticket_id, notice=notices.get(done))

    @app.post("/tickets/<ticket_id:int>/<action:str>")
    @guard(TICKET_ROLES, api=False)
    async def ticket_form(request: Request, ticket_id: int, action: str):
        """The page's forms (work without JavaScript): do it, then show the case again."""
        if action not in ACTIONS:
            raise Problem(404, "not found")
        user, form = request.ctx.user, request.form or {}
        text = form.get("text") or ""
        back = f"/tickets/{ticket_id}?done={action}"
        try:
            if action == "claim":
                do_claim(user, ticket_id)
            elif action in ("reply", "note"):
                text = _text_of({"text": text})
                if action == "note":
                    do_note(user, ticket_id, text)
                else:
                    status, body = await do_reply(user, ticket_id, text)
                    if status != 200:
                        return await render_ticket(request, ticket_id, status=status,
                                                   error=body["error"])
            elif action == "handback":
                status, body = await do_handback(user, ticket_id)
                if status != 200:
                    return await render_ticket(request, ticket_id, status=status,
                                               error=body["error"])
            elif action == "erase":
                if form.get("confirm") != "yes":
                    raise Problem(400, "tick the box to confirm that the person asked for "
                                       "their data to be erased")
                body = await do_erase(user, ticket_id)
                return response.redirect(
                    "/?done=" + ("erase" if body["person_told"] else "erase_untold"), status=303)
            else:
                status, body = await do_resolve(user, ticket_id)
                if body.get("warning"):
                    return await render_ticket(request, ticket_id, error=body["warning"])
        except Problem as exc:
            if exc.status == 404:
                raise
            return await render_ticket(request, ticket_id, status=exc.status, error=exc.message,
                                       draft={action: text})
        return response.redirect(back, status=303)

    @app.get("/clinic")
    @guard(CLINIC_ROLES, api=False)
    async def clinic_page(request: Request):
        rows, page = list_clinic(request.ctx.user, *page_args(request))
        base = {} if page["limit"] == PAGE_SIZE else {"limit": str(page["limit"])}
        links = {k: "/clinic?" + urlencode({**base, "offset": page[f"{k}_offset"]})
                 for k in ("next", "previous") if page[f"{k}_offset"] is not None}
        return render(request, "clinic_list.html", rows=rows, page=page, links=links,
                      link_segment=_link_segment)

    @app.get("/clinic/<cid:path>")
    @guard(CLINIC_ROLES, api=False)
    async def clinic_summary_page(request: Request, cid: str):
        cid = unquote(cid)
        conv = clinic_conversation(request.ctx.user, cid)
        body = S.clinic_summary(store, conv)
        audit(request.ctx.user, "viewed", "clinic_summary", ref(cid))
        return render(request, "clinic_summary.html", s=body)

    return app
