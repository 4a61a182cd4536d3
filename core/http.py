"""httpx clients that send through aiohttp's connection pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from httpx_aiohttp import AiohttpTransport


class PooledTransport(AiohttpTransport):
    """httpx's requests sent by aiohttp.

    httpcore's pool spends O(open connections) of CPU per request, which dominates when hundreds
    of answers stream at once; aiohttp's pool is a dictionary lookup per host.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request`; a body abandoned mid-read gives its connection back."""
        response = await super().handle_async_request(request)
        if isinstance(response.stream, httpx.AsyncByteStream):
            response.stream = _ReleasingStream(response.stream)
        return response


class _ReleasingStream(httpx.AsyncByteStream):
    """A body that is closed when reading it is cancelled or fails.

    The groq SDK leaves a stream's response open when its reader is cancelled mid-answer (a
    shutdown, a user's turn dropped): without this the connection would only go back once the
    rest of the body arrived, or at garbage collection. Closing an unfinished aiohttp response
    closes its connection rather than returning it to the pool.
    """

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """Yield the body's chunks; close it if the reader stops on an error or a cancel."""
        try:
            async for chunk in self._inner:
                yield chunk
        except BaseException:
            await self._inner.aclose()
            raise

    async def aclose(self) -> None:
        """Close the body (and give its connection back)."""
        await self._inner.aclose()


def pooled_client(
    limits: httpx.Limits, session: Callable[[], Any] | None = None, **options: Any
) -> httpx.AsyncClient:
    """Return an `httpx.AsyncClient` on a `PooledTransport` of at most `limits` connections.

    `session` builds the aiohttp session the transport sends on (bot/proxies.py, for a proxy);
    unset, httpx-aiohttp builds its own, which reaches every host directly (httpx reads no
    proxy from the environment for a client on its own transport, nor does aiohttp without
    `trust_env`).
    """
    transport = PooledTransport(limits=limits, client=session)
    return httpx.AsyncClient(transport=transport, limits=limits, **options)
