"""python-telegram-bot's networking on aiohttp, the HTTP client the rest of the bot runs on."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import aiohttp
from telegram import Update
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from core.proxy import Proxy

# PTB's HTTPXRequest words a pool timeout this way; the request never left.
POOL_TIMEOUT = (
    "Pool timeout: All connections in the connection pool are occupied. Request was *not* sent "
    "to Telegram. Consider adjusting the connection pool size or the pool timeout."
)


class AiohttpRequest(BaseRequest):
    """PTB's `BaseRequest` on an aiohttp session: the backend PTB lets an application supply.

    PTB's own `HTTPXRequest` goes through httpx and httpcore, whose pool spends O(open
    connections) per request; a Bot API call costs about a third of that CPU this way, which
    matters with hundreds of chats answered at once. Parameters go out as PTB's do: a form
    of JSON-encoded values, multipart when there are files.

    The timeouts mean what HTTPXRequest's do: `connect` bounds opening a new connection (DNS,
    TCP and TLS), `read` each wait for the server's answer, `pool` only the wait for a free
    connection slot. aiohttp has no write timeout, so an upload's whole exchange is bounded by
    connect + write + read instead.

    Every request goes through `proxy` when one is given (aiohttp's session reads no proxy
    from the environment without `trust_env`, which would also send `.netrc` credentials).
    """

    FORM = {"Content-Type": "application/x-www-form-urlencoded"}

    def __init__(
        self,
        connection_pool_size: int = 256,
        *,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
        on_status: Callable[[int], None] | None = None,
        proxy: Proxy | None = None,
    ) -> None:
        self._pool_size = connection_pool_size
        self._proxy = proxy.url if proxy is not None else None  # credentials in the URL
        self._on_status = on_status  # told each answer's HTTP status (for metrics)
        self._read, self._media_write = read_timeout, media_write_timeout
        self._connect, self._pool = connect_timeout, pool_timeout
        self._slots = asyncio.Semaphore(connection_pool_size)
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The read timeout used when a call does not pass one."""
        return self._read

    async def initialize(self) -> None:
        """Open the session (again, after a shutdown)."""
        if self._session is None or self._session.closed:
            # The pool's slots: holding one, a request never waits on aiohttp's own limit.
            self._slots = asyncio.Semaphore(self._pool_size)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; PTB turns the status and body into a result or an error."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        files = bool(request_data and request_data.multipart_data)
        data: aiohttp.FormData | bytes | None = None
        headers = None
        if files and request_data is not None:
            data = _multipart(request_data)
        elif request_data is not None:
            # What aiohttp's FormData makes of a dict, without its per-request machinery:
            # a draft or message goes out on the path to the user's first text.
            data, headers = urlencode(request_data.json_parameters).encode(), self.FORM
        read, connect = _value(read_timeout, self._read), _value(connect_timeout, self._connect)
        write = _value(write_timeout, self._media_write)
        timeout = aiohttp.ClientTimeout(
            connect=connect,  # aiohttp's connect covers DNS, TCP and TLS of a new connection
            sock_read=read,
            total=_upload_bound(connect, write, read) if files else None,
        )
        async with self._slot(_value(pool_timeout, self._pool)):
            try:
                async with self._session.request(
                    method,
                    url,
                    data=data,
                    headers=headers,
                    timeout=timeout,
                    proxy=self._proxy,
                ) as response:
                    body = await response.read()
            except TimeoutError as error:
                raise TimedOut from error
            except aiohttp.ClientError as error:
                raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error
        if self._on_status is not None:
            self._on_status(response.status)
        return response.status, body

    @asynccontextmanager
    async def _slot(self, pool_timeout: float | None) -> AsyncIterator[None]:
        """Hold one of the pool's connection slots, waiting at most `pool_timeout` for it."""
        if self._slots.locked():
            try:
                async with asyncio.timeout(pool_timeout):
                    await self._slots.acquire()
            except TimeoutError:
                raise TimedOut(POOL_TIMEOUT) from None
        else:
            await self._slots.acquire()
        try:
            yield
        finally:
            self._slots.release()


class UpdatesRequest(AiohttpRequest):
    """The getUpdates connection, which keeps each update's JSON as Telegram sent it.

    The inbox stores that JSON to answer the update again after a restart. Serialising it back
    from PTB's objects (`Update.to_dict`) walks every object PTB built, on the path to each
    answer; PTB leaves the parsed JSON unaltered (`TelegramObject._parse_data` copies it).
    """

    def __init__(
        self, *, on_status: Callable[[int], None] | None = None, proxy: Proxy | None = None
    ) -> None:
        super().__init__(1, on_status=on_status, proxy=proxy)  # one long poll at a time
        self._received: dict[int, dict[str, Any]] = {}

    def parse_json_payload(self, payload: bytes) -> dict[str, Any]:  # type: ignore[override]
        """PTB's parsing; the updates of a successful answer are kept until `payload` asks."""
        data = BaseRequest.parse_json_payload(payload)
        result = data.get("result")
        if data.get("ok") and isinstance(result, list):
            self._received = {
                update["update_id"]: update
                for update in result
                if isinstance(update, dict) and isinstance(update.get("update_id"), int)
            }
        return data

    def payload(self, update: Update) -> str:
        """The update's JSON as received (as PTB serialises it when not received here)."""
        received = self._received.pop(update.update_id, None)
        return json.dumps(received if received is not None else update.to_dict())


def _multipart(request_data: RequestData) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        # aiohttp warns (ResourceWarning) on raw bytes over 1 MiB, as a video upload always is:
        # a file object is streamed in chunks instead.
        body = io.BytesIO(content) if isinstance(content, bytes | bytearray) else content
        form.add_field(name, body, filename=filename, content_type=mimetype)
    return form


def _value(given: object, default: float | None) -> float | None:
    """A timeout passed for one call, or ours when PTB passes one of its "not given" markers."""
    if given is None:
        return None
    if isinstance(given, int | float) and not isinstance(given, bool):
        return float(given)
    return default  # BaseRequest.DEFAULT_NONE: PTB's documented "not passed"


def _upload_bound(*parts: float | None) -> float | None:
    return None if any(part is None for part in parts) else sum(p for p in parts if p is not None)
