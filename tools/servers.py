"""Start the real action server and Rasa server on free loopback ports (tests, benchmarks).

    with running_assistant() as bot:
        bot.say("alice", "hi")            # -> list of bot messages (REST channel)
        bot.tracker("alice")              # -> tracker JSON (HTTP API, with the token)

    with running_action_server(token="s3cret") as actions:   # the action server alone
        actions.url                       # -> http://127.0.0.1:<port>

Rasa calls the action server with a random ACTION_SERVER_TOKEN per run (endpoints.yml's
header), so every end-to-end test goes through the token check.
"""
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TOKEN = "test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def latest_model() -> Path:
    models = sorted((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise RuntimeError("no trained model in models/: run scripts/train.sh (make test does)")
    return models[-1]


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def _post(url: str, payload: Any, timeout: float = 30.0) -> Any:
    data = json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


@dataclass
class Assistant:
    url: str
    action_url: str
    rasa: subprocess.Popen
    actions: subprocess.Popen
    startup_seconds: float
    database_url: str
    workdir: Path
    action_token: str = ""

    def say(self, sender: str, message: str, metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        payload: Dict[str, Any] = {"sender": sender, "message": message}
        if metadata:
            payload["metadata"] = metadata
        return _post(f"{self.url}/webhooks/rest/webhook", payload)

    def tracker(self, sender: str) -> Dict[str, Any]:
        return json.loads(_get(f"{self.url}/conversations/{sender}/tracker?token={TOKEN}"))

    def slots(self, sender: str) -> Dict[str, Any]:
        return self.tracker(sender)["slots"]


def _wait(url: str, proc: subprocess.Popen, deadline: float, log: Path) -> None:
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early; log: {log}\n{log.read_text()[-3000:]}")
        try:
            _get(url, timeout=2)
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.3)
    raise RuntimeError(f"server did not answer {url} in time; log: {log}")


def action_server_command(port: int) -> List[str]:
    """The action server as scripts/run.sh starts it (actions/action_server.py)."""
    return [str(VENV_BIN / "python"), "-m", "actions.action_server", "--port", str(port)]


def start_action_server(port: int, env: Dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(action_server_command(port), cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(*procs: subprocess.Popen) -> None:
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


@dataclass
class ActionServer:
    url: str
    port: int
    token: str
    proc: subprocess.Popen
    log: Path
    database_url: str


@contextlib.contextmanager
def running_action_server(token: str = "", timeout: float = 60.0,
                          env: Optional[Dict[str, str]] = None) -> Iterator[ActionServer]:
    """The action server alone, on a free port, with its settings' defaults except `token`
    (ACTION_SERVER_TOKEN) and `env`; records go to a fresh SQLite file."""
    work = Path(tempfile.mkdtemp(prefix="triage-actions-"))
    port = free_port()
    database_url = f"sqlite:///{work / 'triage.db'}"
    from actions.storage import Store
    Store(database_url).migrate()
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore",
                "DATABASE_URL": database_url, "ACTION_SERVER_HOST": "",
                "ACTION_SERVER_MAX_BODY_MB": "", "ACTION_SERVER_TOKEN": token, **(env or {})}
    log = work / "actions.log"
    proc = start_action_server(port, full_env, log)
    try:
        _wait(f"http://127.0.0.1:{port}/health", proc, time.time() + timeout, log)
        yield ActionServer(f"http://127.0.0.1:{port}", port, token, proc, log, database_url)
    finally:
        stop(proc)
        shutil.rmtree(work, ignore_errors=True)


RATE_LIMITS = ("NEW_CONVERSATIONS_PER_ADDRESS_PER_MINUTE", "MESSAGES_PER_CONVERSATION_PER_MINUTE",
               "HANDOFFS_PER_ADDRESS_PER_HOUR")


@contextlib.contextmanager
def running_assistant(model: Optional[Path] = None, timeout: float = 180.0,
                      database_url: Optional[str] = None,
                      action_token: Optional[str] = None) -> Iterator[Assistant]:
    """database_url: where the tracker and the project's records go (default: a fresh SQLite
    file in a temporary folder, so tests never touch var/). action_token: the secret Rasa
    sends the action server (default: a random one)."""
    model = model or latest_model()
    work = Path(tempfile.mkdtemp(prefix="triage-servers-"))
    rasa_port, action_port = free_port(), free_port()
    endpoints = work / "endpoints.yml"
    endpoints.write_text(f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n"
                         "  headers:\n    X-Action-Server-Token: ${ACTION_SERVER_TOKEN}\n"
                         "tracker_store:\n  type: actions.tracker_store.EnvSQLTrackerStore\n")
    action_token = secrets.token_urlsafe(24) if action_token is None else action_token
    database_url = database_url or f"sqlite:///{work / 'triage.db'}"
    from actions.storage import Store
    Store(database_url).migrate()
    # Every simulated person comes from 127.0.0.1: the per-address rate limits are off unless
    # the caller sets them (tests/test_rate_limits.py does, with small values).
    limits_off = {name: "0" for name in RATE_LIMITS}
    env = {**limits_off, **os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore",
           "DATABASE_URL": database_url, "RASA_URL": f"http://127.0.0.1:{rasa_port}",
           "RASA_TOKEN": TOKEN, "ACTION_SERVER_TOKEN": action_token,
           "ACTION_SERVER_HOST": "127.0.0.1", "ACTION_SERVER_MAX_BODY_MB": ""}
    start = time.time()
    alog, rlog = work / "actions.log", work / "rasa.log"
    actions = start_action_server(action_port, env, alog)
    rasa = subprocess.Popen(
        [str(VENV_BIN / "rasa"), "run", "--enable-api", "--auth-token", TOKEN, "-i", "127.0.0.1",
         "-p", str(rasa_port), "--model", str(model), "--endpoints", str(endpoints),
         "--credentials", str(ROOT / "credentials.yml")], cwd=ROOT, env=env,
        stdout=rlog.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + timeout
        _wait(f"http://127.0.0.1:{action_port}/health", actions, deadline, alog)
        _wait(f"http://127.0.0.1:{rasa_port}/status?token={TOKEN}", rasa, deadline, rlog)
        yield Assistant(f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{action_port}",
                        rasa, actions, time.time() - start, database_url, work, action_token)
    finally:
        stop(rasa, actions)
