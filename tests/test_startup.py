"""Start-up failures as the operator sees them: one line on stderr naming the fix, exit code 2.

`avatarbot run` (and chat, check, migrate) against a port that is taken, or a service on a
loopback port that refuses connections: never a traceback.
"""

import asyncio
import os
import socket
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import telegram.error

from bot.settings import Settings
from bot.startup import explain
from core.errors import ConfigurationError
from tests.processes import child

TOKEN = "123456:telegram-secret-token"
PASSWORD = "pg-secret-password"


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound but never listening, held by the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def environment(tmp_path: Path, closed_port: int, **extra: str) -> dict[str, str]:
    """Only what the start-up needs; Groq and D-ID are not called before the platforms start.

    At WARNING, the level that shows an operator's problems: INFO has progress lines (the
    migrations applied, discord.py's "logging in") that are no part of the failure.
    """
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GROQ_API_KEY": "gsk_test",
        "GROQ_BASE_URL": f"http://127.0.0.1:{closed_port}",
        "DATABASE_PATH": str(tmp_path / "db" / "bot.db"),
        "WEB_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    } | extra


async def avatarbot(tmp_path: Path, env: dict[str, str], command: str) -> tuple[int, list[str]]:
    """Run one command; its exit code and its stderr lines."""
    async with child(
        sys.executable, "-m", "bot", command, cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    ) as process:  # fmt: skip
        _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode is not None
    return process.returncode, err.decode().splitlines()


async def test_the_web_port_taken(tmp_path: Path, closed_port: int, taken_port: int) -> None:
    env = environment(tmp_path, closed_port, WEB_ENABLED="true", WEB_PORT=str(taken_port))
    assert await avatarbot(tmp_path, env, "run") == (
        2,
        [
            f"avatarbot: WEB_PORT {taken_port} is already in use: "
            "stop the other program or set WEB_PORT"
        ],
    )


async def test_the_web_host_not_of_this_machine(tmp_path: Path, closed_port: int) -> None:
    env = environment(
        tmp_path, closed_port, WEB_ENABLED="true", WEB_HOST="192.0.2.1", WEB_PUBLIC="true"
    )
    assert await avatarbot(tmp_path, env, "run") == (
        2,
        ["avatarbot: WEB_HOST 192.0.2.1 is not an address of this machine: set WEB_HOST"],
    )


@pytest.mark.parametrize("command", ["run", "chat", "check", "migrate"])
async def test_postgresql_unreachable(tmp_path: Path, closed_port: int, command: str) -> None:
    database = f"postgresql://avatarbot:{PASSWORD}@127.0.0.1:{closed_port}/avatarbot"
    env = environment(tmp_path, closed_port, DATABASE_URL=database, WEB_ENABLED="true")
    assert await avatarbot(tmp_path, env, command) == (
        2,
        [
            f"avatarbot: cannot reach PostgreSQL at DATABASE_URL (127.0.0.1:{closed_port}): "
            "connection refused"
        ],
    )


async def test_telegram_unreachable(tmp_path: Path, closed_port: int) -> None:
    env = environment(
        tmp_path,
        closed_port,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{closed_port}",
    )
    code, err = await avatarbot(tmp_path, env, "run")
    assert (code, err) == (
        2,
        [
            f"avatarbot: cannot reach Telegram at TELEGRAM_API_BASE_URL "
            f"(127.0.0.1:{closed_port}): connection refused"
        ],
    )


async def test_discord_unreachable(tmp_path: Path, closed_port: int) -> None:
    env = environment(
        tmp_path,
        closed_port,
        DISCORD_BOT_TOKEN="discord.secret.token",
        DISCORD_API_BASE_URL=f"http://127.0.0.1:{closed_port}/api/v10",
    )
    assert await avatarbot(tmp_path, env, "run") == (
        2,
        [
            f"avatarbot: cannot reach Discord at DISCORD_API_BASE_URL "
            f"(127.0.0.1:{closed_port}): connection refused"
        ],
    )


async def test_the_sqlite_folder_cannot_be_created(tmp_path: Path, closed_port: int) -> None:
    (tmp_path / "file").write_text("not a folder")
    env = environment(tmp_path, closed_port, DATABASE_PATH=str(tmp_path / "file" / "bot.db"))
    code, err = await avatarbot(tmp_path, env, "migrate")
    assert (code, len(err)) == (2, 1)
    assert err[0].startswith(
        f"avatarbot: cannot open the SQLite database at DATABASE_PATH ({tmp_path}/file/bot.db): "
    )


async def test_postgresql_refuses_the_password_or_the_database(
    tmp_path: Path, closed_port: int
) -> None:
    admin = os.environ.get("AVATARBOT_TEST_POSTGRES_URL")
    if not admin:
        pytest.skip("set AVATARBOT_TEST_POSTGRES_URL; make test starts a server")
    parts = urlsplit(admin)
    where = f"DATABASE_URL ({parts.hostname}:{parts.port})"
    wrong = parts._replace(netloc=f"{parts.username}:{PASSWORD}@{parts.hostname}:{parts.port}")
    missing = parts._replace(path="/no_such_database")
    for url, line in (
        (wrong, f"PostgreSQL at {where} refused the user or password: fix DATABASE_URL"),
        (
            missing,
            f"PostgreSQL at {where} has no database 'no_such_database': "
            "create it or fix DATABASE_URL",
        ),
    ):
        env = environment(tmp_path, closed_port, DATABASE_URL=url.geturl())
        assert await avatarbot(tmp_path, env, "migrate") == (2, [f"avatarbot: {line}"])


# -- the mapping itself, for the failures a test cannot easily cause --------------------------


def settings() -> Settings:
    return Settings(_env_file=None, GROQ_API_KEY="gsk_test")  # type: ignore[call-arg,arg-type]


def raised(error: BaseException) -> BaseException:
    """`error` with a traceback, as `explain` gets it."""
    try:
        raise error
    except BaseException as caught:
        return caught


def test_a_configuration_error_is_its_detail() -> None:
    error = ConfigurationError("short", detail="Discord refused DISCORD_BOT_TOKEN")
    assert explain(error, settings()) == "Discord refused DISCORD_BOT_TOKEN"


def test_telegram_timing_out_names_its_url() -> None:
    line = explain(raised(telegram.error.TimedOut()), settings())
    assert line == (
        "cannot reach Telegram at TELEGRAM_API_BASE_URL (api.telegram.org:443): timed out"
    )


def test_a_bug_keeps_its_traceback() -> None:
    assert explain(raised(ValueError("a bug")), settings()) is None
    assert explain(raised(KeyError("x")), settings()) is None
    statement = sqlite3.OperationalError("no such table: turns")  # a bug, not the file
    assert explain(raised(statement), settings()) is None
