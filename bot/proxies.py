"""The aiohttp session under an httpx client (Groq, D-ID) whose requests go through a proxy."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import httpx

from core.proxy import Proxy


def proxied_session(
    limits: httpx.Limits, proxy: Proxy | None
) -> Callable[[], aiohttp.ClientSession] | None:
    """Build (on the first request) the session httpx-aiohttp would, with `proxy` as its default.

    None without a proxy: httpx-aiohttp builds its own. Its `proxy` option takes an
    `httpx.Proxy`, whose credentials it passes as aiohttp's deprecated `BasicAuth`; a session's
    default proxy keeps them in the URL, and aiohttp sends them as `Proxy-Authorization`.
    """
    if proxy is None:
        return None

    def build() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry,
            ssl=httpx.create_ssl_context(),
        )
        return aiohttp.ClientSession(connector=connector, proxy=proxy.url)

    return build
