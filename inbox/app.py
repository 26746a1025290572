"""The support agents' inbox: a Sanic app over actions.storage and Rasa's HTTP API.

    app = create_app(Store(), "http://127.0.0.1:5005", "local-dev-token")

Roles: agents and admins handle tickets; clinicians read their own clinic's clinic-mode
summaries; admins also read the audit log and create staff accounts. Every view and every
change is written to the audit log (who, what, which record).
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Tuple
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.storage import ROLES, TICKET_STATES, Store
from actions.triage.engine import default_kb

from . import summary as S
from .auth import COOKIE, SESSION_SECONDS, LoginThrottle, Sessions
from .rasa import RasaClient, RasaError, resume_events
from .server import unique_app_name

HERE = Path(__file__).resolve().parent
MAX_TEXT = 4000
MAX_BODY = 64 * 1024
TICKET_ROLES = ("agent", "admin")
CLINIC_ROLES = ("clinician", "admin")
ACTIONS = ("claim", "reply", "note", "handback", "resolve")
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
DEFAULT_RESUMED = "I'm back: the assistant is answering again."
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


def create_app(store: Store, rasa_url: str, rasa_token: str,
               secret: Optional[str] = None) -> Sanic:
    """The inbox app. `secret` signs session cookies (default: env INBOX_SECRET, else a
    random secret, so sessions end when the process restarts)."""
    app = Sanic(unique_app_name("inbox"))
    app.config.REQUEST_MAX_SIZE = MAX_BODY
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.store = store
    app.ctx.rasa = RasaClient(rasa_url, rasa_token)
    app.ctx.sessions = Sessions(secret or os.environ.get("INBOX_SECRET")
                                or secrets.token_urlsafe(32))
    app.ctx.throttle = LoginThrottle()
    env = _templates()
    app.static("/static", str(HERE / "static"), name="static")
    rasa: RasaClient = app.ctx.rasa
    sessions: Sessions = app.ctx.sessions

    def audit(user: Any, action: str, target_type: str, target_id: Any) -> None:
        store.audit(user.username if hasattr(user, "username") else str(user), action,
                    target_type, target_id)

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
        logger.exception("inbox: unexpected error on %s %s", request.method, request.path)
        return problem(request, 500, "internal error")

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
        if user is not None and sessions.verify(cookie, user.password_hash):
            request.ctx.user, request.ctx.via, request.ctx.session = user, "cookie", session

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
                    audit(user, "denied", "endpoint", f"{request.method} {request.path}"[:255])
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

    def list_tickets(user: Any, statuses: List[str]) -> List[Dict[str, Any]]:
        rows = [S.ticket_row(t) for t in store.tickets(statuses)]
        audit(user, "listed", "tickets", ",".join(statuses))
        return rows

    def parse_statuses(raw: Optional[str]) -> List[str]:
        statuses = [s.strip() for s in (raw or "open,claimed").split(",") if s.strip()]
        bad = [s for s in statuses if s not in TICKET_STATES]
        if bad or not statuses:
            raise Problem(400, f"unknown status {', '.join(bad) or '(none)'}; "
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

    def clinic_conversation(user: Any, cid: str) -> Any:
        conv = store.conversation(cid)
        if conv is None or conv.mode != "clinic":
            raise Problem(404, "no clinic summary for this conversation")
        if user.role != "admin" and (user.clinic_id is None or conv.clinic_id != user.clinic_id):
            audit(user, "denied", "clinic_summary", cid)
            raise Problem(403, "this summary belongs to another clinic")
        return conv

    def visible_clinic_conversations(user: Any) -> List[Any]:
        if user.role == "admin":
            return store.clinic_conversations(None)
        if not user.clinic_id:
            return []
        return store.clinic_conversations(user.clinic_id)

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

    @app.get("/login")
    async def login_form(request: Request):
        if request.ctx.user is not None and request.ctx.via == "cookie":
            return response.redirect(safe_next(request.args.get("next"), request.ctx.user))
        return render(request, "login.html", next=request.args.get("next") or "", error=None,
                      username="")

    @app.post("/login")
    async def login(request: Request):
        form = request.form or {}
        username = (form.get("username") or "").strip()[:64]
        password = form.get("password") or ""
        target = form.get("next") or ""
        keys = (f"user:{username.lower()}", f"ip:{request.ip}")
        if app.ctx.throttle.blocked(*keys):
            audit(username or "-", "login_blocked", "staff_user", username or "-")
            return render(request, "login.html", status=429, next=target, username=username,
                          error="Too many failed attempts. Wait a few minutes and try again.")
        loop = asyncio.get_running_loop()
        user = await loop.run_in_executor(None, store.user_by_password, username, password) \
            if username and password else None
        if user is None:
            app.ctx.throttle.failed(*keys)
            audit(username or "-", "login_failed", "staff_user", username or "-")
            return render(request, "login.html", status=401, next=target, username=username,
                          error="Wrong username or password.")
        app.ctx.throttle.succeeded(*keys)
        audit(user, "logged_in", "staff_user", user.username)
        resp = response.redirect(safe_next(target, user), status=303)
        resp.cookies[COOKIE] = sessions.issue(user.username, user.password_hash)
        for key, value in (("httponly", True), ("samesite", "Strict"), ("path", "/"),
                           ("max-age", SESSION_SECONDS)):
            resp.cookies[COOKIE][key] = value
        if os.environ.get("INBOX_COOKIE_SECURE", "").lower() in ("1", "true", "yes"):
            resp.cookies[COOKIE]["secure"] = True
        return resp

    @app.route("/logout", methods=["GET", "POST"])
    async def logout(request: Request):
        if request.ctx.session is not None:
            sessions.revoke(request.ctx.session)
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
        return response.json({"tickets": list_tickets(request.ctx.user, statuses)})

    @app.get("/api/tickets/<ticket_id:int>")
    @guard(TICKET_ROLES, api=True)
    async def api_ticket(request: Request, ticket_id: int):
        detail = await ticket_detail(get_ticket(ticket_id))
        audit(request.ctx.user, "viewed", "ticket", ticket_id)
        return response.json(detail)

    @app.get("/api/tickets/<ticket_id:int>/events")
    @guard(TICKET_ROLES, api=True)
    async def api_ticket_events(request: Request, ticket_id: int):
        raw = request.args.get("after", "0")
        if not raw.isdigit():
            raise Problem(400, "after must be a whole number (the index of the next line)")
        after = int(raw)
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

    # --- JSON API: clinic summaries --------------------------------------------------------
    @app.get("/api/clinic/summaries")
    @guard(CLINIC_ROLES, api=True)
    async def api_clinic_summaries(request: Request):
        user = request.ctx.user
        rows = [S.clinic_row(store, c) for c in visible_clinic_conversations(user)]
        audit(user, "listed", "clinic_summaries", user.clinic_id or "*")
        return response.json({"summaries": rows})

    @app.get("/api/clinic/summaries/<cid:path>")
    @guard(CLINIC_ROLES, api=True)
    async def api_clinic_summary(request: Request, cid: str):
        conv = clinic_conversation(request.ctx.user, cid)
        body = S.clinic_summary(store, conv)
        audit(request.ctx.user, "viewed", "clinic_summary", cid)
        return response.json(body)

    # --- JSON API: admin -------------------------------------------------------------------
    @app.get("/api/admin/audit")
    @guard(("admin",), api=True)
    async def api_audit(request: Request):
        raw = request.args.get("limit", "200")
        if not raw.isdigit() or not 1 <= int(raw) <= 5000:
            raise Problem(400, "limit must be a whole number from 1 to 5000")
        entries = [{"id": e.id, "at": S.iso(e.at), "actor": e.actor, "action": e.action,
                    "target_type": e.target_type, "target_id": e.target_id}
                   for e in store.audit_log(int(raw))]
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
        if password is not None and (not isinstance(password, str) or len(password) < 8
                                     or len(password) > 256):
            raise Problem(400, "password must be 8 to 256 characters")
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
        rows = list_tickets(request.ctx.user, statuses)
        return render(request, "tickets.html", tickets=rows, statuses=statuses,
                      all_states=TICKET_STATES)

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
               "resolve": "Case resolved; the assistant is answering again."}

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
        user = request.ctx.user
        rows = [S.clinic_row(store, c) for c in visible_clinic_conversations(user)]
        audit(user, "listed", "clinic_summaries", user.clinic_id or "*")
        return render(request, "clinic_list.html", rows=rows, quote=quote)

    @app.get("/clinic/<cid:path>")
    @guard(CLINIC_ROLES, api=False)
    async def clinic_summary_page(request: Request, cid: str):
        conv = clinic_conversation(request.ctx.user, cid)
        body = S.clinic_summary(store, conv)
        audit(request.ctx.user, "viewed", "clinic_summary", cid)
        return render(request, "clinic_summary.html", s=body)

    return app
