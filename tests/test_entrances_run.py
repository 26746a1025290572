"""scripts/run.sh's entrances (issue 10, items 8 and 23), with the servers it starts:

- the action server listens on ACTION_PORT and Rasa calls it there (so a test of a run never
  talks to another process on the default port 5055);
- no CORS for the HTTP API (the web chat's widget only needs socket.io), and only the web
  chat's origins (WEBCHAT_ORIGINS, by default the demo web chat's own) may open socket.io.

run.sh runs from a scratch copy of the project (links to this checkout) whose setup and
training steps are no-ops: they are the clean-clone test's (tests/test_run_command.py), and
this test must use the model already trained, never train one.
"""
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import pytest

from tools.servers import ROOT, free_port, latest_model

CONSENT_Q = "Is it OK to use that information for this assessment?"
FOREIGN = "http://evil.example"


def request(url: str, origin: Optional[str] = None, method: str = "GET",
            data: Optional[bytes] = None,
            headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
    h = dict(headers or {})
    if origin:
        h["Origin"] = origin
    req = urllib.request.Request(url, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def scratch_project(where: Path) -> Path:
    """A copy of the project made of links to this checkout, but with its own scripts/ (setup
    and training are no-ops) and its own var/."""
    latest_model()  # a trained model is needed
    project = where / "project"
    project.mkdir()
    for item in ROOT.iterdir():
        if item.name not in ("scripts", "var", ".env"):
            (project / item.name).symlink_to(item)
    scripts = project / "scripts"
    scripts.mkdir()
    (scripts / "run.sh").symlink_to(ROOT / "scripts" / "run.sh")
    for name in ("setup.sh", "train.sh"):
        (scripts / name).write_text("#!/usr/bin/env bash\nexit 0\n")
        (scripts / name).chmod(0o755)
    return project


@pytest.fixture(scope="module")
def run() -> Iterator[Dict[str, int]]:
    work = Path(tempfile.mkdtemp(prefix="triage-run-"))
    project = scratch_project(work)
    ports = {"RASA_PORT": free_port(), "INBOX_PORT": free_port(),
             "WEBCHAT_PORT": free_port(), "ACTION_PORT": free_port()}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "RASA_", "ACTION_", "WEBCHAT_", "INBOX_"))}
    env.update({k: str(v) for k, v in ports.items()})
    env["DATABASE_URL"] = f"sqlite:///{work / 'triage.db'}"
    log = work / "run.log"
    proc = subprocess.Popen(["scripts/run.sh"], cwd=project, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wanted = [f"http://127.0.0.1:{ports['ACTION_PORT']}/health",
                  f"http://127.0.0.1:{ports['RASA_PORT']}/status?token=local-dev-token",
                  f"http://127.0.0.1:{ports['WEBCHAT_PORT']}/health"]
        deadline = time.time() + 300
        while wanted and time.time() < deadline:
            assert proc.poll() is None, log.read_text()[-4000:]
            try:
                request(wanted[0])
                wanted.pop(0)
            except OSError:
                time.sleep(1)
        assert not wanted, f"not healthy: {wanted}\n{log.read_text()[-4000:]}"
        yield ports
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "refusing" not in log.read_text()


# ------------------------------------------------------------------ item 23: ports

def test_the_action_server_listens_on_action_port_and_rasa_calls_it_there(run):
    status, _, body = request(f"http://127.0.0.1:{run['ACTION_PORT']}/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    # the consent question is a custom action's: Rasa reached the action server
    status, _, body = request(f"http://127.0.0.1:{run['RASA_PORT']}/webhooks/rest/webhook",
                              method="POST", headers={"Content-Type": "application/json"},
                              data=json.dumps({"sender": "run-test", "message": "hi"}).encode())
    assert status == 200
    assert any(CONSENT_Q in (m.get("text") or "") for m in json.loads(body)), body


# ------------------------------------------------------------------ item 8: origins

@pytest.mark.parametrize("method,path", [
    ("GET", "/"), ("GET", "/status?token=local-dev-token"), ("OPTIONS", "/status"),
    ("OPTIONS", "/webhooks/rest/webhook"), ("OPTIONS", "/conversations/someone/tracker"),
])
def test_the_http_api_grants_no_origin(run, method, path):
    for origin in (FOREIGN, f"http://127.0.0.1:{run['WEBCHAT_PORT']}"):
        _, headers, _ = request(f"http://127.0.0.1:{run['RASA_PORT']}{path}", origin, method,
                                headers={"Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in headers, (origin, headers)
        assert "access-control-allow-credentials" not in headers, (origin, headers)


def test_only_the_web_chats_origin_may_open_socketio(run):
    url = f"http://127.0.0.1:{run['RASA_PORT']}/socket.io/?EIO=4&transport=polling"
    status, headers, _ = request(url, FOREIGN)
    assert status == 400 and "access-control-allow-origin" not in headers
    for host in ("127.0.0.1", "localhost"):
        own = f"http://{host}:{run['WEBCHAT_PORT']}"
        status, headers, body = request(url, own)
        assert status == 200 and b"sid" in body, (status, body)
        assert headers.get("access-control-allow-origin") == own
    status, _, body = request(url)  # no Origin: not a browser page, as before
    assert status == 200 and b"sid" in body


def test_the_web_chat_connects_from_its_own_page(run):
    import asyncio

    import socketio

    async def chat() -> str:
        client = socketio.AsyncClient()
        confirmed = asyncio.get_running_loop().create_future()
        client.on("session_confirm", lambda sid: confirmed.set_result(sid))
        await client.connect(f"http://127.0.0.1:{run['RASA_PORT']}",
                             headers={"Origin": f"http://127.0.0.1:{run['WEBCHAT_PORT']}"},
                             socketio_path="/socket.io", transports=["websocket"])
        await client.emit("session_request", {})
        try:
            return await asyncio.wait_for(confirmed, 20)
        finally:
            await client.disconnect()

    assert len(asyncio.run(chat())) == 32

    async def foreign() -> None:
        client = socketio.AsyncClient()
        await client.connect(f"http://127.0.0.1:{run['RASA_PORT']}",
                             headers={"Origin": FOREIGN},
                             socketio_path="/socket.io", transports=["websocket"])

    with pytest.raises(socketio.exceptions.ConnectionError):
        asyncio.run(foreign())
