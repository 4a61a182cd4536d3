"""python-telegram-bot's HTTP requests on aiohttp's connection pool instead of httpcore's."""

from __future__ import annotations

import httpx
from telegram.request import HTTPXRequest

from core.http import PooledTransport


class AiohttpRequest(HTTPXRequest):
    """PTB's `HTTPXRequest` with httpx sending through aiohttp (see `PooledTransport`).

    A Bot API call costs about half the CPU this way when hundreds of chats are answered at
    once. PTB builds a new client after a shutdown, so each client gets a transport of its own.
    """

    def _build_client(self) -> httpx.AsyncClient:
        options = dict(self._client_kwargs)
        options["transport"] = PooledTransport(limits=options["limits"])
        return httpx.AsyncClient(**options)
