"""The customers' web chat in a real browser: headless Chromium (Debian package) driven by
Playwright for Python, against the real web chat app, the real Rasa server (socket.io channel,
on another port: a cross-origin WebSocket) and the real action server.

Installs what it needs when it is missing (never skips): `apt-get install -y chromium`
(Debian), `pip install playwright==1.47.0` into this interpreter's environment, and the
socket.io client with `npm ci` in webchat/. Playwright's own browser download is never used.
"""
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from actions.triage.engine import default_kb
from inbox.server import serve_in_thread
from tools.browser import ARTIFACTS, launched_browser, wait_until

ROOT = Path(__file__).resolve().parents[1]
WEBCHAT = ROOT / "webchat"
SOCKET_IO_JS = WEBCHAT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
EVIL = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'

# the shadow root the widget renders into, for checks Playwright's locators can't express
SHADOW = "document.querySelector('[data-triage-webchat]').shadowRoot"


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200, **kw)


def ensure_socket_io_client() -> Path:
    """webchat/node_modules is not committed: install the locked versions when missing."""
    if not SOCKET_IO_JS.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install webchat/'s socket.io client (`npm ci`)"
        done = _run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEBCHAT)
        assert done.returncode == 0, done.stderr[-2000:]
    assert SOCKET_IO_JS.exists()
    return SOCKET_IO_JS


def _get(url: str):
    with urllib.request.urlopen(url, timeout=15) as r:
        return r.status, r.headers, r.read()


@pytest.fixture(scope="module")
def browser():
    with launched_browser() as b:
        yield b


@pytest.fixture(scope="module")
def webchat(assistant):
    """The web chat app on its own port, talking to the real assistant (conftest's session
    fixture: running_assistant())."""
    ensure_socket_io_client()
    from webchat import create_app
    with serve_in_thread(create_app(assistant.url)) as base:
        yield assistant, base


def _watch(page):
    errors = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400
            else None)
    return errors


def _enabled(page, name):
    return page.get_by_role("button", name=name, exact=True, disabled=False)


def _session_id(page) -> str:
    return page.evaluate("""() => {
        const k = Object.keys(localStorage).find(k => k.startsWith('triage-webchat:')
                                                   && k.endsWith(':session'));
        return k ? JSON.parse(localStorage.getItem(k)) : null; }""")


def _bubbles(page, who):
    return page.locator(f".msg.{who} .body")


def _bot_said(page, text):
    """The assistant's message containing text (one; waits for it)."""
    said = _bubbles(page, "bot").filter(has_text=text)
    said.wait_for()
    return said


def test_the_app_serves_the_widget_its_assets_and_the_sources_itself():
    ensure_socket_io_client()
    from webchat import create_app
    with serve_in_thread(create_app("http://127.0.0.1:9")) as base:
        status, headers, body = _get(base + "/health")
        assert status == 200 and json.loads(body) == {"status": "ok"}

        status, headers, body = _get(base + "/widget.js")
        assert status == 200 and "javascript" in headers["Content-Type"]
        assert b"user_uttered" in body and b"customData" in body
        assert b"innerHTML" not in body  # message text only ever goes in as textContent

        status, headers, body = _get(base + "/static/socket.io.min.js")
        assert status == 200 and "javascript" in headers["Content-Type"]
        assert body == SOCKET_IO_JS.read_bytes()  # the npm package's own file, no CDN

        status, headers, body = _get(base + "/static/widget.css")
        assert status == 200 and "css" in headers["Content-Type"]

        status, headers, body = _get(base + "/sources")
        page = body.decode()
        assert status == 200 and "Content-Security-Policy" in headers
        sources = default_kb().raw["sources"]
        for sid, source in sources.items():
            assert f'id="{sid}"' in page
        assert "SkinPen Precision instructions for use" in page

        status, headers, body = _get(base + "/sources.json")
        doc = json.loads(body)
        assert [s["id"] for s in doc["sources"]] == list(sources)
        assert headers["Access-Control-Allow-Origin"] == "*"  # fetched from shops' pages

        status, headers, body = _get(base + "/")
        page = body.decode()
        assert '<script src="/widget.js" data-rasa-url="http://127.0.0.1:9"' in page
        assert "http" not in re.sub(r'data-rasa-url="[^"]*"|<pre>.*?</pre>', "", page,
                                    flags=re.S).replace("http-equiv", "")  # nothing external

    # the npm pin is exact and locked
    package = json.loads((WEBCHAT / "package.json").read_text())
    version = package["dependencies"]["socket.io-client"]
    assert re.fullmatch(r"4\.\d+\.\d+", version)
    lock = json.loads((WEBCHAT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/socket.io-client"]["version"] == version
    assert "node_modules/" in (WEBCHAT / ".gitignore").read_text().split()


def test_a_whole_conversation_in_the_browser(browser, webchat):
    bot, base = webchat
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30000)
    errors = _watch(page)
    page.goto(base + "/")

    # open from the start, accessible: a polite live log, a labelled input and buttons
    log = page.get_by_role("log")
    assert log.is_visible()
    assert log.get_attribute("aria-live") == "polite"
    message = page.get_by_label("Your message")
    assert message.is_visible()
    assert page.get_by_role("button", name="Send").is_visible()
    assert page.get_by_role("button", name="Talk to a person").is_visible()
    page.evaluate(f"""() => {{  // record the typing indicator's visibility changes
        const t = {SHADOW}.querySelector('.typing');
        window.__typing = [];
        new MutationObserver(() => window.__typing.push(!t.hidden))
            .observe(t, {{attributes: true, attributeFilter: ['hidden']}}); }}""")

    # hi (typed, Enter) -> consent with buttons
    message.fill("hi")
    message.press("Enter")
    consent = _enabled(page, "Yes, that's OK")
    consent.wait_for()
    assert page.evaluate("window.__typing")[:2] == [True, False]  # shown, then gone
    assert _bubbles(page, "user").last.inner_text() == "hi"
    consent.click()
    assert _bubbles(page, "user").last.inner_text() == "Yes, that's OK"  # the title
    _bot_said(page, "Tell me what you'd like to improve")
    assert page.get_by_role("button", name="Yes, that's OK").is_disabled()  # older message

    message.fill("fine lines on my forehead, I'm 34")
    message.press("Enter")

    # every checklist: "None of these"; then a skin type
    for _ in range(10):
        page.locator(".quick button:enabled").first.wait_for()
        none = _enabled(page, "None of these")
        if none.count():
            none.click()
            continue
        _enabled(page, "Usually burns, tans a little (fair)").click()
        break
    # the recap of what it understood, before any home answer
    _bot_said(page, default_kb().raw["dialogue"]["recap"]["intro"])
    _enabled(page, default_kb().raw["dialogue"]["recap"]["right"]).click()
    _bot_said(page, "Home microneedling can suit you")
    _bot_said(page, "choose a 0.5 mm head")  # the last message of the answer

    # sources are links to /sources#id, with the titles as their text
    sources = default_kb().raw["sources"]
    links = page.locator("a.source")
    assert links.count() >= 1
    for i in range(links.count()):
        href = links.nth(i).get_attribute("href")
        assert href.startswith(base + "/sources#"), href
        sid = href.split("#", 1)[1]
        assert links.nth(i).inner_text() == sources[sid]["title"]

    # the metadata reached the assistant with the messages (mode and shop id)
    session = _session_id(page)
    assert session
    slots = bot.slots(session)
    assert slots["mode"] == "shop" and slots["clinic_id"] == "demo-shop"
    assert slots["disposition"].startswith("home_")

    # reload: the same conversation, the same session, only the newest buttons usable
    shown = _bubbles(page, "bot").count() + _bubbles(page, "user").count()
    page.reload()
    _bot_said(page, "Home microneedling can suit you")
    assert _bubbles(page, "bot").count() + _bubbles(page, "user").count() == shown
    assert _bubbles(page, "user").filter(has_text="fine lines on my forehead").count() == 1
    assert page.locator("a.source").count() == links.count()
    assert page.get_by_role("button", name="Yes, that's OK").is_disabled()
    assert _enabled(page, "Aftercare tips").is_visible()
    assert _session_id(page) == session

    # what the person types is text, never markup
    title = page.title()
    message = page.get_by_label("Your message")
    message.fill(EVIL)
    message.press("Enter")
    assert _bubbles(page, "user").last.inner_text() == EVIL
    replies = _bubbles(page, "bot").count()
    _bubbles(page, "bot").nth(replies).wait_for()  # the assistant answered something
    assert page.evaluate(f"{SHADOW}.querySelectorAll('.log script, .log img').length") == 0
    assert page.title() == title != "pwned"

    # keyboard: from the input, Shift+Tab reaches "Talk to a person", with a visible focus
    message.focus()
    page.keyboard.press("Shift+Tab")
    focused = page.evaluate(f"""() => {{ const a = {SHADOW}.activeElement;
        return [a.textContent, getComputedStyle(a).outlineStyle]; }}""")
    assert focused == ["Talk to a person", "solid"]
    page.keyboard.press("Enter")  # the button, by keyboard
    _bot_said(page, "passed your conversation to our team")
    assert _bubbles(page, "user").last.inner_text() == "I'd like to talk to a person"
    tracker = bot.tracker(session)
    assert tracker["paused"] is True  # handed off, in the same conversation as before
    said = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    assert "fine lines on my forehead, I'm 34" in said and EVIL in said

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "webchat.png"))
    assert not errors, errors
    page.close()
    assert (ARTIFACTS / "webchat.png").stat().st_size > 10_000


def test_the_chat_fits_a_phone(browser, webchat):
    bot, base = webchat
    page = browser.new_page(viewport={"width": 360, "height": 740}, is_mobile=True,
                            has_touch=True)
    page.set_default_timeout(30000)
    errors = _watch(page)
    page.goto(base + "/")
    message = page.get_by_label("Your message")
    message.fill("hi")
    message.press("Enter")
    _enabled(page, "Yes, that's OK").click()
    _bot_said(page, "Tell me what you'd like to improve")
    message.fill("texture on my cheeks, I'm 29")
    message.press("Enter")
    _enabled(page, "None of these").wait_for()

    # the panel fills the screen, nothing sticks out sideways, the composer is on screen
    panel = page.locator("#twc-panel").bounding_box()
    assert panel["x"] == 0 and panel["width"] == 360 and panel["height"] == 740
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    for name in ("Send", "Talk to a person", "None of these"):
        box = page.get_by_role("button", name=name, exact=True, disabled=False).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360, name
    send = page.get_by_role("button", name="Send").bounding_box()
    assert send["y"] + send["height"] <= 740
    widest = page.evaluate(f"""() => Math.max(...[...{SHADOW}.querySelectorAll('.msg')]
        .map(m => m.getBoundingClientRect().right))""")
    assert widest <= 360

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "webchat-phone.png"))

    # "New chat" forgets the conversation on this device and starts another session
    session = _session_id(page)
    page.get_by_role("button", name=re.compile("^New chat")).click()
    assert _bubbles(page, "bot").count() == _bubbles(page, "user").count() == 0
    wait_until(page, """() => Object.keys(localStorage).some(k =>
        k.endsWith(':session') && JSON.parse(localStorage.getItem(k)) !== null)""")
    assert _session_id(page) not in (None, session)
    message.fill("hi")
    message.press("Enter")
    _enabled(page, "Yes, that's OK").wait_for()
    assert bot.tracker(_session_id(page))["events"] and bot.slots(session)["age"] == 29
    assert not errors, errors
    page.close()
    assert (ARTIFACTS / "webchat-phone.png").stat().st_size > 10_000


def test_two_tabs_follow_a_new_chat_started_in_either(browser, webchat):
    """The server binds a socket to the session it issued: when one tab starts a new chat, the
    other tab asks for that session on its own socket, and its next message is answered there
    (not "this window's chat session changed")."""
    from actions import limits
    bot, base = webchat
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    first, second = context.new_page(), context.new_page()
    for page in (first, second):
        page.set_default_timeout(30000)
    errors = _watch(first) + _watch(second)
    first.goto(base + "/")
    first.get_by_label("Your message").fill("hi")
    first.get_by_label("Your message").press("Enter")
    _enabled(first, "Yes, that's OK").wait_for()
    second.goto(base + "/")
    _bot_said(second, "Is it OK to use that information")  # the same conversation
    old = _session_id(first)

    first.get_by_role("button", name="New chat (clears this conversation from this device)").click()
    deadline = time.monotonic() + 30
    while _session_id(first) in (None, old) or _bubbles(second, "bot").count():
        assert time.monotonic() < deadline, "the new chat did not reach the other tab"
        time.sleep(0.1)
    new = _session_id(first)

    second.get_by_label("Your message").fill("hello again")
    second.get_by_label("Your message").press("Enter")
    _enabled(second, "Yes, that's OK").wait_for()
    assert _bubbles(second, "bot").filter(has_text=limits.OTHER_SESSION[:40]).count() == 0
    said = [e["text"] for e in bot.tracker(new)["events"] if e["event"] == "user"]
    assert said == ["hello again"]
    assert not errors, errors
    context.close()
