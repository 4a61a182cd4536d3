"""What each `avatarbot` subcommand does once the settings are loaded."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from bot import check, terminal
from bot import run as serve
from bot.settings import Settings
from bot.wiring import open_core, open_storage

log = logging.getLogger(__name__)


async def migrate(settings: Settings) -> int:
    """Apply pending migrations and say which."""
    storage = await open_storage(settings.database_url)
    await storage.close()
    applied = storage.applied
    print(f"applied: {', '.join(applied)}" if applied else "database is up to date")
    return 0


async def chat(settings: Settings) -> int:
    """Talk to the bot in this terminal."""
    async with open_core(settings) as core:
        core.deliveries["terminal"] = terminal.TerminalDelivery(terminal.write_stdout)
        await core.start_jobs()
        await terminal.TerminalChat(core, terminal.write_stdout).run(terminal.stdin_lines())
        if core.jobs is not None and core.jobs.running:
            print(f"({core.jobs.running} avatar video(s) still rendering; they resume next time)")
    return 0


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
