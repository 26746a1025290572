"""Headless Chromium for browser tests: Debian's package (installed when missing) driven by
Playwright for Python with `executable_path` — never a downloaded browser."""
import contextlib
import importlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
PLAYWRIGHT = "playwright==1.47.0"
ARTIFACTS = ROOT / "test-artifacts"  # screenshots
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



@contextlib.contextmanager
def launched_browser() -> Iterator["object"]:
    chromium = ensure_chromium()
    sync_api = ensure_playwright()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


def wait_until(page, expression: str, timeout: float = 10.0, interval: float = 0.05):
    """Polls a JavaScript expression from the test side until it is truthy and returns its
    value. Unlike Playwright's `wait_for_function` with a string, which evaluates the string
    inside the page (and the page's CSP forbids eval, more or less often depending on the
    Chromium version), each poll is a DevTools evaluation, which no page policy blocks."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for: {expression}")
        page.wait_for_timeout(interval * 1000)

