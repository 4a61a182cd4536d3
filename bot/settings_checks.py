"""The checks across settings: a setting that needs, or must fit, another one.

They run in this order once every field is valid (`Settings`' one `model_validator`); the first
that fails raises the `ValueError` whose text is the line `avatarbot` prints.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from core.groq.speech import TtsVoice, parse_tts_voices

if TYPE_CHECKING:  # bot.settings calls these checks, so it imports this module at run time
    from bot.settings import Settings


def tts_voices_known(settings: Settings) -> None:
    """TTS_VOICE and every TTS_VOICES entry are voices of TTS_MODEL."""
    try:
        TtsVoice(settings.TTS_MODEL, settings.TTS_VOICE.strip().lower()).check()
    except ValueError as exc:
        raise ValueError(f"TTS_VOICE: {exc}") from None
    spec = ",".join(f"{language}={voice}" for language, voice in settings.TTS_VOICES.items())
    try:
        parse_tts_voices(spec, settings.TTS_MODEL)
    except ValueError as exc:
        raise ValueError(f"TTS_VOICES: {exc}") from None


def did_webhook_needs_web(settings: Settings) -> None:
    """D-ID's callbacks are served by the web server."""
    if settings.DID_WEBHOOK_URL is not None and not settings.WEB_ENABLED:
        raise ValueError("DID_WEBHOOK_URL is served by the web server: set WEB_ENABLED=true")


def webhook_needs_web(settings: Settings) -> None:
    """Telegram's webhook is served by the web server, with a secret Telegram accepts."""
    if settings.TELEGRAM_WEBHOOK_URL is not None and not settings.WEB_ENABLED:
        raise ValueError("TELEGRAM_WEBHOOK_URL is served by the web server: set WEB_ENABLED=true")
    secret = settings.TELEGRAM_WEBHOOK_SECRET
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret.get_secret_value()):
        raise ValueError("TELEGRAM_WEBHOOK_SECRET may hold only A-Z, a-z, 0-9, _ and - (1-256)")


def shards_fit(settings: Settings) -> None:
    """DISCORD_SHARD_IDS are shards of DISCORD_SHARD_COUNT."""
    if settings.DISCORD_SHARD_IDS and settings.DISCORD_SHARD_COUNT is None:
        raise ValueError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT")
    count = settings.DISCORD_SHARD_COUNT or 0
    if any(not 0 <= shard < count for shard in settings.DISCORD_SHARD_IDS):
        raise ValueError(
            f"DISCORD_SHARD_IDS must be between 0 and DISCORD_SHARD_COUNT-1 ({count - 1})"
        )


def avatar_needs_key(settings: Settings) -> None:
    """Avatar videos switched on need a D-ID key."""
    if settings.AVATAR_ENABLED and settings.DID_API_KEY is None:
        raise ValueError("AVATAR_ENABLED is true but DID_API_KEY is not set")


def stream_needs_agent(settings: Settings) -> None:
    """The live avatar needs a D-ID key and an agent."""
    if settings.WEB_AVATAR_MODE == "stream" and (
        settings.DID_API_KEY is None or not settings.DID_AGENT_ID
    ):
        raise ValueError("WEB_AVATAR_MODE=stream needs DID_API_KEY and DID_AGENT_ID")


CHECKS: tuple[Callable[[Settings], None], ...] = (
    tts_voices_known,
    did_webhook_needs_web,
    webhook_needs_web,
    shards_fit,
    avatar_needs_key,
    stream_needs_agent,
)


def check_across(settings: Settings) -> None:
    """Every check across settings, in order: the first that fails raises its ValueError."""
    for check in CHECKS:
        check(settings)
