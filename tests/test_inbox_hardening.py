"""Step 6 hardening of the agents' inbox (issue 10), through the real servers: the real inbox
on a free loopback port over a real Store, and - where the item is about Rasa - the real Rasa
server and action server (tools.servers).

- item 3: conversation ids of every channel (WhatsApp `whatsapp:+...`, Telegram numbers,
  socket.io session ids, ids with '/' or '%') round-trip through the inbox and Rasa's HTTP API;
  an id Rasa cannot address is refused with a clear reason; clinic-list links work for any id;
- item 16: bad numbers in paths and queries get a 4xx with a one-line reason;
- item 13: the case and clinic lists are paginated;
- items 11 and 12: an agent erases a person's data; the audit log names no conversation id;
- item 9: `python -m inbox` generates the first admin's password and token, and refuses
  default secrets unless bound to loopback;
- item 17: login lockout per username and address, the same time whether the user exists,
  CSRF on login and logout, password rules.
"""
import html as htmllib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Dict, List

import pytest

from actions.storage import Store
from inbox.app import create_app
from inbox.server import free_port, serve_in_thread
from test_inbox_api import (AUDIT_KEY, HOME, Client, as_, csrf_of, handoff_summary, login,
                            open_ticket, ref, seed_users, try_login)
from tools.servers import TOKEN, running_assistant

ROOT = Path(__file__).resolve().parents[1]
WHATSAPP = "whatsapp:+14155550123"
# what each channel produces: Twilio's WhatsApp sender, a Telegram chat and a group, the
# socket.io channel's session id (uuid4().hex, or the widget's own), and ids with '/' and '%'
CHANNEL_IDS = [WHATSAPP, "123456789", "-1001234567890", "5f0c2a9be0b84bd7a1c2d3e4f5a6b7c8",
               "Xk2_f-9aQ", "shop/branch-2/visitor-7", "100%-sure"]
UNADDRESSABLE = ["web visitor 7", "José", "what?", "a#b"]


@pytest.fixture
def env(tmp_path):
    """A fresh database, the staff, and the inbox on a free port with NO Rasa behind it."""
    store = Store(f"sqlite:///{tmp_path}/t.db")
    store.migrate()
    tokens = seed_users(store)
    dead_rasa = f"http://127.0.0.1:{free_port()}"
    app = create_app(store, dead_rasa, "some-token", secret="test-secret-0123456789",
                     audit_key=AUDIT_KEY)
    with serve_in_thread(app) as base:
        yield store, tokens, base


def audit_text(store: Store) -> str:
    return json.dumps([[e.actor, e.action, e.target_type, e.target_id]
                       for e in store.audit_log(5000)])


# --- item 3: ids through the inbox and Rasa's HTTP API ----------------------------------------
@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Rasa + action server + the inbox on one database, and an agent."""
    db = tmp_path_factory.mktemp("inbox-hardening") / "triage.db"
    with running_assistant(database_url=f"sqlite:///{db}") as bot:
        store = Store(bot.database_url)
        token = store.create_user("hana", "agent", "Hana Agent", "hana reads cases")
        app = create_app(store, bot.url, TOKEN, secret="hardening-secret-0123456789",
                         audit_key=AUDIT_KEY)
        with serve_in_thread(app) as base:
            yield bot, store, base, token


def rasa_raw(bot, method: str, cid_in_path: str, suffix: str, body=None):
    """Rasa's HTTP API with the id exactly as given in the path (http.client sends it as is)."""
    host = bot.url.split("//")[1]
    conn = http.client.HTTPConnection(host, timeout=30)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, f"/conversations/{cid_in_path}/{suffix}?token={TOKEN}", body=data,
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    out = json.loads(r.read() or b"null")
    conn.close()
    assert r.status == 200, (r.status, out)
    return out


def person_says(bot, cid: str, text: str) -> None:
    """What a channel does with the person's message, minus the channel: the user event in the
    conversation's tracker (then the handoff pauses the assistant)."""
    rasa_raw(bot, "POST", cid, "tracker/events", [
        {"event": "user", "text": text, "timestamp": time.time(),
         "parse_data": {"intent": {"name": "request_human", "confidence": 1.0},
                        "entities": [], "text": text}},
        {"event": "pause"}])


def bot_texts(tracker) -> List[str]:
    return [e.get("text") for e in tracker["events"] if e["event"] == "bot"]


@pytest.mark.parametrize("cid", CHANNEL_IDS)
def test_channel_ids_round_trip_through_the_inbox_and_rasa(stack, cid):
    bot, store, base, token = stack
    said = f"I need a person please ({cid})"
    person_says(bot, cid, said)
    assert rasa_raw(bot, "GET", cid, "tracker")["paused"] is True
    tid = store.open_ticket(cid, "request_human", "professional_consult",
                            handoff_summary({"age": 30}), "twilio", "clinic", "A")
    agent = Client(base, token)

    # the inbox shows the person's messages (from Rasa's tracker, not the handoff snapshot)
    status, body, _ = agent.get(f"/api/tickets/{tid}")
    assert status == 200 and body["transcript_source"] == "rasa", body.get("transcript_error")
    assert ("person", said) in [(line["who"], line["text"]) for line in body["transcript"]]

    # the reply lands in the person's real conversation, and nowhere else
    reply = f"Hello, this is Hana ({cid})"
    status, body, _ = agent.post(f"/api/tickets/{tid}/reply", {"text": reply})
    assert status == 200 and body["delivered"] is True, body
    assert bot_texts(rasa_raw(bot, "GET", cid, "tracker"))[-1] == reply
    encoded = urllib.parse.quote(cid, safe="")
    if encoded != cid:  # what the inbox used to address: a new, empty conversation
        assert reply not in bot_texts(rasa_raw(bot, "GET", encoded, "tracker"))

    # resolving resumes the real chat
    status, body, _ = agent.post(f"/api/tickets/{tid}/resolve")
    assert status == 200 and body["assistant_resumed"] is True, body
    assert rasa_raw(bot, "GET", cid, "tracker")["paused"] is False


@pytest.mark.parametrize("cid", UNADDRESSABLE)
def test_an_id_rasa_cannot_address_is_refused_with_a_clear_reason(stack, cid):
    bot, store, base, token = stack
    tid = store.open_ticket(cid, "request_human", "professional_consult",
                            handoff_summary({"age": 30}), "rest", "shop")
    agent = Client(base, token)
    status, body, _ = agent.get(f"/api/tickets/{tid}")
    assert status == 200 and body["transcript_source"] == "handoff_snapshot"
    assert "cannot address" in body["transcript_error"]
    reply = f"Hello from the team ({cid})"
    status, body, _ = agent.post(f"/api/tickets/{tid}/reply", {"text": reply})
    assert status == 502 and body["delivered"] is False and body["stored"] is True
    assert "cannot address" in body["error"]
    # nothing went to the conversation the percent-encoded id names
    assert reply not in bot_texts(rasa_raw(bot, "GET", urllib.parse.quote(cid, safe=""),
                                           "tracker"))
    status, body, _ = agent.post(f"/api/tickets/{tid}/resolve")
    assert status == 200 and body["assistant_resumed"] is False
    assert "cannot address" in body["warning"]


def test_clinic_list_links_work_for_every_id(env):
    store, tokens, base = env
    ids = CHANNEL_IDS + UNADDRESSABLE + ["..", ".", "a%2Fb", "<b>x</b>"]
    for cid in ids:
        store.save_intake(cid, HOME, channel="twilio", mode="clinic", clinic_id="A")
    for who, password in (("cleo", "clin-password"), ("ada", "admin-password")):
        c = login(base, who, password)
        status, page, _ = c.get("/clinic")
        assert status == 200 and "<b>x</b>" not in page
        links = [htmllib.unescape(h) for h in re.findall(r'href="(/clinic/[^"]+)"', page)]
        assert len(links) == len(ids)
        shown = set()
        for link in links:
            status, summary, _ = c.get(link)
            assert status == 200, (link, status)
            shown.add(htmllib.unescape(re.search(r"<dt>Conversation</dt><dd><code>(.*?)</code>",
                                                 summary, re.S).group(1)))
        assert shown == set(ids)
    clin = as_(base, tokens["clin_a"])
    for cid in ids:
        status, body, _ = clin.get("/api/clinic/summaries/" + urllib.parse.quote(cid, safe=""))
        assert status == 200 and body["conversation_id"] == cid


# --- item 10 (inbox part): an unexpected error logs no text -----------------------------------
def test_an_unexpected_error_logs_no_text_and_no_conversation_id(tmp_path, caplog):
    store = Store(f"sqlite:///{tmp_path}/t.db")
    store.migrate()
    tokens = seed_users(store)
    tid = open_ticket(store, WHATSAPP)
    store.save_intake(WHATSAPP, HOME, channel="twilio", mode="clinic", clinic_id="A")

    class Failing(Store):
        def add_staff_message(self, ticket_id, author, kind, text):
            raise RuntimeError(f"database refused: {text}")

        def conversation(self, cid):
            raise RuntimeError(f"database refused: {cid}")

    failing = Failing(store.url, engine=store.engine)
    app = create_app(failing, f"http://127.0.0.1:{free_port()}", "some-token",
                     secret="test-secret-0123456789", audit_key=AUDIT_KEY)
    with serve_in_thread(app) as base, caplog.at_level("INFO"):
        status, body, _ = as_(base, tokens["agent"]).post(
            f"/api/tickets/{tid}/note", {"text": "she is pregnant and on isotretinoin"})
        assert (status, body) == (500, {"error": "internal error"})
        status, body, _ = as_(base, tokens["clin_a"]).get(
            "/api/clinic/summaries/" + urllib.parse.quote(WHATSAPP, safe=""))
        assert (status, body) == (500, {"error": "internal error"})
    logged = caplog.text
    assert "RuntimeError" in logged and ref(WHATSAPP) in logged
    assert "pregnant" not in logged and "isotretinoin" not in logged
    assert "14155550123" not in logged


# --- item 16: bad numbers -------------------------------------------------------------------
@pytest.mark.parametrize("method,path", [
    ("GET", "/api/tickets/100000000000000000000000000"),
    ("GET", "/api/tickets/100000000000000000000000000/events"),
    ("POST", "/api/tickets/100000000000000000000000000/claim"),
    ("POST", "/api/tickets/2147483648/resolve"),
    ("GET", "/api/tickets/" + "9" * 5000),
    ("GET", "/api/tickets/0")])
def test_huge_or_impossible_ticket_ids_are_404_with_a_reason(env, method, path):
    _, tokens, base = env
    status, body, _ = as_(base, tokens["agent"]).request(method, path)
    assert status == 404 and isinstance(body, dict) and body["error"], (status, body)
    assert "\n" not in body["error"] and len(body["error"]) < 200


def test_huge_ticket_id_in_a_page_is_404(env):
    _, _, base = env
    c = login(base, "alex", "agent-password")
    status, page, _ = c.get("/tickets/100000000000000000000000000")
    assert status == 404 and "Not found" in page


@pytest.mark.parametrize("query", ["after=²", "after=٣", "after=-1", "after=1e3", "after=0x10",
                                   "after=" + "9" * 40])
def test_bad_after_is_400(env, query):
    store, tokens, base = env
    tid = open_ticket(store, "c1")
    status, body, _ = as_(base, tokens["agent"]).get(
        f"/api/tickets/{tid}/events?" + urllib.parse.quote(query, safe="="))
    assert status == 400 and "after must be a whole number" in body["error"]


BAD_NUMBERS = ["²", "-5", "1.5", "99999999999999"]


@pytest.mark.parametrize("path,name,value", [
    *[(path, "limit", v) for path in ("/api/admin/audit?limit=", "/api/tickets?limit=",
                                      "/api/clinic/summaries?limit=") for v in BAD_NUMBERS + ["0"]],
    *[("/api/tickets?offset=", "offset", v) for v in BAD_NUMBERS],
    *[("/api/clinic/summaries?offset=", "offset", v) for v in BAD_NUMBERS]])
def test_bad_limits_are_400(env, path, name, value):
    _, tokens, base = env
    status, body, _ = as_(base, tokens["admin"]).get(path + urllib.parse.quote(value))
    assert status == 400 and f"{name} must be a whole number" in body["error"], body
    assert "\n" not in body["error"]


def test_deeply_nested_json_is_400(env):
    store, tokens, base = env
    tid = open_ticket(store, "c1")
    status, body, _ = as_(base, tokens["agent"]).post(
        f"/api/tickets/{tid}/note", raw=b"[" * 60000, headers={"Content-Type": "application/json"})
    assert status == 400 and "malformed JSON" in body["error"]


# --- item 13: pagination --------------------------------------------------------------------
def test_the_case_list_is_paginated(env):
    store, tokens, base = env
    ids = [open_ticket(store, f"c-{i:03d}", "professional_consult") for i in range(60)]
    agent = as_(base, tokens["agent"])
    status, first, _ = agent.get("/api/tickets")
    assert status == 200 and len(first["tickets"]) == 50
    assert (first["total"], first["limit"], first["offset"], first["next_offset"]) == (60, 50, 0, 50)
    status, second, _ = agent.get("/api/tickets?offset=50")
    assert len(second["tickets"]) == 10 and second["next_offset"] is None
    assert second["previous_offset"] == 0
    assert [t["id"] for t in first["tickets"] + second["tickets"]] == ids  # longest waiting first
    status, body, _ = agent.get("/api/tickets?limit=200")
    assert len(body["tickets"]) == 60
    assert agent.get("/api/tickets?limit=201")[0] == 400
    # the page: 50 rows and a link to the rest
    c = login(base, "alex", "agent-password")
    status, page, _ = c.get("/")
    assert status == 200 and page.count('<a href="/tickets/') == 50
    assert "60 cases" in page
    nxt = htmllib.unescape(re.search(r'<a href="([^"]+)" rel="next">', page).group(1))
    status, page, _ = c.get(nxt)
    assert status == 200 and page.count('<a href="/tickets/') == 10 and 'rel="prev"' in page


def test_the_clinic_list_is_paginated(env):
    store, tokens, base = env
    for i in range(55):
        store.save_intake(f"clin-{i:03d}", HOME, channel="rest", mode="clinic", clinic_id="A")
    clin = as_(base, tokens["clin_a"])
    status, body, _ = clin.get("/api/clinic/summaries")
    assert len(body["summaries"]) == 50 and body["total"] == 55 and body["next_offset"] == 50
    status, rest, _ = clin.get("/api/clinic/summaries?offset=50")
    assert len(rest["summaries"]) == 5
    seen = {r["conversation_id"] for r in body["summaries"] + rest["summaries"]}
    assert len(seen) == 55
    c = login(base, "cleo", "clin-password")
    status, page, _ = c.get("/clinic")
    assert page.count('<a href="/clinic/') == 50 and 'rel="next"' in page


# --- items 11 and 12: erase, and an audit log that names no conversation --------------------
def test_the_audit_log_never_names_a_conversation(env):
    store, tokens, base = env
    store.save_intake(WHATSAPP, HOME, channel="twilio", mode="clinic", clinic_id="A")
    assert as_(base, tokens["clin_a"]).get(
        "/api/clinic/summaries/" + urllib.parse.quote(WHATSAPP, safe=""))[0] == 200
    assert as_(base, tokens["clin_b"]).get(
        "/api/clinic/summaries/" + urllib.parse.quote(WHATSAPP, safe=""))[0] == 403
    assert as_(base, tokens["agent"]).get("/api/clinic/summaries/" + WHATSAPP)[0] == 403
    c = login(base, "cleo", "clin-password")
    assert c.get("/clinic/" + urllib.parse.quote(WHATSAPP, safe=""))[0] == 200
    log = audit_text(store)
    assert "14155550123" not in log and WHATSAPP not in log
    assert ref(WHATSAPP) in log  # still traceable, by its keyed hash
    keyed = [e for e in store.audit_log(100) if e.target_type == "clinic_summary"]
    assert keyed and all(e.target_id == ref(WHATSAPP) for e in keyed)


def test_an_agent_erases_a_persons_data_on_request(stack):
    bot, store, base, token = stack
    cid = "whatsapp:+4915112345678"
    person_says(bot, cid, "please delete everything, I'm pregnant by the way")
    store.save_intake(cid, {"age": 29, "facts": {"pregnant": True}}, channel="twilio",
                      mode="clinic", clinic_id="A")
    store.record_consent(cid, True, "twilio")
    tid = store.open_ticket(cid, "request_human", "do_not_treat",
                            handoff_summary({"age": 29, "facts": {"pregnant": True}}),
                            "twilio", "clinic", "A")
    agent = Client(base, token)
    assert agent.post(f"/api/tickets/{tid}/note", {"text": "asked to erase"})[0] == 201
    status, body, _ = agent.post(f"/api/tickets/{tid}/erase", {})
    assert status == 400 and "confirm" in body["error"]
    assert store.ticket(tid) is not None

    status, body, _ = agent.post(f"/api/tickets/{tid}/erase", {"confirm": True})
    assert status == 200 and body == {"erased": True, "person_told": True}
    assert store.ticket(tid) is None and store.conversation(cid) is None
    assert store.intake(cid) is None and store.consent(cid) is None
    tracker = rasa_raw(bot, "GET", cid, "tracker")
    assert not [e for e in tracker["events"] if e["event"] in ("user", "bot")]
    assert agent.get(f"/api/tickets/{tid}")[0] == 404
    log = audit_text(store)
    assert "4915112345678" not in log
    assert ["hana", "erased", "conversation", ref(cid)] in json.loads(log)


def test_the_erase_form_needs_the_confirmation(env):
    store, _, base = env
    tid = open_ticket(store, "c-erase")
    c = login(base, "alex", "agent-password")
    status, page, _ = c.get(f"/tickets/{tid}")
    assert ">Erase the person's data</button>" in page
    csrf = csrf_of(page)
    status, page, _ = c.request("POST", f"/tickets/{tid}/erase", form={"csrf_token": csrf})
    assert status == 400 and "tick the box" in page and store.ticket(tid) is not None
    status, _, headers = c.request("POST", f"/tickets/{tid}/erase",
                                   form={"csrf_token": csrf, "confirm": "yes"})
    assert status == 303 and headers["Location"] == "/?done=erase_untold"  # no Rasa here
    assert store.ticket(tid) is None and store.conversation("c-erase") is None
    status, page, _ = c.get(headers["Location"])
    assert "has been erased" in page


# --- item 9: default credentials --------------------------------------------------------------
def run_inbox(tmp_path: Path, extra: Dict[str, str], db: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("INBOX_", "RASA_", "DATABASE_URL", "AUDIT_KEY"))}
    env.update({"DATABASE_URL": db, "AUDIT_KEY": "audit-key-for-the-test-0123",
                "RASA_URL": f"http://127.0.0.1:{free_port()}", "PYTHONUNBUFFERED": "1",
                **extra})
    return subprocess.Popen([sys.executable, "-m", "inbox"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def test_first_start_generates_the_admin_password_and_token(tmp_path):
    db = f"sqlite:///{tmp_path}/first.db"
    port = free_port()
    proc = run_inbox(tmp_path, {"INBOX_PORT": str(port)}, db)
    lines: List[str] = []
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
            if line.startswith("inbox: http://"):
                break
        out = "".join(lines)
        password = re.search(r"password (\S+) \(generated", out).group(1)
        token = re.search(r"API token (\S+) \(generated", out).group(1)
        assert len(password) >= 16 and len(token) >= 24 and "admin-dev-token" not in out
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        assert try_login(Client(base), "admin", "admin")[0] == 401
        assert try_login(Client(base), "admin", password)[0] == 303
        assert as_(base, token).get("/api/tickets")[0] == 200
        assert as_(base, "admin-dev-token").get("/api/tickets")[0] == 401
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        proc.stdout.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_default_secrets_are_refused_unless_on_loopback(tmp_path, host):
    db = f"sqlite:///{tmp_path}/defaults.db"
    # no RASA_TOKEN: the local default
    proc = run_inbox(tmp_path, {"INBOX_HOST": host, "INBOX_PORT": str(free_port())}, db)
    out = proc.communicate(timeout=90)[0]
    assert proc.returncode == 2, out
    assert "refusing to listen" in out and "RASA_TOKEN" in out
    # an old database whose admin still has admin / admin-dev-token
    store = Store(db)
    store.create_user("admin", "admin", "Administrator", "admin", None, "admin-dev-token")
    proc = run_inbox(tmp_path, {"INBOX_HOST": host, "INBOX_PORT": str(free_port()),
                                "RASA_TOKEN": "a-real-token-0123456789abcdef"}, db)
    out = proc.communicate(timeout=90)[0]
    assert proc.returncode == 2, out
    assert "password of the 'admin' account" in out and "API token" in out
    assert "RASA_TOKEN" not in out


# --- item 17: login ----------------------------------------------------------------------------
def raw_login(base: str, username: str, password: str, source: str) -> int:
    """Logs in from the given loopback address (127.0.0.x): the form, then the POST."""
    host, port = base.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    conn.request("GET", "/login")
    r = conn.getresponse()
    page = r.read().decode()
    cookie = r.getheader("Set-Cookie").split(";")[0]
    form = urllib.parse.urlencode({"username": username, "password": password,
                                   "csrf_token": csrf_of(page)})
    conn.request("POST", "/login", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status


def test_failed_logins_lock_one_username_from_one_address_only(env):
    _, _, base = env
    for _ in range(5):
        assert raw_login(base, "alex", "wrong password", "127.0.0.1") == 401
    assert raw_login(base, "alex", "agent-password", "127.0.0.1") == 429
    # the account is not locked for everybody, nor the address for every account
    assert raw_login(base, "alex", "agent-password", "127.0.0.2") == 303
    assert raw_login(base, "bea", "agent2-password", "127.0.0.1") == 303


def test_login_takes_as_long_for_an_unknown_username(env):
    _, _, base = env

    def timed(username: str) -> float:
        c = Client(base)
        form = {"username": username, "password": "not the password",
                "csrf_token": csrf_of(c.get("/login")[1])}
        start = time.perf_counter()
        assert c.request("POST", "/login", form=form)[0] == 401
        return time.perf_counter() - start

    known = sorted(timed("alex") for _ in range(3))[1]
    unknown = sorted(timed(f"nobody-{i}") for i in range(3))[1]
    assert unknown > 0.5 * known, (known, unknown)


def test_login_and_logout_need_their_csrf_tokens(env):
    _, _, base = env
    c = Client(base)
    # a login posted from elsewhere: no pre-login cookie, no token
    status, page, headers = c.request("POST", "/login", form={"username": "alex",
                                                              "password": "agent-password"})
    assert status == 403 and "inbox_session" not in (headers.get("Set-Cookie") or "")
    token = csrf_of(c.get("/login")[1])
    other = Client(base)  # the token without its cookie
    assert other.request("POST", "/login", form={"username": "alex", "password": "agent-password",
                                                 "csrf_token": token})[0] == 403
    assert c.request("POST", "/login", form={"username": "alex", "password": "agent-password",
                                             "csrf_token": "0" * 32})[0] == 403
    c = login(base, "alex", "agent-password")
    # logging out: a GET or a POST without the token does nothing
    assert c.get("/logout")[0] == 200 and c.get("/")[0] == 200
    assert c.request("POST", "/logout", form={})[0] == 403 and c.get("/")[0] == 200
    page = c.get("/")[1]
    assert c.request("POST", "/logout", form={"csrf_token": csrf_of(page)})[0] == 303
    assert c.get("/")[0] == 302


def session_cookie(c: Client) -> str:
    return next(k.value for k in c.jar if k.name == "inbox_session")


def test_logging_out_holds_after_a_restart(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/restart.db")
    store.migrate()
    seed_users(store)
    dead_rasa = f"http://127.0.0.1:{free_port()}"

    def inbox():
        return serve_in_thread(create_app(store, dead_rasa, "some-token",
                                          secret="restart-secret-0123456789",
                                          audit_key=AUDIT_KEY))
    with inbox() as base:
        gone, kept = login(base, "alex", "agent-password"), login(base, "bea", "agent2-password")
        ended_cookie, kept_cookie = session_cookie(gone), session_cookie(kept)
        page = gone.get("/")[1]
        assert gone.request("POST", "/logout", form={"csrf_token": csrf_of(page)})[0] == 303
        assert as_(base, None).get("/", headers={"Cookie": f"inbox_session={ended_cookie}"}
                                   )[0] == 302
    with inbox() as base:  # a new process: same database and secret, empty memory
        assert as_(base, None).get("/", headers={"Cookie": f"inbox_session={kept_cookie}"}
                                   )[0] == 200
        assert as_(base, None).get("/", headers={"Cookie": f"inbox_session={ended_cookie}"}
                                   )[0] == 302
    assert "agent-password" not in audit_text(store) and ended_cookie not in audit_text(store)


@pytest.mark.parametrize("password,why", [
    ("password", "12 to 256"), ("short1!", "12 to 256"), ("Password123!", "too common"),
    ("qwertyuiop123", "too common"), ("aaaaaaaaaaaaaa", "repeats"),
    ("abcdefghijklmnop", "run"), ("welcome-welcome", "common"), ("newbie-is-great", "username"),
    ("x" * 257, "12 to 256")])
def test_weak_passwords_are_refused(env, password, why):
    store, tokens, base = env
    status, body, _ = as_(base, tokens["admin"]).post(
        "/api/admin/users", {"username": "newbie", "role": "agent", "password": password})
    assert status == 400 and why in body["error"], body
    assert store.user("newbie") is None
