"""The platform adapters, built on the core: part of the composition root with bot/wiring.py.

Libraries that offer a setting only process-wide (python-telegram-bot's PTB_TIMEDELTA,
discord.py's base URLs) get it here, once, where their adapter is built.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

from bot.metrics import status_counter, telegram_retries
from bot.settings import Settings, url
from bot.wiring import Core, WebRoute
from core.avatar.faces import FaceCommand
from core.avatar.live import LiveSettings, LiveStreams
from core.avatar.ports import VideoDelivery
from core.proxy import Proxy

# How long the page's WebRTC connection may take to come up before the videos come as clips.
CONNECT_SECONDS = {"auto": 5.0, "stream": 30.0, "clip": 0.0}


class PlatformAdapter(Protocol):
    """One chat platform: started after the core, stopped before it."""

    @property
    def platform(self) -> str:
        """The platform name used in conversation keys."""
        ...

    @property
    def delivery(self) -> VideoDelivery:
        """Delivers this platform's avatar videos."""
        ...

    async def start(self) -> None:
        """Connect and begin taking messages."""
        ...

    async def stop(self) -> None:
        """Stop taking messages, finish or drop what is in flight, close connections."""
        ...

    async def take_over(self) -> int:
        """Answer the messages a stopped replica left whose leases lapsed; return how many."""
        ...

    @property
    def routes(self) -> Sequence[WebRoute]:
        """HTTP routes this platform needs served on the web server (Telegram's webhook)."""
        ...


class AdapterFactory(Protocol):
    """Builds one platform's adapter on the core; the web server gets the others' routes."""

    def __call__(self, core: Core, routes: Sequence[WebRoute] = ()) -> PlatformAdapter:
        """Build the adapter."""
        ...


def configured_adapters(settings: Settings) -> list[AdapterFactory]:
    """A factory for every platform whose settings are present."""
    factories: list[AdapterFactory] = []
    if settings.TELEGRAM_BOT_TOKEN is not None:
        factories.append(_telegram(settings))
    if settings.DISCORD_BOT_TOKEN is not None:
        factories.append(_discord(settings))
    if settings.WEB_ENABLED:
        factories.append(_web(settings))
    return factories


def use_telegram() -> None:
    """Have python-telegram-bot hand out `RetryAfter.retry_after` as a timedelta.

    PTB reads this only from the process environment (and warns while it is unset): it is set
    here, once, where the Telegram adapter is built.
    """
    os.environ.setdefault("PTB_TIMEDELTA", "true")


def use_discord(settings: Settings) -> None:
    """Point discord.py at DISCORD_API_BASE_URL and DISCORD_GATEWAY_URL; quiet its voice warnings.

    discord.py offers both URLs only as process-wide class attributes (`Route.BASE`,
    `DiscordWebSocket.DEFAULT_GATEWAY`): one process talks to one Discord, set here alone.
    """
    import yarl
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    from adapters.discord.gateway import quiet_voice_warnings

    Route.BASE = url(settings.DISCORD_API_BASE_URL).rstrip("/")
    if settings.DISCORD_GATEWAY_URL:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(str(settings.DISCORD_GATEWAY_URL))
    quiet_voice_warnings()


def _discord(settings: Settings) -> AdapterFactory:
    from adapters.discord.app import DiscordAdapter

    assert settings.DISCORD_BOT_TOKEN is not None
    token = settings.DISCORD_BOT_TOKEN.get_secret_value()

    def build(core: Core, routes: Sequence[WebRoute] = ()) -> PlatformAdapter:
        use_discord(settings)
        return DiscordAdapter(
            core.conversations,
            runner=core.runner,
            commands=core.commands,
            token=token,
            message_content=settings.DISCORD_MESSAGE_CONTENT,
            guild_ids=settings.DISCORD_GUILD_IDS,
            shard_count=settings.DISCORD_SHARD_COUNT,
            shard_ids=settings.DISCORD_SHARD_IDS,
            voice_channel_ids=settings.DISCORD_VOICE_CHANNEL_IDS,
            allowed_guilds=settings.DISCORD_ALLOWED_GUILD_IDS,
            admins=settings.ADMIN_USER_IDS,
            catalogs=core.catalogs,
            proxy=discord_proxy(settings),
        )

    return build


def discord_proxy(settings: Settings) -> Proxy | None:
    """The proxy for DISCORD_API_BASE_URL; the gateway connection goes through it too."""
    return settings.proxies.for_url(url(settings.DISCORD_API_BASE_URL))


def _web(settings: Settings) -> AdapterFactory:
    from adapters.web.access import AccessSettings, networks
    from adapters.web.app import WebAdapter
    from adapters.web.limits import MB, WebLimits

    token = settings.WEB_AUTH_TOKEN.get_secret_value() if settings.WEB_AUTH_TOKEN else None
    # Without a token and not public, `run` listens on loopback only (web_exposure_problem).
    local = token is None and not settings.WEB_PUBLIC and not settings.WEB_TRUSTED_PROXIES
    access = AccessSettings(
        token,
        networks(settings.WEB_TRUSTED_PROXIES),
        frozenset(settings.WEB_ALLOWED_ORIGINS),
        local=local,
    )
    audio = settings.WEB_IP_AUDIO_MB_PER_MINUTE
    limits = WebLimits(
        ip_messages_per_minute=settings.WEB_IP_MESSAGES_PER_MINUTE,
        ip_audio_bytes_per_minute=None if audio is None else int(audio * MB),
        ip_sockets=settings.WEB_IP_SOCKETS,
        max_sockets=settings.WEB_MAX_SOCKETS,
        audio_bytes_in_flight=int(settings.WEB_AUDIO_MB_IN_FLIGHT * MB),
    )

    def build(core: Core, routes: Sequence[WebRoute] = ()) -> PlatformAdapter:
        return WebAdapter(
            core.conversations,
            core.runner,
            commands=core.commands,
            inbox=core.inbox,
            host=settings.WEB_HOST,
            port=settings.WEB_PORT,
            secret=core.web_secret,
            media_dir=settings.media_dir,
            max_text_chars=settings.MAX_MESSAGE_CHARS,
            access=access,
            limits=limits,
            history=core.storage.history,
            extra_routes=[*core.web_routes, *routes],
            faces=FaceCommand(core.faces),
            live=web_live(core),
            catalogs=core.catalogs,
        )

    return build


def web_live(core: Core) -> LiveStreams | None:
    """The web chat's live avatar (WEB_AVATAR_MODE), when D-ID's streaming API is set up."""
    settings = core.settings
    if core.did_streams is None or core.answer_voices is None or settings.WEB_AVATAR_MODE == "clip":
        return None
    live = LiveSettings(
        mode=settings.WEB_AVATAR_MODE,
        idle_seconds=settings.WEB_STREAM_IDLE_SECONDS,
        max_streams=settings.DID_MAX_STREAMS,
        connect_seconds=CONNECT_SECONDS[settings.WEB_AVATAR_MODE],
        max_seconds=settings.AVATAR_MAX_SECONDS,
    )
    return LiveStreams(
        core.did_streams, settings=live, voices=core.answer_voices, budget=core.stream_budget
    )


def _telegram(settings: Settings) -> AdapterFactory:
    from adapters.telegram.app import TelegramAdapter

    assert settings.TELEGRAM_BOT_TOKEN is not None
    token = settings.TELEGRAM_BOT_TOKEN.get_secret_value()
    secret = settings.TELEGRAM_WEBHOOK_SECRET

    def build(core: Core, routes: Sequence[WebRoute] = ()) -> PlatformAdapter:
        use_telegram()
        return TelegramAdapter(
            runner=core.runner,
            commands=core.commands,
            token=token,
            api_root=url(settings.TELEGRAM_API_BASE_URL),
            upload_limit=int(settings.TELEGRAM_UPLOAD_LIMIT_MB * 1024 * 1024),
            inbox=core.inbox,
            webhook_url=str(settings.TELEGRAM_WEBHOOK_URL)
            if settings.TELEGRAM_WEBHOOK_URL
            else None,
            webhook_secret=secret.get_secret_value() if secret else None,
            allowed_chats=settings.TELEGRAM_ALLOWED_CHAT_IDS,
            admins=settings.ADMIN_USER_IDS,
            on_status=status_counter(core.metrics, "telegram", telegram_retries),
            catalogs=core.catalogs,
            photos=core.conversations.vision_available,
            proxy=settings.proxies.for_url(url(settings.TELEGRAM_API_BASE_URL)),
        )

    return build
