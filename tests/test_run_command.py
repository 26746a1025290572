"""The README's run command, from a clean clone: it sets everything up, starts every process,
each health endpoint answers, a conversation works, and Ctrl-C stops everything.

This is the slowest test (a fresh virtual environment and a fresh training, a few minutes);
pip's and Rasa's caches keep it shorter on a machine that has run the suite before."""
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tools.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read()


def test_readme_starts_with_the_run_and_test_commands():
    block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make run", "make test"]


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the git checkout to clone")
def test_run_command_from_a_clean_clone(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    # every port its own (the action server's too): a server left on a default port by
    # another run can never answer for this one
    ports = {"RASA_PORT": free_port(), "INBOX_PORT": free_port(), "WEBCHAT_PORT": free_port(),
             "ACTION_PORT": free_port()}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "RASA_", "ACTION_", "WEBCHAT_", "INBOX_"))}
    env.update({k: str(v) for k, v in ports.items()})
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(["make", "run"], cwd=clone, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    health = [f"http://127.0.0.1:{ports['RASA_PORT']}/status?token=local-dev-token",
              f"http://127.0.0.1:{ports['ACTION_PORT']}/health",
              f"http://127.0.0.1:{ports['INBOX_PORT']}/health",
              f"http://127.0.0.1:{ports['WEBCHAT_PORT']}/health"]
    try:
        deadline = time.time() + 1500
        pending = list(health)
        while pending and time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "run.log").read_text()[-4000:]
            for url in list(pending):
                try:
                    _get(url)
                    pending.remove(url)
                except OSError:
                    pass
            time.sleep(2)
        assert not pending, f"not healthy: {pending}\n" + (tmp_path / "run.log").read_text()[-4000:]
        req = urllib.request.Request(
            f"http://127.0.0.1:{ports['RASA_PORT']}/webhooks/rest/webhook",
            data=json.dumps({"sender": "clone-test", "message": "hi"}).encode(),
            headers={"Content-Type": "application/json"})
        replies = json.loads(urllib.request.urlopen(req, timeout=60).read())
        assert any("not medical advice" in r.get("text", "") for r in replies)
        # the consent question is a custom action's: Rasa called the action server it started
        assert any("Is it OK to use that information" in r.get("text", "") for r in replies)
        assert "Web chat:" in (tmp_path / "run.log").read_text()  # the URLs are printed
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    for url in health:
        with pytest.raises(OSError):
            _get(url)
    assert (clone / "var" / "triage.db").exists()  # embedded default database
