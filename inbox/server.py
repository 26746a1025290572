"""Run an inbox app in a background thread with its own event loop (tests, embedding):

    with serve_in_thread(create_app(store, rasa_url, token)) as base_url:
        urllib.request.urlopen(base_url + "/health")
"""
import asyncio
import contextlib
import socket
import threading
from typing import Iterator, Optional

from sanic import Sanic


def unique_app_name(base: str) -> str:
    """A Sanic app name not yet taken in this process (several apps run in one process in
    tests)."""
    name, n = base, 1
    while name in Sanic._app_registry:
        n += 1
        name = f"{base}_{n}"
    return name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_in_thread(app: Sanic, port: Optional[int] = None,
                    timeout: float = 20.0) -> Iterator[str]:
    # Sanic 21.12 rewrites some of its own methods when an app starts ("TouchUp"); starting
    # a second app in the same process needs test mode, which keeps the originals to rewrite.
    Sanic.test_mode = True
    port = port or free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list = []
    holder: dict = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(app.create_server(
                host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False))
            loop.run_until_complete(server.startup())
            loop.run_until_complete(server.before_start())
            loop.run_until_complete(server.after_start())
            holder["server"] = server
        except BaseException as exc:  # noqa: BLE001 (reported to the caller)
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        # the same shutdown as Sanic's own runner: stop listening, let idle keep-alive
        # connections go, give busy ones a moment, then abort what is left
        loop.run_until_complete(server.before_stop())
        server.server.close()
        loop.run_until_complete(server.wait_closed())
        for conn in list(server.connections):
            conn.close_if_idle()
        waited = 0.0
        while server.connections and waited < 2.0:
            loop.run_until_complete(asyncio.sleep(0.05))
            waited += 0.05
        for conn in list(server.connections):
            conn.abort()
        loop.run_until_complete(asyncio.sleep(0))
        loop.run_until_complete(server.after_stop())
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=run, name=f"inbox-{port}", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise RuntimeError("the inbox did not start in time")
    if failure:
        raise RuntimeError(f"the inbox did not start: {failure[0]!r}") from failure[0]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
