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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_in_thread(app: Sanic, port: Optional[int] = None,
                    timeout: float = 20.0) -> Iterator[str]:
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
        loop.run_until_complete(server.before_stop())
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.run_until_complete(server.after_stop())
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
