"""What each `avatarbot` subcommand does once the settings are loaded."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bot import check, logs, terminal
from bot import run as serve
from bot.settings import Settings
from bot.storage import open_storage
from bot.wiring import open_core

log = logging.getLogger(__name__)


async def migrate(settings: Settings) -> int:
    """Apply pending migrations and say which."""
    storage = await open_storage(settings.database_url)
    await storage.close()
    applied = storage.applied
    print(f"applied: {', '.join(applied)}" if applied else "database is up to date")
    return 0


async def chat(settings: Settings) -> int:
    """Talk to the bot in this terminal; the log goes to a file beside the database."""
    data = settings.DATABASE_PATH.parent.absolute()
    log_file = _log_to_file(settings, data / "avatarbot-chat.log")
    write = terminal.write_stdout
    with terminal.console(data / "chat-history") as lines:
        if log_file is not None:
            write(f"(the log goes to {log_file})\n")
        async with open_core(settings) as core:
            delivery = terminal.TerminalDelivery(write)
            await core.start_jobs({terminal.KEY.platform: delivery})
            await terminal.TerminalChat(core, write).run(lines)
            if (running := core.jobs.running if core.jobs is not None else 0) > 0:
                write(f"({running} avatar video(s) still rendering; they resume next time)\n")
    return 0


def _log_to_file(settings: Settings, path: Path) -> Path | None:
    """Log to `path` (and Python's warnings with it): the terminal is the conversation."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        logs.configure(
            settings.LOG_LEVEL, settings.secrets(), log_format=settings.LOG_FORMAT, path=path
        )
    except OSError:  # no folder for the database either: opening it says so in one line
        return None
    logging.captureWarnings(True)
    return path


async def check_services(settings: Settings) -> int:
    """Check each configured service; exit 0 only when all are ok."""
    async with open_core(settings) as core:
        ok = await check.run_checks(core, check.configured_checks(core), terminal.write_stdout)
    return 0 if ok else 1


COMMANDS: dict[str, Callable[[Settings], Coroutine[Any, Any, int]]] = {
    "run": serve.run,
    "chat": chat,
    "migrate": migrate,
    "check": check_services,
}
