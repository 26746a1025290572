"""The web chat's Sanic app: the demo shop page, the embeddable widget and its assets.

    app = create_app("http://127.0.0.1:5005")              # the browser connects to it too
    app = create_app(rasa_url, public_rasa_url="https://chat.example.com",
                     public_url="https://widget.example.com")

Routes: `/` (demo shop page, widget open), `/widget.js` (the embeddable widget), `/sources`
(the knowledge base's sources, an anchor per id), `/sources.json` (what the widget needs to
turn "(Sources: …)" into links), `/health`, and `/static/…` (the widget's stylesheet, the
demo page's stylesheet, and the socket.io client installed by npm in webchat/node_modules).

Host header (DNS rebinding): only requests naming one of the web chat's host names are
answered (the loopback names, the host of WEBCHAT_PUBLIC_URL, ALLOWED_HOSTS); others get 400
with a one-line reason. The embed snippet shown on the demo page names WEBCHAT_PUBLIC_URL
(default http://127.0.0.1:WEBCHAT_PORT), never the request's Host header.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.limits import MESSAGE_MAX_CHARS
from actions.triage.engine import default_kb
from inbox.auth import allowed_hosts, host_problem
from inbox.server import unique_app_name

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
SOCKET_IO_DIST = HERE / "node_modules" / "socket.io-client" / "dist"
SOCKET_IO_JS = SOCKET_IO_DIST / "socket.io.min.js"
MODES = ("shop", "clinic")
DEMO_SHOP_ID = "demo-shop"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _csp(rasa_origin: str) -> str:
    """The pages' Content Security Policy: our own scripts and styles only, and connections
    to Rasa's socket.io (WebSocket) besides ourselves."""
    ws = rasa_origin.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {rasa_origin} {ws}; form-action 'none'; "
            "frame-ancestors 'none'; base-uri 'none'")


def kb_sources() -> List[Dict[str, str]]:
    """The knowledge base's sources in their order: [{"id", "kind", "title"}]."""
    raw = default_kb().raw
    return [{"id": str(sid), "kind": str(s.get("kind", "")), "title": str(s.get("title", ""))}
            for sid, s in raw["sources"].items()]


def public_web_chat_url() -> str:
    """Where browsers load the web chat (widget.js) from: WEBCHAT_PUBLIC_URL, default
    http://127.0.0.1:WEBCHAT_PORT (5057)."""
    configured = (os.environ.get("WEBCHAT_PUBLIC_URL") or "").strip()
    port = (os.environ.get("WEBCHAT_PORT") or "").strip() or "5057"
    return (configured or f"http://127.0.0.1:{port}").rstrip("/")


def create_app(rasa_url: str, public_rasa_url: Optional[str] = None,
               public_url: Optional[str] = None,
               hosts: Optional[List[str]] = None) -> Sanic:
    """rasa_url: the Rasa server (REST and socket.io channels); public_rasa_url: where
    browsers reach it (default: rasa_url); public_url: where browsers reach this web chat,
    for the embed snippet (default: public_web_chat_url()); hosts: the host names it answers
    to (default: allowed_hosts() with public_url's)."""
    rasa_url = rasa_url.rstrip("/")
    public = (public_rasa_url or rasa_url).rstrip("/")
    here = (public_url or public_web_chat_url()).rstrip("/")
    allowed = frozenset(hosts) if hosts is not None else allowed_hosts(here)
    app = Sanic(unique_app_name("webchat"))
    app.config.FALLBACK_ERROR_FORMAT = "text"
    app.ctx.rasa_url, app.ctx.public_rasa_url = rasa_url, public
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True)
    csp = _csp(_origin(public))
    sources = kb_sources()
    kinds = {"study": "Study", "reg": "Regulator", "label": "Product label",
             "industry": "Industry"}
    privacy = default_kb().raw.get("privacy") or {}
    sources_doc = {"sources": sources, "deleted_text": privacy.get("deleted", "")}

    def page(template: str, **context: Any) -> HTTPResponse:
        html = env.get_template(template).render(**context)
        return response.html(html, headers={"Content-Security-Policy": csp})

    @app.middleware("request")
    async def check_host(request: Request) -> Optional[HTTPResponse]:
        wrong_host = host_problem(request.headers.get("host"), allowed)
        if wrong_host:
            return response.text(wrong_host + "\n", status=400)
        return None

    @app.middleware("response")
    async def common_headers(request: Request, resp: HTTPResponse) -> None:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")

    @app.get("/")
    async def index(request: Request) -> HTTPResponse:
        mode = request.args.get("mode", "shop")
        mode = mode if mode in MODES else "shop"
        snippet = (f'<script src="{here}/widget.js" data-rasa-url="{public}" '
                   'data-mode="shop" data-shop-id="my-shop" defer></script>')
        return page("index.html", rasa_url=public, mode=mode, shop_id=DEMO_SHOP_ID,
                    snippet=snippet)

    # the input's maxlength is the server's message limit (one place: actions/limits.py)
    widget_js = (STATIC / "widget.js").read_text(encoding="utf-8").replace(
        "__MESSAGE_MAX_CHARS__", str(MESSAGE_MAX_CHARS))

    @app.get("/widget.js")
    async def widget(request: Request) -> HTTPResponse:
        return response.text(
            widget_js, content_type="application/javascript; charset=utf-8",
            headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"})

    @app.get("/sources")
    async def sources_page(request: Request) -> HTTPResponse:
        rows = [{**s, "kind_label": kinds.get(s["kind"], s["kind"])} for s in sources]
        return page("sources.html", sources=rows)

    @app.get("/sources.json")
    async def sources_json(request: Request) -> HTTPResponse:
        return response.json(sources_doc, headers={"Access-Control-Allow-Origin": "*",
                                                   "Cache-Control": "max-age=300"})

    @app.get("/favicon.ico")
    async def favicon(request: Request) -> HTTPResponse:
        return response.redirect("/static/favicon.svg", status=301)

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @app.get("/static/socket.io.min.js")
    async def socket_io(request: Request) -> HTTPResponse:
        if not SOCKET_IO_JS.exists():
            return response.text("socket.io client missing: run `npm ci` in webchat/",
                                 status=503)
        return await response.file(SOCKET_IO_JS,
                                   mime_type="application/javascript; charset=utf-8",
                                   headers={"Access-Control-Allow-Origin": "*",
                                            "Cache-Control": "max-age=3600"})

    @app.get("/static/socket.io.min.js.map")
    async def socket_io_map(request: Request) -> HTTPResponse:
        path = SOCKET_IO_DIST / "socket.io.min.js.map"
        if not path.exists():
            return response.text("not found", status=404)
        return await response.file(path, mime_type="application/json")

    app.static("/static", str(STATIC), name="webchat_static")
    return app
