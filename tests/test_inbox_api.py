"""The support agents' inbox (inbox/app.py) over HTTP: the real Sanic app served on a free
loopback port, a real Store on a temporary SQLite file, and - in the last tests - the real
Rasa server and action server (tools.servers)."""
import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import pytest

from actions.storage import Store
from actions.triage.engine import assess
from inbox.app import create_app
from inbox.ids import audit_ref
from inbox.server import free_port, serve_in_thread
from tools.servers import TOKEN, running_assistant

ROOT = Path(__file__).resolve().parents[1]
XSS = "<script>alert(1)</script>"
HOME = json.loads((ROOT / "examples" / "home_suitable.json").read_text())
AUDIT_KEY = b"test-audit-key-0123456789"


def ref(cid: str) -> str:
    """How the audit log names a conversation (a keyed hash, never the id)."""
    return audit_ref(AUDIT_KEY, cid)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """urllib with JSON helpers; keeps cookies; never follows redirects."""

    def __init__(self, base: str, token: Optional[str] = None):
        self.base, self.token = base, token
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            NoRedirect, urllib.request.HTTPCookieProcessor(self.jar))

    def request(self, method: str, path: str, body: Any = None, raw: Optional[bytes] = None,
                form: Optional[Dict[str, str]] = None,
                headers: Optional[Dict[str, str]] = None) -> Tuple[int, Any, Any]:
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with self.opener.open(req, timeout=30) as r:
                status, text, h = r.status, r.read().decode(), r.headers
        except urllib.error.HTTPError as e:
            status, text, h = e.code, e.read().decode(), e.headers
        ctype = h.get("Content-Type", "")
        return status, (json.loads(text) if "json" in ctype and text else text), h

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw):
        return self.request("POST", path, body=body, **kw)


def seed_users(store: Store) -> Dict[str, str]:
    return {
        "admin": store.create_user("ada", "admin", "Ada Admin", "admin-password"),
        "agent": store.create_user("alex", "agent", "Alex Agent", "agent-password"),
        "agent2": store.create_user("bea", "agent", "Bea Agent", "agent2-password"),
        "clin_a": store.create_user("cleo", "clinician", "Cleo", "clin-password", clinic_id="A"),
        "clin_b": store.create_user("cody", "clinician", "Cody", "clin-password", clinic_id="B"),
    }


def handoff_summary(intake: Dict[str, Any], reason: str = "request_human",
                    transcript=None) -> Dict[str, Any]:
    a = assess(intake)
    return {"reason": reason, "disposition": a["disposition"], "reasons": a["reasons"],
            "missing": a["missing"], "rules_version": a["rules_version"], "intake": intake,
            "transcript": transcript or [{"who": "person", "text": "hello", "at": time.time()}],
            "consent": True}


def open_ticket(store: Store, cid: str, urgency: str = "professional_consult",
                intake: Optional[Dict[str, Any]] = None, **kw) -> int:
    intake = intake or {"age": 30, "facts": {"pregnant": True}}
    return store.open_ticket(cid, kw.pop("reason", "request_human"), urgency,
                             kw.pop("summary", None) or handoff_summary(intake),
                             kw.pop("channel", "rest"), kw.pop("mode", "shop"), **kw)


@pytest.fixture
def env(tmp_path):
    """A fresh database, the staff, and the inbox on a free port with NO Rasa behind it."""
    store = Store(f"sqlite:///{tmp_path}/t.db")
    store.migrate()
    tokens = seed_users(store)
    dead_rasa = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = create_app(store, dead_rasa, "some-token", secret="test-secret-0123456789",
                     audit_key=AUDIT_KEY)
    with serve_in_thread(app) as base:
        yield store, tokens, base


def as_(base: str, token: Optional[str]) -> Client:
    return Client(base, token)


def actions_of(store: Store):
    return [(e.actor, e.action, e.target_type, e.target_id) for e in store.audit_log(1000)]


# --- authentication and roles --------------------------------------------------------------
def test_health_needs_no_auth(env):
    _, _, base = env
    assert as_(base, None).get("/health")[:2] == (200, {"status": "ok"})


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/tickets"), ("GET", "/api/tickets/1"), ("POST", "/api/tickets/1/claim"),
    ("POST", "/api/tickets/1/reply"), ("GET", "/api/tickets/1/events"),
    ("GET", "/api/clinic/summaries"), ("GET", "/api/admin/audit"), ("POST", "/api/admin/users")])
def test_api_without_token_is_401(env, method, path):
    _, _, base = env
    status, body, headers = as_(base, None).request(method, path)
    assert status == 401 and "error" in body
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert as_(base, "not-a-token").request(method, path)[0] == 401


def test_pages_without_login_redirect_to_login(env):
    _, _, base = env
    for path in ("/", "/tickets/1", "/clinic", "/clinic/x"):
        status, _, headers = as_(base, None).get(path)
        assert status in (302, 303) and headers["Location"].startswith("/login?next=")


def test_agent_gets_403_on_admin_endpoints(env):
    store, tokens, base = env
    agent = as_(base, tokens["agent"])
    assert agent.get("/api/admin/audit")[0] == 403
    status, body, _ = agent.post("/api/admin/users", {"username": "eve", "role": "admin"})
    assert status == 403 and "error" in body
    assert store.user("eve") is None
    assert ("alex", "denied", "endpoint", "GET /api/admin/audit") in actions_of(store)


def test_admin_reads_audit_and_creates_users(env):
    store, tokens, base = env
    admin = as_(base, tokens["admin"])
    status, body, _ = admin.post("/api/admin/users", {"username": "dora", "role": "clinician",
                                                      "clinic_id": "A", "password": "reads the clinic list"})
    assert status == 201 and body["token"]
    assert as_(base, body["token"]).get("/api/clinic/summaries")[0] == 200
    assert admin.post("/api/admin/users", {"username": "dora", "role": "agent"})[0] == 409
    assert admin.post("/api/admin/users", {"username": "x y", "role": "agent"})[0] == 400
    assert admin.post("/api/admin/users", {"username": "zed", "role": "boss"})[0] == 400
    assert admin.post("/api/admin/users", {"username": "zed", "role": "clinician"})[0] == 400
    status, body, _ = admin.get("/api/admin/audit?limit=50")
    assert status == 200
    assert any((e["actor"], e["action"], e["target_type"], e["target_id"])
               == ("ada", "created_user", "staff_user", "dora") for e in body["entries"])
    assert ("ada", "viewed", "audit_log", "*") in actions_of(store)


def test_clinicians_see_only_their_clinic(env):
    store, tokens, base = env
    for cid, clinic in (("clinic-a-1", "A"), ("clinic-b-1", "B")):
        store.save_intake(cid, HOME, channel="rest", mode="clinic", clinic_id=clinic)
        store.save_assessment(cid, HOME, assess(HOME))
    store.save_intake("shop-1", HOME, channel="rest", mode="shop")
    store.record_consent("clinic-a-1", True, "rest")
    clin_a = as_(base, tokens["clin_a"])

    status, body, _ = clin_a.get("/api/clinic/summaries")
    assert status == 200
    assert [r["conversation_id"] for r in body["summaries"]] == ["clinic-a-1"]

    status, body, _ = clin_a.get("/api/clinic/summaries/clinic-a-1")
    assert status == 200
    assert body["disposition"] == "home_suitable" and body["clinic_id"] == "A"
    assert body["consent"]["given"] is True
    assert body["facts"]["absent"][0]["pertinent"] is True  # pertinent negatives first
    assert clin_a.get("/api/clinic/summaries/clinic-b-1")[0] == 403
    assert clin_a.get("/api/clinic/summaries/shop-1")[0] == 404
    assert clin_a.get("/api/clinic/summaries/nobody")[0] == 404
    assert as_(base, tokens["clin_b"]).get("/api/clinic/summaries/clinic-b-1")[0] == 200
    assert as_(base, tokens["admin"]).get("/api/clinic/summaries/clinic-b-1")[0] == 200
    assert as_(base, tokens["agent"]).get("/api/clinic/summaries/clinic-a-1")[0] == 403
    # clinicians never reach tickets
    open_ticket(store, "clinic-a-1", mode="clinic", clinic_id="A")
    for method, path in (("GET", "/api/tickets"), ("GET", "/api/tickets/1"),
                         ("POST", "/api/tickets/1/claim"), ("POST", "/api/tickets/1/note")):
        assert clin_a.request(method, path)[0] == 403
    log = actions_of(store)
    assert ("cleo", "viewed", "clinic_summary", ref("clinic-a-1")) in log
    assert ("cleo", "denied", "clinic_summary", ref("clinic-b-1")) in log


def test_clinic_summary_with_reasons_and_sources(env):
    store, tokens, base = env
    intake = dict(HOME, facts={**HOME["facts"], "anticoagulant": True})
    store.save_intake("c1", intake, channel="rest", mode="clinic", clinic_id="A")
    store.save_assessment("c1", intake, assess(intake))
    status, body, _ = as_(base, tokens["clin_a"]).get("/api/clinic/summaries/c1")
    assert status == 200 and body["disposition"] == "professional_consult"
    reason = next(r for r in body["reasons"] if r["rule"] == "anticoagulant")
    assert reason["sources"] and all(s["title"] for s in reason["sources"])
    present = body["facts"]["present"]
    assert present[0] == {"id": "anticoagulant", "label": present[0]["label"], "value": True,
                          "pertinent": True}


# --- tickets -------------------------------------------------------------------------------
def test_ticket_list_sorted_by_urgency_then_waiting(env):
    store, tokens, base = env
    ids = {}
    for cid, urgency in (("c-prof-old", "professional_consult"), ("c-urgent", "urgent_care"),
                         ("c-prof-new", "professional_consult"), ("c-emerg", "emergency"),
                         ("c-home", "home_with_precautions")):
        ids[cid] = open_ticket(store, cid, urgency)
        time.sleep(0.02)
    done = open_ticket(store, "c-done", "emergency")
    store.close_ticket(done, resolved=True)
    status, body, _ = as_(base, tokens["agent"]).get("/api/tickets?status=open,claimed")
    assert status == 200
    order = [t["conversation_id"] for t in body["tickets"]]
    assert order == ["c-emerg", "c-urgent", "c-prof-old", "c-prof-new", "c-home"]
    first = body["tickets"][0]
    assert {"id", "conversation_id", "reason", "urgency", "status", "waiting_seconds",
            "claimed_by", "channel", "mode"} <= set(first)
    profs = [t for t in body["tickets"] if t["urgency"] == "professional_consult"]
    assert profs[0]["waiting_seconds"] >= profs[1]["waiting_seconds"]
    status, body, _ = as_(base, tokens["agent"]).get("/api/tickets?status=resolved")
    assert [t["id"] for t in body["tickets"]] == [done]
    assert as_(base, tokens["agent"]).get("/api/tickets?status=bogus")[0] == 400
    assert ("alex", "listed", "tickets", "open,claimed") in actions_of(store)


def test_ticket_detail_summary_first_then_transcript(env):
    store, tokens, base = env
    intake = dict(HOME, facts={**HOME["facts"], "pregnant": True, "cold_sore_history": None},
                  red_flags=["pus"])
    tid = open_ticket(store, "c1", "urgent_care", intake=intake)
    store.record_consent("c1", True, "rest")
    status, body, _ = as_(base, tokens["agent"]).get(f"/api/tickets/{tid}")
    assert status == 200
    assert list(body)[:3] == ["ticket", "summary", "transcript"]
    s = body["summary"]
    assert s["disposition"] == "urgent_care" and s["channel"] == "rest" and s["mode"] == "shop"
    assert s["consent"]["given"] is True
    assert [r["rule"] for r in s["reasons"]][:2] == ["red_flag_infection_or_reaction", "pregnant"]
    assert s["reasons"][1]["sources"][0]["title"].startswith("SkinPen")
    # pertinent positives first: the warning sign, then the fact behind a reason
    present = s["facts"]["present"]
    assert [f["id"] for f in present[:2]] == ["red_flag:pus", "pregnant"]
    assert all(f["pertinent"] for f in present[:2])
    # pertinent negatives: the critical questions answered "no", in asking order
    absent = s["facts"]["absent"]
    assert absent[0]["id"] == "breastfeeding" and absent[0]["pertinent"]
    assert not absent[-1]["pertinent"]  # e.g. a non-critical "no" comes last
    assert [f["id"] for f in s["facts"]["unknown"]] == ["cold_sore_history"]
    # Rasa is not running: the transcript kept at handoff, said so
    assert body["transcript_source"] == "handoff_snapshot" and body["transcript_error"]
    assert body["transcript"][0]["who"] == "person"
    assert "some-token" not in json.dumps(body)
    assert as_(base, tokens["agent"]).get("/api/tickets/999")[0] == 404
    assert ("alex", "viewed", "ticket", str(tid)) in actions_of(store)


def test_claim_note_resolve_change_state_and_are_audited(env):
    store, tokens, base = env
    tid = open_ticket(store, "c1")
    agent = as_(base, tokens["agent"])

    status, body, _ = agent.post(f"/api/tickets/{tid}/claim")
    assert status == 200 and body["ticket"]["status"] == "claimed"
    t = store.ticket(tid)
    assert (t.status, t.claimed_by) == ("claimed", "alex")
    assert as_(base, tokens["agent2"]).post(f"/api/tickets/{tid}/claim")[0] == 409

    status, body, _ = agent.post(f"/api/tickets/{tid}/note", {"text": "  check dates  "})
    assert status == 201 and body["message"]["kind"] == "note"
    assert [(m.kind, m.author, m.text) for m in store.ticket(tid).messages] == [
        ("note", "alex", "check dates")]

    status, body, _ = agent.get(f"/api/tickets/{tid}/events?after=0")
    assert status == 200 and body["lines"][-1]["who"] == "note" and body["next"] == 2
    status, body, _ = agent.get(f"/api/tickets/{tid}/events?after=2")
    assert body["lines"] == [] and body["status"] == "claimed"
    assert agent.get(f"/api/tickets/{tid}/events?after=x")[0] == 400

    status, body, _ = agent.post(f"/api/tickets/{tid}/resolve")
    assert status == 200 and body["resolved"] is True
    assert body["assistant_resumed"] is False and "not resumed" in body["warning"]
    assert store.ticket(tid).status == "resolved" and store.ticket(tid).resolved_at
    assert store.conversation("c1").status == "closed"
    assert agent.post(f"/api/tickets/{tid}/resolve")[0] == 409
    assert agent.post(f"/api/tickets/{tid}/claim")[0] == 409

    log = actions_of(store)
    for action in ("claimed", "noted", "resolved"):
        assert ("alex", action, "ticket", str(tid)) in log
    assert ("alex", "viewed", "ticket_events", str(tid)) in log


def test_reply_and_handback_without_rasa_are_502_and_reply_is_kept(env):
    store, tokens, base = env
    tid = open_ticket(store, "c1")
    agent = as_(base, tokens["agent"])
    status, body, _ = agent.post(f"/api/tickets/{tid}/reply", {"text": "Hello, I'm Alex."})
    assert status == 502
    assert "not delivered" in body["error"] and "could not reach" in body["error"]
    assert body["stored"] is True and body["delivered"] is False
    assert "some-token" not in body["error"]
    t = store.ticket(tid)
    assert [(m.kind, m.text) for m in t.messages] == [("reply", "Hello, I'm Alex.")]
    assert t.status == "claimed" and t.claimed_by == "alex"  # replying claims an open case
    status, body, _ = agent.get(f"/api/tickets/{tid}")
    assert body["transcript"][-1]["who"] == "agent"

    status, body, _ = agent.post(f"/api/tickets/{tid}/handback")
    assert status == 502 and body["handed_back"] is False and "error" in body
    assert store.ticket(tid).status == "claimed"  # nothing reached the person: still ours
    assert ("alex", "replied", "ticket", str(tid)) in actions_of(store)


@pytest.mark.parametrize("raw,why", [
    (b"{not json", "malformed JSON"), (b'"just a string"', "JSON object"),
    (b'{"text": ""}', "must not be empty"), (b'{"text": "   "}', "must not be empty"),
    (b'{}', "text is required"), (b'{"text": 42}', "text is required"),
    (json.dumps({"text": "x" * 4001}).encode(), "too long")])
def test_bad_input_is_400_with_a_clear_error(env, raw, why):
    store, tokens, base = env
    tid = open_ticket(store, "c1")
    agent = as_(base, tokens["agent"])
    for action in ("reply", "note"):
        status, body, _ = agent.post(f"/api/tickets/{tid}/{action}", raw=raw,
                                     headers={"Content-Type": "application/json"})
        assert status == 400 and why in body["error"]
    assert store.ticket(tid).messages == []


def test_text_of_exactly_4000_characters_is_accepted(env):
    store, tokens, base = env
    tid = open_ticket(store, "c1")
    status, _, _ = as_(base, tokens["agent"]).post(f"/api/tickets/{tid}/note", {"text": "y" * 4000})
    assert status == 201


def test_unknown_ticket_is_404(env):
    _, tokens, base = env
    agent = as_(base, tokens["agent"])
    for action in ("claim", "handback", "resolve"):
        assert agent.post(f"/api/tickets/4242/{action}")[0] == 404
    for action in ("reply", "note"):
        assert agent.post(f"/api/tickets/4242/{action}", {"text": "hi"})[0] == 404
    assert agent.get("/api/tickets/4242/events")[0] == 404


# --- web pages -----------------------------------------------------------------------------
def login_form(c: "Client") -> str:
    """Opens the login page (which sets the pre-login cookie) and returns its CSRF token."""
    status, html, _ = c.get("/login")
    assert status == 200, status
    return csrf_of(html)


def try_login(c: "Client", username: str, password: str):
    return c.request("POST", "/login", form={"username": username, "password": password,
                                             "csrf_token": login_form(c)})


def login(base: str, username: str, password: str) -> Client:
    c = Client(base)
    status, _, headers = try_login(c, username, password)
    assert status == 303, status
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return c


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


def test_login_logout_and_csrf(env):
    store, _, base = env
    c = Client(base)
    status, html, _ = try_login(c, "alex", "nope")
    assert status == 401 and "Wrong username or password" in html
    c = login(base, "alex", "agent-password")
    status, html, _ = c.get("/")
    assert status == 200 and "<h1>Cases</h1>" in html
    tid = open_ticket(store, "c1")
    # a change without the session's CSRF token is refused, with it it is done
    assert c.request("POST", f"/tickets/{tid}/claim", form={})[0] == 403
    assert c.request("POST", f"/tickets/{tid}/claim", form={"csrf_token": "0" * 32})[0] == 403
    status, _, headers = c.request("POST", f"/tickets/{tid}/claim", form={"csrf_token": csrf_of(html)})
    assert status == 303 and headers["Location"] == f"/tickets/{tid}?done=claim"
    assert store.ticket(tid).claimed_by == "alex"
    # the cookie also works for the JSON API the page polls
    assert c.get(f"/api/tickets/{tid}/events?after=0")[0] == 200
    c.request("POST", "/logout", form={"csrf_token": csrf_of(html)})
    assert c.get("/")[0] == 302
    log = actions_of(store)
    assert ("alex", "login_failed", "staff_user", "alex") in log
    assert ("alex", "logged_in", "staff_user", "alex") in log


def test_tampered_cookie_is_rejected(env):
    _, _, base = env
    c = login(base, "alex", "agent-password")
    for cookie in c.jar:
        cookie.value = cookie.value[:-1] + ("0" if cookie.value[-1] != "0" else "1")
    assert c.get("/")[0] == 302


def test_clinician_pages(env):
    store, _, base = env
    store.save_intake("c-a", HOME, channel="rest", mode="clinic", clinic_id="A")
    store.save_assessment("c-a", HOME, assess(HOME))
    store.save_intake("c-b", HOME, channel="rest", mode="clinic", clinic_id="B")
    c = login(base, "cleo", "clin-password")
    assert c.get("/")[2]["Location"] == "/clinic"
    status, html, _ = c.get("/clinic")
    assert status == 200 and "c-a" in html and "c-b" not in html
    status, html, _ = c.get("/clinic/c-a")
    assert status == 200 and "Pre-consultation summary" in html and "home suitable" in html
    assert c.get("/clinic/c-b")[0] == 403
    assert c.get("/tickets/1")[0] == 403
    css = Client(base).get("/static/inbox.css")[1]
    assert "@media print" in css


def test_user_text_is_escaped_in_the_ticket_page(env):
    store, tokens, base = env
    intake = {"age": 30, "facts": {"pregnant": True}}
    summary = handoff_summary(intake, transcript=[{"who": "person", "text": f"hi {XSS}",
                                                   "at": time.time()}])
    summary["reasons"][0]["message"] = f"evil {XSS}"
    tid = open_ticket(store, "c-xss", "do_not_treat", summary=summary)
    store.add_staff_message(tid, "alex", "note", f"note {XSS}")
    c = login(base, "alex", "agent-password")
    status, html, _ = c.get(f"/tickets/{tid}")
    assert status == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # transcript, reason, note
    # the only scripts are our own static files
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/ticket.js" defer>']
    # summary first, then the transcript
    assert html.index('id="h-disposition"') < html.index('id="h-facts"') < html.index('id="transcript"')
    for label in ("Claim", "Send reply", "Add note", "Hand back to assistant", "Resolve"):
        assert f">{label}</button>" in html
    status, html, _ = as_(base, tokens["agent"]).get(f"/tickets/{tid}")
    assert status == 200 and "<script>alert" not in html
    # a page form keeps a too-long reply and says why
    c2 = login(base, "alex", "agent-password")
    page = c2.get(f"/tickets/{tid}")[1]
    status, html, _ = c2.request("POST", f"/tickets/{tid}/note",
                                 form={"csrf_token": csrf_of(page), "text": XSS + "z" * 4000})
    assert status == 400 and "too long" in html and "<script>alert" not in html


# --- with the real Rasa server and action server ---------------------------------------------
@pytest.fixture(scope="session")
def real_assistant(tmp_path_factory):
    """The real servers (tools.servers) on a database the inbox shares with them."""
    db = tmp_path_factory.mktemp("inbox-real") / "triage.db"
    with running_assistant(database_url=f"sqlite:///{db}") as bot:
        yield bot


def rasa_post_events(bot, sender: str, events) -> Dict[str, Any]:
    req = urllib.request.Request(
        f"{bot.url}/conversations/{sender}/tracker/events?token={TOKEN}",
        data=json.dumps(events).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_reply_and_handback_reach_the_real_rasa_tracker(real_assistant):
    bot = real_assistant
    sender = f"inbox-api-{int(time.time() * 1000)}"
    assert bot.say(sender, "hi")  # the assistant answers through the REST channel
    # what the handoff action does: the assistant goes quiet, a case is opened
    assert rasa_post_events(bot, sender, [{"event": "pause"}])["paused"] is True
    store = Store(bot.database_url)
    agent_token = store.create_user(f"agent-{sender}", "agent", password="agent-password")
    tid = store.open_ticket(sender, "request_human", "professional_consult",
                            handoff_summary({"age": 30}), "rest", "shop")
    app = create_app(store, bot.url, TOKEN, secret="test-secret-0123456789")
    with serve_in_thread(app) as base:
        agent = Client(base, agent_token)
        status, body, _ = agent.post(f"/api/tickets/{tid}/reply",
                                     {"text": "Hi, this is a person from the team."})
        assert status == 200, body
        assert body["delivered"] is True
        events = bot.tracker(sender)["events"]
        bots = [e for e in events if e["event"] == "bot"]
        assert bots[-1]["text"] == "Hi, this is a person from the team."
        assert bots[-1]["metadata"]["agent"] == f"agent-{sender}"

        status, body, _ = agent.get(f"/api/tickets/{tid}")
        assert body["transcript_source"] == "rasa"
        who = [(line["who"], line["text"]) for line in body["transcript"]]
        assert ("person", "hi") in who
        assert who.count(("agent", "Hi, this is a person from the team.")) == 1  # no duplicate
        seen = len(body["transcript"])

        # the person writes while the assistant is paused: only the inbox sees it
        assert bot.say(sender, "thank you, and is 0.5 mm ok?") == []
        status, body, _ = agent.get(f"/api/tickets/{tid}/events?after={seen}")
        assert [(line["who"], line["text"]) for line in body["lines"]] == [
            ("person", "thank you, and is 0.5 mm ok?")]

        n_events = len(bot.tracker(sender)["events"])
        status, body, _ = agent.post(f"/api/tickets/{tid}/handback")
        assert status == 200 and body["handed_back"] is True
        tracker = bot.tracker(sender)
        new = tracker["events"][n_events:]
        assert [e["event"] for e in new][:2] == ["resume", "bot"]
        assert "assistant" in new[1]["text"]
        assert tracker["paused"] is False
        assert store.ticket(tid).status == "resolved"
        assert store.conversation(sender).status == "bot"
        assert bot.say(sender, "hi")  # the assistant answers again
        log = actions_of(store)
        for action in ("replied", "handed_back", "viewed"):
            assert (f"agent-{sender}", action, "ticket", str(tid)) in log
