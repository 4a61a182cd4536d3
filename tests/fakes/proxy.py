"""An HTTP forward proxy on 127.0.0.1 that records every request that went through it.

It speaks what a client sends a proxy (RFC 9112 §3.2.2, RFC 9110 §9.3.6):
- a plain `http://` request in absolute form (`GET http://host:port/path HTTP/1.1`): the proxy
  opens the origin, sends the request in origin form without the `Proxy-*` headers, and relays
  the answer with `Connection: close` (one request per connection keeps the relay simple);
- a WebSocket upgrade in absolute form: relayed both ways until either side closes;
- `CONNECT host:port`: `200 Connection Established`, then bytes both ways (an `https://` origin).
With `credentials` set it answers `407 Proxy Authentication Required` to a request without the
matching `Proxy-Authorization: Basic` header, as a real authenticating proxy does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

HEAD_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class Passed:
    """One request the proxy was asked to carry."""

    method: str
    target: str  # the absolute URL, or `host:port` for CONNECT
    proxy_authorization: str | None


class ForwardProxy:
    """`async with ForwardProxy() as proxy:` then set HTTP_PROXY to `proxy.url`."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.passed: list[Passed] = []
        self._credentials = credentials
        self._server: asyncio.Server | None = None
        self.errors: list[BaseException] = []  # the proxy's own faults, raised at exit
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()  # both sides of every relay

    async def __aenter__(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()  # every relay's reads end, and with them its handler
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)
        await self._server.wait_closed()
        if self.errors and exc[0] is None:
            raise self.errors[0]

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        if self._credentials is None:
            return f"http://127.0.0.1:{port}"
        user, password = self._credentials
        return f"http://{user}:{password}@127.0.0.1:{port}"

    def targets(self, prefix: str) -> list[str]:
        """The targets passed that start with `prefix` (a fake's base URL)."""
        return [p.target for p in self.passed if p.target.startswith(prefix)]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # a side closed: what a proxy sees every day
        except Exception as error:
            self.errors.append(error)
        finally:
            self._writers.discard(writer)
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
        method, target, version = request_line.split(" ", 2)
        headers = [(name.strip(), value.strip()) for name, _, value in map(_split, lines)]
        auth = next((v for k, v in headers if k.lower() == "proxy-authorization"), None)
        self.passed.append(Passed(method, target, auth))
        if not self._authorized(auth):
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )
            await writer.drain()
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            if (opened := await self._open(host, int(port), writer)) is None:
                return
            up_reader, up_writer = opened
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await _relay(reader, writer, up_reader, up_writer)
            return
        parts = urlsplit(target)
        # aiohttp writes a ws:// WebSocket handshake in absolute form with its own scheme.
        if parts.scheme not in ("http", "ws") or not parts.hostname:
            raise AssertionError(f"not an absolute-form http:// or ws:// target: {target}")
        if (opened := await self._open(parts.hostname, parts.port or 80, writer)) is None:
            return
        up_reader, up_writer = opened
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        kept = [(k, v) for k, v in headers if not k.lower().startswith("proxy-")]
        upgrade = any(k.lower() == "upgrade" for k, _ in kept)
        if not upgrade:
            kept = [(k, v) for k, v in kept if k.lower() != "connection"]
            kept.append(("Connection", "close"))
        up_writer.write(_head(f"{method} {path} {version}", kept))
        await _relay(reader, writer, up_reader, up_writer)

    async def _open(
        self, host: str, port: int, writer: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """Connect to the origin; None once the client was told it could not be reached."""
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError as error:  # refused, or a name that does not resolve
            reason = str(error).encode("latin-1", "replace")
            writer.write(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n"
                + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(reason)
                + reason
            )
            await writer.drain()
            return None
        self._writers.add(up_writer)
        return up_reader, up_writer

    def _authorized(self, header: str | None) -> bool:
        if self._credentials is None:
            return True
        expected = base64.b64encode(":".join(self._credentials).encode()).decode()
        return header == f"Basic {expected}"


def _split(line: str) -> tuple[str, str, str]:
    return line.partition(":")


def _head(first: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [first, *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def _relay(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    """Copy bytes both ways until the origin closes (then the client's side is closed too)."""
    upward = asyncio.create_task(_copy(reader, up_writer), name="proxy-upward")
    try:
        await _copy(up_reader, writer)
    finally:
        upward.cancel()
        await asyncio.gather(upward, return_exceptions=True)
        up_writer.close()
        with contextlib.suppress(ConnectionError):
            await up_writer.wait_closed()


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await source.read(64 * 1024):
            sink.write(chunk)
            await sink.drain()
