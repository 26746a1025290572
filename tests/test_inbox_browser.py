"""The inbox in a real browser: headless Chromium (Debian package) driven by Playwright for
Python, against the real inbox, the real Rasa server and action server.

Installs what it needs when it is missing (never skips): `apt-get install -y chromium`
(Debian) and `pip install playwright==1.47.0` into this interpreter's environment. Playwright's
own browser download (`playwright install`) is never used.
"""
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from actions.storage import Store
from inbox.app import create_app
from inbox.server import serve_in_thread
from tools.servers import TOKEN, running_assistant

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
PLAYWRIGHT = "playwright==1.47.0"
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync"]


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200, **kw)


def ensure_chromium() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    sudo = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if sudo is None or not shutil.which("apt-get"):
        pytest.fail(f"{CHROMIUM} is missing and cannot be installed here (needs apt-get as "
                    "root): install the Debian package 'chromium'")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = _run(sudo + ["apt-get", "install", "-y", "--no-install-recommends", "chromium"], env=env)
    if done.returncode != 0:  # package lists may be missing: refresh once and retry
        _run(sudo + ["apt-get", "update"], env=env)
        done = _run(sudo + ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                    env=env)
    assert done.returncode == 0 and os.path.exists(CHROMIUM), done.stderr[-2000:]
    return CHROMIUM


def ensure_playwright():
    try:
        return importlib.import_module("playwright.sync_api")
    except ImportError:
        done = _run([sys.executable, "-m", "pip", "install", PLAYWRIGHT])
        assert done.returncode == 0, done.stderr[-2000:]
        importlib.invalidate_caches()
        return importlib.import_module("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    chromium = ensure_chromium()
    sync_api = ensure_playwright()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Rasa + action server + inbox on one database, an agent account and one open case."""
    db = tmp_path_factory.mktemp("inbox-browser") / "triage.db"
    with running_assistant(database_url=f"sqlite:///{db}") as bot:
        store = Store(bot.database_url)
        store.create_user("alex", "agent", "Alex Agent", "agent-password")
        sender = f"browser-{int(time.time() * 1000)}"
        assert bot.say(sender, "hi")
        req = urllib.request.Request(  # what the handoff action does: the assistant goes quiet
            f"{bot.url}/conversations/{sender}/tracker/events?token={TOKEN}",
            data=json.dumps([{"event": "pause"}]).encode(),
            headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).read()
        tid = store.open_ticket(sender, "request_human", "urgent_care", {
            "reason": "request_human", "disposition": "urgent_care",
            "reasons": [{"rule": "red_flag_infection_or_reaction", "level": "urgent_care",
                         "message": "What you describe can be an infection.",
                         "sources": ["chu-2021", "cdc-2024"]}],
            "intake": {"age": 41, "red_flags": ["pus"], "facts": {"pregnant": False}},
            "consent": True}, "rest", "shop")
        app = create_app(store, bot.url, TOKEN, secret="browser-secret-0123456789")
        with serve_in_thread(app) as base:
            yield bot, store, base, sender, tid


def test_agent_logs_in_replies_sees_live_messages_and_resolves(browser, stack):
    bot, store, base, sender, tid = stack
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15000)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # log in (the login page is where an unauthenticated visit lands)
    page.goto(base + "/")
    assert page.url.startswith(base + "/login")
    page.get_by_label("Username").fill("alex")
    page.get_by_label("Password").fill("agent-password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")
    assert page.get_by_role("heading", name="Cases").is_visible()

    # the list, then the case: summary first, transcript below
    page.get_by_role("link", name=f"Case #{tid}").click()
    page.wait_for_url(f"{base}/tickets/{tid}")
    assert page.get_by_role("heading", name="Assessment").is_visible()
    summary_y = page.locator("#h-disposition").bounding_box()["y"]
    assert page.locator("#transcript").bounding_box()["y"] > summary_y
    assert "What you describe can be an infection." in page.content()
    assert page.locator("#transcript li.who-person").first.inner_text().endswith("hi")

    # claim, then reply: the reply reaches the person's conversation in Rasa
    page.get_by_role("button", name="Claim").click()
    page.wait_for_url(f"{base}/tickets/{tid}?done=claim")
    assert page.locator("#ticket-status").inner_text() == "claimed"
    page.get_by_label("Reply to the person").fill("Hello, I'm Alex from the team.")
    page.get_by_role("button", name="Send reply").click()
    page.wait_for_url(f"{base}/tickets/{tid}?done=reply")
    assert page.get_by_role("status").inner_text() == "Reply sent to the person."
    assert page.locator("#transcript li.who-agent").last.inner_text().endswith(
        "Hello, I'm Alex from the team.")
    bots = [e for e in bot.tracker(sender)["events"] if e["event"] == "bot"]
    assert bots[-1]["text"] == "Hello, I'm Alex from the team."

    # the person writes; the open page shows it without reloading, as text
    evil = '<img src=x onerror="document.title=\'pwned\'"> is this normal?'
    shown = page.locator("#transcript li.who-person").count()
    assert bot.say(sender, evil) == []  # paused: the assistant stays quiet
    person = page.locator("#transcript li.who-person").nth(shown)  # polled in, no reload
    person.wait_for(timeout=15000)
    assert person.locator("p.text").inner_text() == evil
    assert page.locator("#transcript img").count() == 0 and page.title() != "pwned"

    # keyboard: the first Tab reaches the skip link
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "inbox.png"), full_page=True)

    # resolve: recorded, and the assistant answers the person again
    page.get_by_role("button", name="Resolve").click()
    page.wait_for_url(f"{base}/tickets/{tid}?done=resolve")
    assert page.get_by_role("status").first.inner_text().startswith("Case resolved")
    assert store.ticket(tid).status == "resolved"
    assert bot.tracker(sender)["paused"] is False
    assert page.get_by_role("button", name="Send reply").count() == 0
    assert not errors, errors
    page.close()
    assert (ARTIFACTS / "inbox.png").stat().st_size > 10_000
