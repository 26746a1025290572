"""python -m actions.action_server [--port 5055]: the action server (rasa-sdk's app running
actions.actions), hardened. The one way the project starts it (scripts/run.sh,
tools/servers.py).

Settings (environment; the project's .env fills only unset variables):

- ACTION_SERVER_HOST: the interface it listens on; default 127.0.0.1 (rasa-sdk's own default
  is every interface). Any other than loopback needs ACTION_SERVER_TOKEN, or it refuses to
  start.
- ACTION_SERVER_TOKEN: a shared secret. When set, every call but GET /health must carry it in
  the X-Action-Server-Token header (endpoints.yml makes Rasa send it); without it: 401 and no
  action runs. Empty: no check (loopback only).
- ACTION_SERVER_MAX_BODY_MB: the largest request body, and the largest it may inflate to
  when sent compressed (Content-Encoding: deflate or gzip); default 8. More: 413. rasa-sdk
  itself accepts Sanic's 100 MB and inflates `deflate` with no limit at all.

Errors are answered as {"error": "<one line>"}; logs name what happened, never a request
body (message text, health facts) nor the token.
"""
import argparse
import hmac
import ipaddress
import logging
import os
import sys
import traceback
import zlib
from pathlib import Path
from typing import Any, List, Optional

from dotenv import load_dotenv
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request

logger = logging.getLogger("actions.action_server")  # also when run as __main__

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5055
DEFAULT_MAX_BODY_MB = 8.0
TOKEN_HEADER = "X-Action-Server-Token"
OPEN_ROUTES = {("GET", "/health"), ("HEAD", "/health")}


def setting(name: str, default: str = "") -> str:
    load_dotenv(ROOT / ".env", override=False)
    return (os.environ.get(name) or default).strip()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BodyTooLarge(Exception):
    pass


def inflate(data: bytes, encoding: str, limit: int) -> bytes:
    """The body decompressed, never more than `limit` bytes of it in memory: BodyTooLarge
    when it would inflate further, ValueError when it is not a whole zlib/gzip stream."""
    wbits = zlib.MAX_WBITS if encoding == "deflate" else 16 + zlib.MAX_WBITS
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise ValueError("not a valid compressed body") from e
    if len(out) > limit:
        raise BodyTooLarge()
    if not d.eof or d.unused_data:
        raise ValueError("not a valid compressed body")
    return out


def action_call_problem(call: Any) -> Optional[str]:
    """None if `call` has the shape of the action call Rasa sends (what rasa-sdk reads of it
    without checking), else a one-line reason that quotes nothing of it."""
    if not isinstance(call, dict):
        return "the body must be a JSON object: an action call from Rasa"
    if not isinstance(call.get("next_action"), str) or not call["next_action"]:
        return "next_action is required: the name of the action to run"
    if not isinstance(call.get("version", ""), str):
        return "version must be a string"
    tracker = call.get("tracker")
    if not isinstance(tracker, dict):
        return "tracker is required: a JSON object"
    if not isinstance(tracker.get("sender_id"), str):
        return "tracker.sender_id is required: a string"
    for key, kind, name in (("slots", dict, "an object"), ("latest_message", dict, "an object"),
                            ("events", list, "a list"), ("active_loop", dict, "an object")):
        if tracker.get(key) is not None and not isinstance(tracker[key], kind):
            return f"tracker.{key} must be {name}"
    if call.get("domain") is not None and not isinstance(call["domain"], dict):
        return "domain must be a JSON object"
    return None


def _error(message: str, status: int) -> response.HTTPResponse:
    return response.json({"error": message}, status=status)


def harden(app: Sanic, token: str, max_body: int) -> Sanic:
    """Adds to rasa-sdk's app: the body size limit, the token check and bounded inflating,
    and an error handler that never echoes the body or an exception's message."""
    app.config.REQUEST_MAX_SIZE = max_body
    expected = token.encode("utf-8")

    @app.middleware("request")
    async def guard(request: Request) -> Optional[response.HTTPResponse]:
        if (request.method, request.path) in OPEN_ROUTES:
            return None
        if expected:
            given = request.headers.get(TOKEN_HEADER, "").encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(given, expected):
                logger.warning("action server: refused %s %s without the right token",
                               request.method, request.path)
                return _error("missing or wrong action server token", 401)
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("", "identity"):
            return _checked_call(request)
        if encoding == "x-gzip":
            encoding = "gzip"
        if encoding not in ("deflate", "gzip"):
            return _error("unsupported Content-Encoding (use deflate, gzip or none)", 415)
        try:
            request.body = inflate(request.body or b"", encoding, max_body)
        except BodyTooLarge:
            logger.warning("action server: refused a %s body inflating beyond %d bytes",
                           encoding, max_body)
            return _error(f"request body inflates beyond the limit of {max_body} bytes", 413)
        except ValueError as e:
            return _error(f"{e} ({encoding})", 400)
        # rasa-sdk's webhook inflates `deflate` bodies itself (without a limit): it now gets
        # the inflated body as a plain one
        del request.headers["Content-Encoding"]
        return _checked_call(request)

    def _checked_call(request: Request) -> Optional[response.HTTPResponse]:
        """A webhook call that is no action call gets 400 here, not a crash in rasa-sdk."""
        if (request.method, request.path.rstrip("/")) != ("POST", "/webhook"):
            return None
        if not request.body:
            # no body, or Sanic is answering an error (it runs request middleware for its
            # error answers too, e.g. 413 before a body was read): rasa-sdk's own 400, or
            # Sanic's error, stands
            return None
        problem = action_call_problem(request.json)  # not JSON: Sanic's 400
        if problem:
            logger.warning("action server: refused a malformed action call (%s)", problem)
            return _error(problem, 400)
        return None

    @app.exception(Exception)  # replaces rasa-sdk's, which echoes the body and the error
    async def on_error(request: Request, exception: Exception) -> response.HTTPResponse:
        status = getattr(exception, "status_code", 500) or 500
        if isinstance(exception, SanicException) and status < 500:
            # Sanic's own messages ("Request body exceeds the size limit", "Failed when
            # parsing body as json"): they never quote the request
            reason = (str(exception).splitlines() or ["bad request"])[0]
            if status == 413:
                reason += f" ({max_body} bytes)"
            return _error(reason, status)
        # the traceback's frames and the exception's type, not its message (it may quote
        # what the person said)
        logger.error("action server: %s on %s %s\n%s", type(exception).__name__,
                     getattr(request, "method", "?"), getattr(request, "path", "?"),
                     "".join(traceback.format_tb(exception.__traceback__)))
        return _error("internal error in the action server",
                      status if isinstance(exception, SanicException) else 500)

    return app


def create_argument_parser() -> argparse.ArgumentParser:
    from rasa_sdk.endpoint import create_argument_parser as sdk_parser
    parser = sdk_parser()
    parser.prog = "python -m actions.action_server"
    parser.description = __doc__.split("\n\n")[0]
    parser.set_defaults(actions="actions.actions", port=DEFAULT_PORT)
    parser.add_argument("--host", default=None,
                        help=f"interface to listen on (default: ACTION_SERVER_HOST or "
                             f"{DEFAULT_HOST})")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from rasa_sdk import utils
    from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
    from rasa_sdk.endpoint import create_app, create_ssl_context
    from rasa_sdk.plugin import plugin_manager

    args = create_argument_parser().parse_args(argv)
    host = args.host or setting("ACTION_SERVER_HOST", DEFAULT_HOST)
    token = setting("ACTION_SERVER_TOKEN")
    try:
        max_mb = float(setting("ACTION_SERVER_MAX_BODY_MB", str(DEFAULT_MAX_BODY_MB)))
        if not 0 < max_mb <= 1024:
            raise ValueError
    except ValueError:
        print("action server: ACTION_SERVER_MAX_BODY_MB must be a number of MB (0-1024]",
              file=sys.stderr)
        return 2
    if not is_loopback(host) and not token:
        print(f"action server: refusing to listen on {host} without ACTION_SERVER_TOKEN "
              f"(set it here and for Rasa, or leave ACTION_SERVER_HOST at {DEFAULT_HOST})",
              file=sys.stderr)
        return 2

    # as rasa-sdk's own `python -m rasa_sdk` does
    logging.getLogger("matplotlib").setLevel(logging.WARN)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(logging.getLogger(APPLICATION_ROOT_LOGGER_NAME),
                                 args.log_file, args.loglevel, args.logging_config_file)
    utils.update_sanic_log_level()

    app = create_app(args.actions, cors_origins=args.cors, auto_reload=args.auto_reload)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    harden(app, token, int(max_mb * 1024 * 1024))
    ssl_context = create_ssl_context(args.ssl_certificate, args.ssl_keyfile,
                                     args.ssl_password)
    logger.info("Action server on %s://%s:%s (token check %s, body limit %s MB)",
                "https" if ssl_context else "http", host, args.port,
                "on" if token else "off", max_mb)
    app.run(host, args.port, ssl=ssl_context, workers=utils.number_of_sanic_workers())
    return 0


if __name__ == "__main__":
    sys.exit(main())
