"""Issue 10, item 18: the inbox and the web chat check the Host header (DNS rebinding: a page
of any site whose name resolves to this machine would otherwise talk to them), through the
real servers on free loopback ports. Only the loopback names, the configured host and
ALLOWED_HOSTS are answered; any other name gets 400 with a one-line reason. The web chat's
embed snippet names the configured WEBCHAT_PUBLIC_URL, never the request's Host."""
import http.client
import json
from typing import Dict, Optional, Tuple

import pytest

from actions.storage import Store
from inbox.app import create_app as inbox_app
from inbox.auth import allowed_hosts, host_name
from inbox.server import free_port, serve_in_thread
from test_channels import environment
from test_inbox_api import AUDIT_KEY, seed_users

FOREIGN = ["evil.example", "evil.example:80", "127.0.0.1.evil.example",
           "localhost.evil.example:5056", "[::2]:5056", "10.0.0.7", "a b", "x:y", "@localhost"]


def get(base: str, path: str, host: Optional[str],
        headers: Optional[Dict[str, str]] = None) -> Tuple[int, str, str]:
    addr, port = base.split("//")[1].split(":")
    conn = http.client.HTTPConnection(addr, int(port), timeout=30)
    try:
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type") or "", r.read().decode(errors="replace")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    path = tmp_path_factory.mktemp("inbox-host")
    store = Store(f"sqlite:///{path}/t.db")
    store.migrate()
    tokens = seed_users(store)
    with environment({"INBOX_HOST": "inbox.clinic.example", "ALLOWED_HOSTS":
                      "staff.clinic.example, Other.Example."}):
        app = inbox_app(store, f"http://127.0.0.1:{free_port()}", "some-token",
                        secret="host-secret-0123456789", audit_key=AUDIT_KEY)
    with serve_in_thread(app) as base:
        yield base, tokens


@pytest.mark.parametrize("host", FOREIGN)
@pytest.mark.parametrize("path", ["/api/tickets", "/health", "/login", "/"])
def test_the_inbox_refuses_a_foreign_host_name(inbox, host, path):
    base, tokens = inbox
    status, ctype, body = get(base, path, host, {"Authorization": f"Bearer {tokens['agent']}"})
    assert status == 400, (host, path, status, body[:200])
    if path.startswith("/api") or path == "/health":
        reason = json.loads(body)["error"]
        assert "host" in reason.lower() and "\n" not in reason and "evil" not in reason


def test_the_inbox_refuses_a_request_without_a_host(inbox):
    base, _ = inbox
    status, _, body = get(base, "/health", None)
    assert status == 400 and "Host" in json.loads(body)["error"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST.", "[::1]",
                                  "inbox.clinic.example", "staff.clinic.example",
                                  "other.example"])
def test_the_inbox_answers_its_own_names(inbox, host):
    base, tokens = inbox
    port = base.rsplit(":", 1)[1]
    status, _, body = get(base, "/api/tickets", f"{host}:{port}",
                          {"Authorization": f"Bearer {tokens['agent']}"})
    assert status == 200, (host, body[:200])
    assert get(base, "/health", host)[0] == 200


@pytest.fixture(scope="module")
def webchat():
    from webchat.app import create_app
    with environment({"WEBCHAT_PUBLIC_URL": "https://chat.shop.example/", "ALLOWED_HOSTS": ""}):
        app = create_app("http://127.0.0.1:9", "https://rasa.shop.example")
    with serve_in_thread(app) as base:
        yield base


@pytest.mark.parametrize("host", FOREIGN)
@pytest.mark.parametrize("path", ["/", "/widget.js", "/health", "/sources.json"])
def test_the_web_chat_refuses_a_foreign_host_name(webchat, host, path):
    status, _, body = get(webchat, path, host)
    assert status == 400, (host, path, status, body[:200])
    assert "host" in body.lower() and body.count("\n") <= 1 and "evil" not in body


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "chat.shop.example"])
def test_the_web_chat_snippet_comes_from_configuration_not_from_host(webchat, host):
    port = webchat.rsplit(":", 1)[1]
    status, _, page = get(webchat, "/", f"{host}:{port}")
    assert status == 200
    assert 'src="https://chat.shop.example/widget.js"' in page.replace("&#34;", '"'), page
    assert f"{host}:{port}/widget.js" not in page


def test_the_web_chat_default_public_url_is_its_loopback_port():
    from webchat.app import public_web_chat_url
    with environment({"WEBCHAT_PUBLIC_URL": "", "WEBCHAT_PORT": "6001"}):
        assert public_web_chat_url() == "http://127.0.0.1:6001"


def test_allowed_hosts_setting():
    with environment({"ALLOWED_HOSTS": "a.example b.example,c.example"}):
        assert allowed_hosts("0.0.0.0", "https://d.example:8443") == {
            "localhost", "127.0.0.1", "::1", "a.example", "b.example", "c.example", "d.example"}
    with environment({"ALLOWED_HOSTS": "*"}):
        assert allowed_hosts() == {"*"}
    assert host_name("[::1]:5056") == "::1" and host_name("Example.ORG.:80") == "example.org"
    assert host_name("a/b") is None and host_name("h:port") is None
