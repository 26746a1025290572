"""The action server, hardened (issue 10, items 1 and 2), through the real process
(`python -m actions.action_server`, as scripts/run.sh and tools/servers.py start it) on a free
loopback port, with real HTTP requests:

- it listens on loopback only by default, token or not;
- with ACTION_SERVER_TOKEN set, a call without the token (or with a wrong one) is refused and
  no action runs; with it, a webhook call works; endpoints.yml makes Rasa send it;
- a compressed body (deflate or gzip) is never inflated beyond the limit: a bomb gets 413, the
  server stays up and answers the next call; an oversized body gets 413 too.
"""
import gzip
import ipaddress
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
import zlib
from typing import Any, Dict, Optional, Tuple

import pytest

from actions.action_server import TOKEN_HEADER
from actions.storage import Store
from tools.servers import ROOT, action_server_command, free_port, running_action_server

TOKEN = "test-action-token-0123456789abcdef"
SECRET_TEXT = "my-private-words-about-rosacea"  # must never reach a log
LIMIT = 8 * 1024 * 1024  # the default ACTION_SERVER_MAX_BODY_MB


def action_call(action: str, sender: str = "someone", intent: str = "affirm") -> Dict[str, Any]:
    """What Rasa 3.6 posts to /webhook (RemoteAction._action_call_format), kept small."""
    latest = {"text": SECRET_TEXT, "intent": {"name": intent, "confidence": 1.0},
              "entities": []}
    return {"next_action": action, "sender_id": sender, "version": "3.6.21", "domain": {},
            "tracker": {"sender_id": sender, "slots": {}, "latest_message": latest,
                        "events": [{"event": "user", "text": SECRET_TEXT,
                                    "parse_data": latest}],
                        "paused": False, "followup_action": None, "active_loop": {},
                        "latest_action_name": "action_listen"}}


def post(url: str, body: bytes, token: Optional[str] = None,
         headers: Optional[Dict[str, str]] = None) -> Tuple[int, Any]:
    h = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        h[TOKEN_HEADER] = token
    req = urllib.request.Request(url, data=body, headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def get(url: str, token: Optional[str] = None) -> Tuple[int, Any]:
    req = urllib.request.Request(url, headers={TOKEN_HEADER: token} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def bomb(encoding: str, inflated_mb: int = 256) -> bytes:
    """A body of `inflated_mb` MB of spaces, compressed (~1000:1), built without holding the
    inflated bytes in memory."""
    c = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS if encoding == "deflate"
                         else 16 + zlib.MAX_WBITS)
    chunk = b" " * (1024 * 1024)
    return b"".join([c.compress(chunk) for _ in range(inflated_mb)] + [c.flush()])


def peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def server():
    with running_action_server(token=TOKEN) as s:
        yield s


@pytest.fixture(scope="module")
def open_server():
    """No token configured: the local default."""
    with running_action_server(token="") as s:
        yield s


# ------------------------------------------------------------------ 1. authentication


def test_health_answers_without_the_token(server):
    assert get(f"{server.url}/health") == (200, {"status": "ok"})


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN[:-1] + "X", TOKEN + "X"],
                         ids=["none", "empty", "wrong", "same-length", "longer"])
def test_a_call_without_the_right_token_is_refused_and_no_action_runs(server, token):
    store = Store(server.database_url)
    store.record_consent("victim", True, channel="rest")
    assert store.conversation("victim") is not None
    status, body = post(f"{server.url}/webhook",
                        json.dumps(action_call("action_delete_data", "victim")).encode(), token)
    assert status == 401, body
    assert set(body) == {"error"}  # no events, no responses: nothing ran
    assert store.conversation("victim") is not None  # not erased
    assert get(f"{server.url}/actions", token)[0] == 401


def test_with_the_token_a_webhook_call_works(server):
    status, body = post(f"{server.url}/webhook",
                        json.dumps(action_call("action_ask_delete")).encode(), TOKEN)
    assert status == 200, body
    assert [b["payload"] for b in body["responses"][0]["buttons"]] == ["/affirm", "/deny"]
    status, names = get(f"{server.url}/actions", TOKEN)
    assert status == 200 and {"name": "action_delete_data"} in names


def test_with_the_token_a_forged_delete_would_run(server):
    """What the token protects: the same call as above, authenticated, erases the records."""
    store = Store(server.database_url)
    store.record_consent("target", True, channel="rest")
    status, body = post(f"{server.url}/webhook",
                        json.dumps(action_call("action_delete_data", "target")).encode(), TOKEN)
    assert status == 200, body
    assert store.conversation("target") is None


def test_without_a_token_configured_calls_work_on_loopback(open_server):
    status, body = post(f"{open_server.url}/webhook",
                        json.dumps(action_call("action_ask_delete")).encode())
    assert status == 200, body


def test_endpoints_yml_makes_rasa_send_the_token(monkeypatch):
    from rasa.utils.endpoints import read_endpoint_config
    for value in (TOKEN, ""):  # empty: local runs, no check
        monkeypatch.setenv("ACTION_SERVER_TOKEN", value)
        config = read_endpoint_config(str(ROOT / "endpoints.yml"), "action_endpoint")
        assert config.headers == {TOKEN_HEADER: value}
        assert config.url == "http://127.0.0.1:5055/webhook"


# ------------------------------------------------------------------ 1. loopback only


def _non_loopback_addresses():
    found = set()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent; picks the outgoing interface
            found.add(s.getsockname()[0])
    except OSError:
        pass
    try:
        found.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    usable = []
    for addr in sorted(found):
        ip = ipaddress.ip_address(addr)
        if ip.is_loopback or ip.is_unspecified:
            continue
        with socket.socket() as s:
            try:
                s.bind((addr, 0))  # an address of this machine
            except OSError:
                continue
        usable.append(addr)
    return usable


def _reachable(addr: str, port: int) -> bool:
    try:
        with socket.create_connection((addr, port), timeout=3):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("which", ["server", "open_server"], ids=["token", "no-token"])
def test_not_reachable_on_a_non_loopback_address(which, request):
    s = request.getfixturevalue(which)
    addrs = _non_loopback_addresses()
    if not addrs:
        pytest.skip("this machine has no non-loopback IPv4 address")
    # control: a socket listening on every interface (rasa-sdk's default) is reachable there
    with socket.socket() as control:
        control.bind(("0.0.0.0", 0))
        control.listen()
        if not _reachable(addrs[0], control.getsockname()[1]):
            pytest.skip(f"{addrs[0]} is not reachable from here even for a listening socket")
    assert _reachable("127.0.0.1", s.port)
    for addr in addrs:
        assert not _reachable(addr, s.port), f"action server reachable on {addr}:{s.port}"


def test_refuses_to_listen_beyond_loopback_without_a_token():
    import os
    env = {**os.environ, "ACTION_SERVER_HOST": "0.0.0.0", "ACTION_SERVER_TOKEN": "",
           "PYTHONWARNINGS": "ignore"}
    r = subprocess.run(action_server_command(free_port()), cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "ACTION_SERVER_TOKEN" in r.stderr


# ------------------------------------------------------------------ 2. body limits


@pytest.mark.parametrize("encoding", ["deflate", "gzip"])
def test_a_compressed_bomb_is_refused_and_the_server_stays_up(server, encoding):
    before = peak_rss_mb(server.proc.pid)
    body = bomb(encoding)
    assert len(body) < 1024 * 1024  # under 1 MB on the wire, 256 MB inflated
    status, answer = post(f"{server.url}/webhook", body, TOKEN,
                          {"Content-Encoding": encoding})
    assert status == 413, answer
    assert "inflates beyond the limit" in answer["error"]
    # never inflated beyond the limit: the peak memory grew by less than the 256 MB
    assert peak_rss_mb(server.proc.pid) - before < 64
    assert server.proc.poll() is None
    status, answer = post(f"{server.url}/webhook",
                          json.dumps(action_call("action_ask_delete")).encode(), TOKEN)
    assert status == 200 and answer["responses"]


@pytest.mark.parametrize("encoding", ["deflate", "gzip"])
def test_a_compressed_call_within_the_limit_works(server, encoding):
    raw = json.dumps(action_call("action_ask_delete")).encode()
    body = zlib.compress(raw) if encoding == "deflate" else gzip.compress(raw)
    status, answer = post(f"{server.url}/webhook", body, TOKEN, {"Content-Encoding": encoding})
    assert status == 200, answer
    assert answer["responses"]


def test_what_rasa_sends_compressed_works(server):
    """Rasa compresses with aiohttp's `compress=True` (COMPRESS_ACTION_SERVER_REQUEST=True)."""
    import asyncio

    import aiohttp

    async def call():
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{server.url}/webhook", json=action_call("action_ask_delete"),
                                    compress=True, headers={TOKEN_HEADER: TOKEN}) as r:
                return r.status, r.request_info.headers.get("Content-Encoding"), await r.json()

    status, encoding, answer = asyncio.run(call())
    assert (status, encoding) == (200, "deflate") and answer["responses"]


@pytest.mark.parametrize("body,encoding,status", [
    (b"not compressed at all", "deflate", 400),
    (zlib.compress(b'{"next_action": "x"}')[:-6], "deflate", 400),  # truncated
    (gzip.compress(b"{}") + b"trailing", "gzip", 400),
    (b"{}", "br", 415),
])
def test_a_broken_or_unknown_encoding_gets_a_clear_error(server, body, encoding, status):
    got, answer = post(f"{server.url}/webhook", body, TOKEN, {"Content-Encoding": encoding})
    assert got == status and set(answer) == {"error"}, answer
    assert get(f"{server.url}/health") == (200, {"status": "ok"})


def test_an_oversized_body_is_refused_before_it_is_read(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as c:
        c.sendall(f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n{TOKEN_HEADER}: {TOKEN}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {LIMIT + 1}\r\n\r\n"
                  .encode() + b"{" * 4096)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = c.recv(4096)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:300]
    assert "size limit" in json.loads(body)["error"]
    assert get(f"{server.url}/health") == (200, {"status": "ok"})


def test_the_logs_hold_no_message_text_nor_the_token(server):
    call = json.dumps(action_call("action_ask_delete")).encode()
    assert post(f"{server.url}/webhook", call, "wrong")[0] == 401
    assert post(f"{server.url}/webhook", call, TOKEN)[0] == 200
    assert post(f"{server.url}/webhook", call[:-1], TOKEN)[0] == 400
    assert post(f"{server.url}/webhook", json.dumps(action_call("action_no_such_thing"))
                .encode(), TOKEN)[0] == 404
    assert post(f"{server.url}/webhook", bomb("deflate", 16), TOKEN,
                {"Content-Encoding": "deflate"})[0] == 413
    time.sleep(0.5)
    log = server.log.read_text()
    assert "refused" in log  # the refusals are logged, by name only
    assert SECRET_TEXT not in log
    assert TOKEN not in log


# ------------------------------------------------------------------ 16. bad calls, clear answers

def _without(call: Dict[str, Any], *path: str) -> Dict[str, Any]:
    call = json.loads(json.dumps(call))
    target = call
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return call


def _with(call: Dict[str, Any], value: Any, *path: str) -> Dict[str, Any]:
    call = json.loads(json.dumps(call))
    target = call
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return call


GOOD = action_call("action_ask_delete")
MALFORMED = {
    "empty": b"",
    "array": json.dumps([GOOD]).encode(),
    "string": json.dumps(SECRET_TEXT).encode(),
    "null": b"null",
    "number": b"42",
    "object-without-action": json.dumps({"text": SECRET_TEXT}).encode(),
    "action-not-a-string": json.dumps(_with(GOOD, ["action_ask_delete"], "next_action")).encode(),
    "no-tracker": json.dumps(_without(GOOD, "tracker")).encode(),
    "tracker-a-string": json.dumps(_with(GOOD, SECRET_TEXT, "tracker")).encode(),
    "no-sender": json.dumps(_without(GOOD, "tracker", "sender_id")).encode(),
    "slots-a-list": json.dumps(_with(GOOD, [SECRET_TEXT], "tracker", "slots")).encode(),
    "events-an-object": json.dumps(_with(GOOD, {"e": SECRET_TEXT}, "tracker", "events")).encode(),
    "latest-message-a-string": json.dumps(_with(GOOD, SECRET_TEXT, "tracker",
                                                "latest_message")).encode(),
    "domain-a-list": json.dumps(_with(GOOD, [SECRET_TEXT], "domain")).encode(),
    "version-a-number": json.dumps(_with(GOOD, 3.6, "version")).encode(),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_action_call_gets_400_with_a_one_line_reason(server, name):
    status, answer = post(f"{server.url}/webhook", MALFORMED[name], TOKEN)
    assert status == 400, (status, answer)
    assert isinstance(answer, dict) and set(answer) == {"error"}, answer
    reason = answer["error"]
    assert reason and "\n" not in reason and SECRET_TEXT not in reason, reason
    assert "action_ask_delete" not in reason and "Traceback" not in reason
    assert get(f"{server.url}/health") == (200, {"status": "ok"})


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_on_the_webhook_get_a_clear_answer_that_echoes_nothing(server, method):
    req = urllib.request.Request(f"{server.url}/webhook?q={SECRET_TEXT}", method=method,
                                 data=None if method == "GET" else SECRET_TEXT.encode(),
                                 headers={TOKEN_HEADER: TOKEN})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == 405
    answer = json.loads(e.value.read())
    assert set(answer) == {"error"} and "\n" not in answer["error"]
    assert SECRET_TEXT not in answer["error"]


def test_an_action_failing_on_a_well_formed_call_echoes_nothing(server):
    # entities that are not entities: the action itself fails (500), and says only that
    call = _with(GOOD, "action_validate_slot_mappings", "next_action")
    call["tracker"]["latest_message"]["entities"] = [SECRET_TEXT]
    status, answer = post(f"{server.url}/webhook", json.dumps(call).encode(), TOKEN)
    assert status in (400, 500), (status, answer)
    assert set(answer) == {"error"} and SECRET_TEXT not in json.dumps(answer), answer
    assert get(f"{server.url}/health") == (200, {"status": "ok"})


def test_bad_calls_leave_no_request_content_in_the_log(server):
    for body in MALFORMED.values():
        post(f"{server.url}/webhook", body, TOKEN)
    time.sleep(0.5)
    log = server.log.read_text()
    assert SECRET_TEXT not in log
    assert "malformed action call" in log  # the refusals are logged, by reason only
