"""Shared fixtures: every test runs offline, against servers on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.storage import Storage, open_storage
from tests.fakes.did import FakeDID
from tests.fakes.discord import FakeDiscord
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.processes import Children

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under mutmut, run the unit tier first: a mutant stops at its first failing test (-x),
    and mutmut passes a mutant's tests in no particular order."""
    if os.environ.get("MUTANT_UNDER_TEST"):
        items.sort(key=lambda item: not item.nodeid.startswith("tests/unit/"))


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any connection that is not to loopback (asyncio uses sock_connect → connect)."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield


PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the proxy variables: a proxy set on the test machine must not apply.

    tests/test_proxy.py sets them itself; the children tests start inherit this environment.
    """
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


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


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each backend (PostgreSQL skips unless a test server is given)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    """The stores on `database_url`, closed after the test."""
    opened = await open_storage(database_url)
    yield opened
    await opened.close()


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


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    """A fake Telegram Bot API."""
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _restore_discord_urls() -> Iterator[None]:
    """discord.py's REST base and gateway URL, which bot/platforms.py sets, as they were."""
    saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


@pytest.fixture
async def dc() -> AsyncIterator[FakeDiscord]:
    """A fake Discord: REST API and gateway."""
    async with FakeDiscord() as fake:
        yield fake


@pytest.fixture
async def children() -> AsyncIterator[Children]:
    """Starts child processes; each is killed (SIGKILL after a bounded wait) and reaped after."""
    owner = Children()
    try:
        yield owner
    finally:
        await owner.aclose()


# -- nothing left running when the session ends -----------------------------------------------
#
# A test that leaves an aiosqlite connection open leaves its non-daemon worker thread running,
# and Python waits for every non-daemon thread before it exits: pytest would hang after printing
# its result. A child process left running outlives pytest. Both fail the session, by name.

THREAD_JOIN_SECONDS = 3.0  # for all lingering threads together (aiosqlite's end once closed)
CHILD_EXIT_SECONDS = 3.0  # for child processes that are on their way out
_exit_status: list[int] = []
_left_running: list[str] = []
# A process or file that went away (or was never ours to wait for) meanwhile.
_GONE = (ProcessLookupError, ChildProcessError, FileNotFoundError)


@pytest.hookimpl(trylast=True)  # after the session-scoped fixtures are torn down
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session if threads or child processes are still running."""
    if "MUTANT_UNDER_TEST" in os.environ:
        return  # mutmut runs pytest inside its own process, next to its own threads and workers
    _left_running.extend(
        f"thread {describe_thread(t)}" for t in lingering_threads(THREAD_JOIN_SECONDS)
    )
    _left_running.extend(f"child process {process}: killed" for process in lingering_children())
    if _left_running and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if _left_running and session.config.pluginmanager.get_plugin("terminalreporter") is None:
        print("\n".join(_report_lines()), file=sys.stderr)
    _exit_status.append(int(session.exitstatus))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name what was left running, just above the final counts."""
    if _left_running:
        terminalreporter.write_sep("=", "LEFT RUNNING", red=True, bold=True)
        for line in _report_lines():
            terminalreporter.write_line(line, red=True)


def _report_lines() -> list[str]:
    return [
        f"{len(_left_running)} left running when the session ended: a test did not close or "
        "reap what it opened (see docs/testing.md)",
        *(f"  {problem}" for problem in _left_running),
    ]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Exit now if a non-daemon thread is still running: Python would wait for it forever."""
    if _exit_status and lingering_threads(0):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1] or pytest.ExitCode.TESTS_FAILED)


def lingering_threads(join_seconds: float) -> list[threading.Thread]:
    """Non-daemon threads other than the main one still alive after a bounded join."""
    gc.collect()  # an unreferenced aiosqlite connection stops its thread when collected
    deadline = time.monotonic() + join_seconds
    for thread in _non_daemon_threads():
        thread.join(max(0.0, deadline - time.monotonic()))
    return _non_daemon_threads()


def _non_daemon_threads() -> list[threading.Thread]:
    main = threading.main_thread()
    return [t for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive()]


def describe_thread(thread: threading.Thread) -> str:
    """The thread's name, which since Python 3.10 includes its target's (aiosqlite's worker)."""
    return f"{thread.name!r} ({type(thread).__module__}.{type(thread).__qualname__})"


def lingering_children() -> list[str]:
    """Child processes of this process still running after a short wait: named, killed, reaped.

    Zombies (exited, not yet waited for) are reaped quietly.
    """
    deadline = time.monotonic() + CHILD_EXIT_SECONDS
    while True:
        running = [pid for pid in _children() if _reap_if_exited(pid) is False]
        if not running or time.monotonic() >= deadline:
            break
        time.sleep(0.05)  # polling their exit, with a deadline
    named = [describe_process(pid) for pid in running]
    for pid in running:
        with contextlib.suppress(*_GONE):
            os.kill(pid, signal.SIGKILL)
    kill_deadline = time.monotonic() + CHILD_EXIT_SECONDS
    while any(_reap_if_exited(pid) is False for pid in running):
        if time.monotonic() >= kill_deadline:
            break
        time.sleep(0.05)
    return named


def _children() -> list[int]:
    """The pids whose parent is this process, from /proc."""
    me = os.getpid()
    found: set[int] = set()
    for task in Path(f"/proc/{me}/task").glob("*/children"):
        with contextlib.suppress(*_GONE):
            found.update(int(pid) for pid in task.read_text().split())
    return sorted(found)


def _reap_if_exited(pid: int) -> bool | None:
    """True if it had exited (now reaped), False if it runs, None if it is gone already."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    if state not in ("Z", "X"):
        return False
    with contextlib.suppress(*_GONE):
        os.waitpid(pid, os.WNOHANG)
    return True


def describe_process(pid: int) -> str:
    """The pid and its command line."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        command = "?"
    return f"{pid} ({command.strip()[:200]})"
