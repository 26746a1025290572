"""The inbox's only channel to the person: Rasa's HTTP API (token auth).

Reads a conversation's tracker and appends events to it with the side effects executed, so
an agent's reply reaches the person's chat live (on the channel they last wrote from) and a
hand-back resumes the paused assistant. Error messages never contain the token.
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from .ids import rasa_path_segment

TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)


class RasaError(Exception):
    """Rasa could not be reached or refused the request (message safe to show to staff)."""


class RasaClient:
    def __init__(self, url: str, token: str):
        self.url = url.rstrip("/")
        self.token = token

    def _address(self, cid: str, suffix: str, **params: str) -> URL:
        """Rasa does not percent-decode the id in its paths (see inbox.ids): it goes in
        verbatim, and the URL is marked as already encoded so nothing re-quotes it."""
        try:
            segment = rasa_path_segment(cid)
        except ValueError as exc:
            raise RasaError(str(exc)) from None
        query = urlencode({"token": self.token, **params})
        return URL(f"{self.url}/conversations/{segment}/{suffix}?{query}", encoded=True)

    async def _call(self, method: str, address: URL, body: Any = None) -> Any:
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
                async with session.request(method, address, json=body) as r:
                    if r.status >= 400:
                        detail = ""
                        try:
                            payload = await r.json(content_type=None)
                            detail = str((payload or {}).get("message") or "")[:200]
                        except Exception:  # noqa: BLE001
                            pass
                        raise RasaError(f"the assistant (Rasa) answered HTTP {r.status}"
                                        + (f": {detail}" if detail else ""))
                    return await r.json(content_type=None)
        except RasaError:
            raise
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError) as exc:
            raise RasaError(f"could not reach the assistant (Rasa) at {self.url}: "
                            f"{exc.__class__.__name__}") from None

    async def tracker(self, cid: str) -> Dict[str, Any]:
        return await self._call("GET", self._address(cid, "tracker"))

    async def append(self, cid: str, events: List[Dict[str, Any]]) -> Dict[str, Any]:
        """Appends events; bot messages among them are sent to the person's latest channel."""
        return await self._call("POST", self._address(
            cid, "tracker/events", output_channel="latest", execute_side_effects="true"), events)


def resume_events(*said: dict) -> list:
    """Events that give the chat back to the assistant: resume, anything said on handing back,
    then `action_listen`, so that the person's next message is handled like any other (a
    paused assistant logged no action_listen after the handoff)."""
    return [{"event": "resume"}, *said, {"event": "action", "name": "action_listen"}]
