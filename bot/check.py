"""Ask each configured service whether our keys and models work.

`avatarbot check` runs every check and prints one line each; `avatarbot run` runs the checks of
the services no platform logs in to at start (Groq, D-ID) in the background and logs a WARNING
for each that fails, so a bad key or a retired model is named before the first message.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable

import groq
import telegram.error

from bot.settings import url
from bot.wiring import Core
from core.errors import UserFacingError

Check = Callable[[Core], Awaitable[str]]

log = logging.getLogger(__name__)

# How long `run` gives a service to answer its start-up check before it warns that it did not.
START_CHECK_SECONDS = 30.0


async def check_groq(core: Core) -> str:
    """The key works and the configured models (VISION_MODEL too, when set) are served."""
    settings = core.settings
    models = await core.groq.models.list()
    served = {model.id for model in models.data}
    configured = [("LLM_MODEL", settings.LLM_MODEL), ("WHISPER_MODEL", settings.WHISPER_MODEL)]
    if settings.VISION_MODEL:
        configured.append(("VISION_MODEL", settings.VISION_MODEL))
    missing = [f"{name}={value}" for name, value in configured if value not in served]
    if missing:
        raise LookupError(f"not served by Groq: {', '.join(missing)}")
    names = [value for _, value in configured]
    return f"{', '.join(names[:-1])} and {names[-1]} are served"


async def check_did(core: Core) -> str:
    """The key works; report the remaining credits."""
    assert core.did is not None
    remaining = await core.did.credits()
    if remaining <= 0:
        raise LookupError("no credits left: avatar videos will fail")
    return f"{remaining} credits left"


async def check_tts(core: Core) -> str:
    """Groq reads a word aloud with TTS_MODEL and TTS_VOICE (its terms accepted)."""
    assert core.voice is not None
    return await core.voice.check()


async def check_telegram(core: Core) -> str:
    """The bot token works (getMe)."""
    from adapters.telegram.app import TelegramAdapter

    settings = core.settings
    assert settings.TELEGRAM_BOT_TOKEN is not None
    token = settings.TELEGRAM_BOT_TOKEN.get_secret_value()
    root = url(settings.TELEGRAM_API_BASE_URL)
    return await TelegramAdapter.check(token, root, settings.proxies.for_url(root))


async def check_discord(core: Core) -> str:
    """The bot token works (GET /users/@me) and the gateway accepts it and the intents (READY)."""
    from adapters.discord.app import DiscordAdapter
    from bot.platforms import discord_proxy, use_discord

    settings = core.settings
    assert settings.DISCORD_BOT_TOKEN is not None
    use_discord(settings)
    token = settings.DISCORD_BOT_TOKEN.get_secret_value()
    return await DiscordAdapter.check(
        token, settings.DISCORD_MESSAGE_CONTENT, discord_proxy(settings)
    )


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


async def attempt(core: Core, check: Check) -> tuple[bool, str]:
    """Run one check: whether it passed, and its line (what was found, or what is wrong)."""
    try:
        return True, await check(core)
    except Exception as exc:
        return False, _explain(exc)


async def run_checks(core: Core, checks: dict[str, Check], write: Callable[[str], None]) -> bool:
    """Run each check, print one line per service, and return whether all passed."""
    ok = True
    for name, check in checks.items():
        passed, line = await attempt(core, check)
        ok = ok and passed
        write(f"{name}: {'ok' if passed else 'FAILED'} — {line}\n")
    return ok


async def warn_at_start(core: Core, checks: dict[str, Check], within: float | None = None) -> None:
    """Run the checks side by side; log one WARNING per service that fails or does not answer.

    Never raises (a failing check must not stop the bot); each check gets `within` seconds
    (START_CHECK_SECONDS).
    """
    seconds = START_CHECK_SECONDS if within is None else within

    async def warn(name: str, check: Check) -> None:
        try:
            async with asyncio.timeout(seconds):
                passed, line = await attempt(core, check)
        except TimeoutError:
            passed, line = False, f"no answer within {seconds:g} s"
        if passed:
            log.info("start-up check: %s: ok — %s", name, line)
        else:
            log.warning("start-up check failed: %s: %s", name, line)

    async with asyncio.TaskGroup() as group:
        for name, check in checks.items():
            group.create_task(warn(name, check), name=f"start-check-{name}")


def configured_checks(core: Core) -> dict[str, Check]:
    """The checks for every service that has a key."""
    checks: dict[str, Check] = {"groq": check_groq}
    if core.voice is not None:
        checks["groq-tts"] = check_tts
    if core.did is not None:
        checks["d-id"] = check_did
    if core.settings.TELEGRAM_BOT_TOKEN is not None:
        checks["telegram"] = check_telegram
    if core.settings.DISCORD_BOT_TOKEN is not None:
        checks["discord"] = check_discord
    return checks


def start_checks(core: Core) -> dict[str, Check]:
    """The checks `run` makes at start: Telegram and Discord log in as their adapters start."""
    checks: dict[str, Check] = {"groq": check_groq}
    if core.voice is not None:
        checks["groq-tts"] = check_tts
    if core.did is not None:
        checks["d-id"] = check_did
    return checks
