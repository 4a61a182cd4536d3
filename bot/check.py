"""`avatarbot check`: ask each configured service whether our keys and models work."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

import groq
import telegram.error

from bot.settings import url
from bot.wiring import Core
from core.errors import UserFacingError

Check = Callable[[Core], Awaitable[str]]


async def check_groq(core: Core) -> str:
    """The key works and both configured models are served."""
    settings = core.settings
    models = await core.groq.models.list()
    served = {model.id for model in models.data}
    missing = [
        f"{name}={value}"
        for name, value in (
            ("LLM_MODEL", settings.LLM_MODEL),
            ("WHISPER_MODEL", settings.WHISPER_MODEL),
        )
        if value not in served
    ]
    if missing:
        raise LookupError(f"not served by Groq: {', '.join(missing)}")
    return f"{settings.LLM_MODEL} and {settings.WHISPER_MODEL} are served"


async def check_did(core: Core) -> str:
    """The key works; report the remaining credits."""
    assert core.did is not None
    remaining = await core.did.credits()
    if remaining <= 0:
        raise LookupError("no credits left: avatar videos will fail")
    return f"{remaining} credits left"


async def check_telegram(core: Core) -> str:
    """The bot token works (getMe)."""
    from adapters.telegram.app import TelegramAdapter

    settings = core.settings
    assert settings.TELEGRAM_BOT_TOKEN is not None
    token = settings.TELEGRAM_BOT_TOKEN.get_secret_value()
    return await TelegramAdapter.check(token, url(settings.TELEGRAM_API_BASE_URL))


async def check_discord(core: Core) -> str:
    """The bot token works (GET /users/@me) and the gateway accepts it and the intents (READY)."""
    from adapters.discord.app import DiscordAdapter
    from bot.run import use_discord

    settings = core.settings
    assert settings.DISCORD_BOT_TOKEN is not None
    use_discord(settings)
    token = settings.DISCORD_BOT_TOKEN.get_secret_value()
    return await DiscordAdapter.check(token, settings.DISCORD_MESSAGE_CONTENT)


def _is_discord_login_failure(exc: Exception) -> bool:
    if "discord" not in sys.modules:  # only a configured Discord check imports discord.py
        return False
    import discord

    return isinstance(exc, discord.LoginFailure)


def _explain(exc: Exception) -> str:
    if isinstance(exc, UserFacingError):
        return exc.detail
    if isinstance(exc, groq.AuthenticationError):
        return "GROQ_API_KEY was refused"
    if _is_discord_login_failure(exc):
        return "DISCORD_BOT_TOKEN was refused"
    if isinstance(exc, telegram.error.InvalidToken):
        return "TELEGRAM_BOT_TOKEN was refused"
    if isinstance(exc, groq.APIConnectionError):
        return f"cannot reach {exc.request.url.host}"
    return str(exc) or type(exc).__name__


async def run_checks(core: Core, checks: dict[str, Check], write: Callable[[str], None]) -> bool:
    """Run each check, print one line per service, and return whether all passed."""
    ok = True
    for name, check in checks.items():
        try:
            write(f"{name}: ok — {await check(core)}\n")
        except Exception as exc:
            ok = False
            write(f"{name}: FAILED — {_explain(exc)}\n")
    return ok


def configured_checks(core: Core) -> dict[str, Check]:
    """The checks for every service that has a key."""
    checks: dict[str, Check] = {"groq": check_groq}
    if core.did is not None:
        checks["d-id"] = check_did
    if core.settings.TELEGRAM_BOT_TOKEN is not None:
        checks["telegram"] = check_telegram
    if core.settings.DISCORD_BOT_TOKEN is not None:
        checks["discord"] = check_discord
    return checks
