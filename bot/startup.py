"""Start-up failures as one line naming what to fix (exit code 2), never a traceback.

A port that is taken, a service that cannot be reached or a database that refuses us is the
operator's to fix, not a bug: `explain` turns such an error into one line that names the setting.
Any other error is a bug and keeps its traceback.

The service an error came from is read from its type where the library has its own (PTB,
asyncpg, groq), else from the frames it passed through: discord.py and asyncpg let the raw
socket error through, and only their frames say whose connection it was.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import socket
import sqlite3
import sys
import traceback
from collections.abc import Iterator
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl

from bot.settings import Settings
from core.errors import UserFacingError

log = logging.getLogger(__name__)

EXIT_STARTUP = 2

# Which service a frame's module belongs to, by module name prefix (the deepest frame wins).
_SERVICES = (
    ("aiohttp.web_runner", "web"),
    ("adapters.web", "web"),
    ("telegram", "telegram"),
    ("adapters.telegram", "telegram"),
    ("discord", "discord"),
    ("adapters.discord", "discord"),
    ("asyncpg", "postgresql"),
    ("core.storage.postgres", "postgresql"),
    ("core.storage.postgres_stores", "postgresql"),
    ("core.storage.postgres_inbox", "postgresql"),
    ("core.storage.postgres_counters", "postgresql"),
    ("aiosqlite", "sqlite"),
    ("core.storage.sqlite", "sqlite"),
    ("groq", "groq"),
)
_BIND_ADDRESS = re.compile(r"address \('?([^',]*)'?, (\d+)")


def report(error: BaseException, settings: Settings) -> int | None:
    """Print the one line for a start-up failure and return the exit code; None for a bug."""
    line = explain(error, settings)
    if line is None:
        return None
    log.debug("start-up failed: %s", line, exc_info=error)  # the traceback, at DEBUG only
    print(f"avatarbot: {line}", file=sys.stderr)
    return EXIT_STARTUP


def explain(error: BaseException, settings: Settings) -> str | None:
    """The line (without the `avatarbot: ` prefix) for a start-up failure; None for a bug."""
    if isinstance(error, UserFacingError):
        return error.detail
    service = _service(error)
    if service == "web" and isinstance(error, OSError):
        return _listen_problem(error, settings)
    if service == "postgresql":
        return _postgres_problem(error, settings)
    if service == "sqlite" and _cannot_open(error):
        name = "DATABASE_URL" if settings.DATABASE_URL is not None else "DATABASE_PATH"
        path = settings.database_url.removeprefix("sqlite:///")
        return f"cannot open the SQLite database at {name} ({path}): {_reason(error)}"
    if service == "groq" and _is(error, "groq", "AuthenticationError"):
        return "Groq refused GROQ_API_KEY"
    if not _unreachable(error):
        return None
    if service == "telegram":
        return _cannot_reach("Telegram", "TELEGRAM_API_BASE_URL", settings, error)
    if service == "discord":
        return _cannot_reach("Discord", "DISCORD_API_BASE_URL", settings, error)
    if service == "groq":
        return _cannot_reach("Groq", "GROQ_BASE_URL", settings, error)
    return f"a service could not be reached at start: {_reason(error)}"


def _cannot_open(error: BaseException) -> bool:
    """The database file cannot be opened or written (not a bug in a statement)."""
    if isinstance(error, OSError):
        return True
    text = str(error)
    return isinstance(error, sqlite3.DatabaseError) and any(
        words in text for words in ("unable to open", "readonly", "locked", "not a database")
    )


def _unreachable(error: BaseException) -> bool:
    """A connection that failed or timed out (the library's own class, or the socket's)."""
    return (
        isinstance(error, (ConnectionError, TimeoutError, socket.gaierror))
        or _is(error, "telegram.error", "NetworkError")
        or _is(error, "aiohttp", "ClientConnectionError")
        or _is(error, "aiohttp", "ClientHttpProxyError")  # the proxy could not reach it
        or _is(error, "httpx", "TransportError")
        or _is(error, "groq", "APIConnectionError")
        or _is(error, "discord", "DiscordServerError")
        or (isinstance(error, OSError) and error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH))
    )


def _is(error: BaseException, module: str, name: str) -> bool:
    """isinstance against a library's class, without importing a library nobody loaded."""
    loaded = sys.modules.get(module)
    cls = getattr(loaded, name, None) if loaded is not None else None
    return isinstance(cls, type) and isinstance(error, cls)


def _service(error: BaseException) -> str | None:
    """The service of the deepest frame that belongs to one, across the chained errors."""
    if _is(error, "telegram.error", "TelegramError"):
        return "telegram"
    if _is(error, "asyncpg", "PostgresError") or _is(error, "asyncpg", "InterfaceError"):
        return "postgresql"
    found = None
    for link in _chain(error):
        for frame, _ in traceback.walk_tb(link.__traceback__):
            module = str(frame.f_globals.get("__name__", ""))
            for prefix, service in _SERVICES:
                if module == prefix or module.startswith(prefix + "."):
                    found = service
        if found is not None:
            return found
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, then its causes and contexts (each once)."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _reason(error: BaseException) -> str:
    """What went wrong at the socket, in a few words: "connection refused", "timed out"."""
    for link in _chain(error):
        if isinstance(link, TimeoutError) or type(link).__name__ in ("TimedOut", "ConnectTimeout"):
            return "timed out"
        if isinstance(link, socket.gaierror):
            return f"cannot resolve the host name ({link.strerror})"
        if isinstance(link, OSError) and link.errno and link.errno > 0:
            return os.strerror(link.errno).lower()
    first = str(error).strip().splitlines()
    return first[0] if first else type(error).__name__


def _cannot_reach(name: str, setting: str, settings: Settings, error: BaseException) -> str:
    value: AnyHttpUrl = getattr(settings, setting)
    address = f"{value.host}:{value.port}" if value.port else str(value.host)
    proxy = settings.proxies.for_url(str(value))
    if proxy is not None:  # the proxy's address, never its credentials
        variable = "HTTPS_PROXY" if value.scheme == "https" else "HTTP_PROXY"
        parts = urlsplit(proxy.url)
        address += f") through {variable} ({parts.hostname}:{parts.port or 80}"
    return f"cannot reach {name} at {setting} ({address}): {_reason(error)}"


def _listen_problem(error: OSError, settings: Settings) -> str:
    """A web server that cannot listen: the port is taken, privileged, or the host not ours."""
    port, host = settings.WEB_PORT, settings.WEB_HOST
    if match := _BIND_ADDRESS.search(str(error)):
        host, port = match[1] or host, int(match[2])
    if port == settings.WEB_PORT:
        where = f"WEB_PORT {port}"
    else:
        where = f"port {port} (WEB_HOST {host})"
    if error.errno == errno.EADDRINUSE:
        return f"{where} is already in use: stop the other program or set WEB_PORT"
    if error.errno == errno.EACCES:
        return f"{where} needs privileges this process lacks: set WEB_PORT above 1023"
    if error.errno == errno.EADDRNOTAVAIL or isinstance(error, socket.gaierror):
        return f"WEB_HOST {host} is not an address of this machine: set WEB_HOST"
    return f"cannot listen on WEB_HOST {host}, {where}: {_reason(error)}"


def _postgres_problem(error: BaseException, settings: Settings) -> str | None:
    """PostgreSQL unreachable, or refusing the user, password or database in DATABASE_URL."""
    parts = urlsplit(settings.database_url)
    where = f"DATABASE_URL ({parts.hostname or 'localhost'}:{parts.port or 5432})"
    if _is(error, "asyncpg", "InvalidAuthorizationSpecificationError"):
        return f"PostgreSQL at {where} refused the user or password: fix DATABASE_URL"
    if _is(error, "asyncpg", "InvalidCatalogNameError"):
        database = parts.path.lstrip("/")
        return f"PostgreSQL at {where} has no database {database!r}: create it or fix DATABASE_URL"
    if _is(error, "asyncpg", "TooManyConnectionsError") or _is(
        error, "asyncpg", "CannotConnectNowError"
    ):
        return f"PostgreSQL at {where} accepts no connection now: {_reason(error)}"
    if _unreachable(error) or _is(error, "asyncpg", "PostgresConnectionError"):
        return f"cannot reach PostgreSQL at {where}: {_reason(error)}"
    return None
