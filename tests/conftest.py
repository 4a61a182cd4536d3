"""Shared fixtures: every test runs offline, against servers on 127.0.0.1 only."""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return isinstance(address, (str, bytes))  # AF_UNIX sockets are local


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_loopback(address):
        raise AssertionError(f"test tried to reach {address!r}; only loopback is allowed")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_loopback(address):
        raise AssertionError(f"test tried to reach {address!r}; only loopback is allowed")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any connection that is not to loopback (asyncio uses sock_connect → connect)."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    admin = os.environ.get("AVATARBOT_TEST_POSTGRES_URL")
    if not admin:
        pytest.skip("set AVATARBOT_TEST_POSTGRES_URL; make test starts a server")
    name = f"avatarbot_test_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    yield urlsplit(admin)._replace(path=f"/{name}").geturl()
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture
async def groq(request: pytest.FixtureRequest) -> AsyncIterator[FakeGroq]:
    """A fake Groq; a test module's `GROQ_REPLY` sets what the model answers."""
    async with FakeGroq() as fake:
        reply = getattr(request.module, "GROQ_REPLY", None)
        if reply is not None:
            fake.reply = reply
        yield fake


@pytest.fixture
async def did() -> AsyncIterator[FakeDID]:
    """A fake D-ID whose renders take 20 ms."""
    async with FakeDID(render_seconds=0.02) as fake:
        yield fake
