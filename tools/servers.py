"""Start the real action server and Rasa server on free loopback ports (tests, benchmarks).

    with running_assistant() as bot:
        bot.say("alice", "hi")            # -> list of bot messages (REST channel)
        bot.tracker("alice")              # -> tracker JSON (HTTP API, with the token)
"""
import contextlib
import json
import os
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


@contextlib.contextmanager
def running_assistant(model: Optional[Path] = None, timeout: float = 180.0,
                      database_url: Optional[str] = None) -> Iterator[Assistant]:
    """database_url: where the tracker and the project's records go (default: a fresh SQLite
    file in a temporary folder, so tests never touch var/)."""
    model = model or latest_model()
    work = Path(tempfile.mkdtemp(prefix="triage-servers-"))
    rasa_port, action_port = free_port(), free_port()
    endpoints = work / "endpoints.yml"
    endpoints.write_text(f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n"
                         "tracker_store:\n  type: actions.tracker_store.EnvSQLTrackerStore\n")
    database_url = database_url or f"sqlite:///{work / 'triage.db'}"
    from actions.storage import Store
    Store(database_url).migrate()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore",
           "DATABASE_URL": database_url, "RASA_URL": f"http://127.0.0.1:{rasa_port}",
           "RASA_TOKEN": TOKEN}
    start = time.time()
    alog, rlog = work / "actions.log", work / "rasa.log"
    actions = subprocess.Popen(
        [str(VENV_BIN / "python"), "-m", "rasa_sdk", "--actions", "actions.actions",
         "--port", str(action_port)], cwd=ROOT, env=env, stdout=alog.open("w"),
        stderr=subprocess.STDOUT, start_new_session=True)
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
                        rasa, actions, time.time() - start, database_url, work)
    finally:
        for p in (rasa, actions):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in (rasa, actions):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
