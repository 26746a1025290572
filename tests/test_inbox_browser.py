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
from tools.browser import ARTIFACTS, launched_browser
from tools.servers import TOKEN, running_assistant

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def browser():
    with launched_browser() as b:
        yield b


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
