"""The `avatarbot` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from importlib.metadata import version
from typing import Any, TypeVar

from pydantic import ValidationError

from bot import logs, startup
from bot.settings import Settings
from bot.settings_errors import describe

EXIT_CONFIG = 2
T = TypeVar("T")


def parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    root = argparse.ArgumentParser(
        prog="avatarbot",
        description="Answers with text at once and a talking-avatar video soon after.",
    )
    root.add_argument("--version", action="version", version=f"%(prog)s {version('avatarbot')}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="run every platform whose token is set")
    commands.add_parser("chat", help="chat in this terminal with the same core")
    commands.add_parser("migrate", help="apply pending database migrations")
    commands.add_parser("check", help="check each configured key against its service")
    return root


def load_settings() -> Settings:
    """Read the settings, or exit 2 with one line naming the bad variable."""
    try:
        return Settings()  # type: ignore[call-arg]
    except ValidationError as error:
        print(f"avatarbot: {describe(error)}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop (libuv's event loop: less CPU per socket event), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # not built for Windows
        return asyncio.run(main)
    return uvloop.run(main)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `avatarbot` console script."""
    args = parser().parse_args(argv)
    settings = load_settings()
    logs.configure(settings.LOG_LEVEL, settings.secrets(), log_format=settings.LOG_FORMAT)
    from bot import commands

    try:
        return run_async(commands.COMMANDS[args.command](settings))
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        # A database or service unreachable at start (chat, check, migrate): one line, exit 2.
        if (code := startup.report(error, settings)) is None:
            raise
        return code


if __name__ == "__main__":
    sys.exit(main())
