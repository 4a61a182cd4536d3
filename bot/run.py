"""`avatarbot run`: every configured platform in one process and one event loop."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import signal
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Protocol

from bot import check, startup
from bot.metrics import status_counter, telegram_retries
from bot.settings import Settings, url
from bot.wiring import Core, open_core
from core.ports import VideoDelivery

log = logging.getLogger(__name__)


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


AdapterFactory = Callable[[Core], PlatformAdapter]


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

    def build(core: Core) -> PlatformAdapter:
        use_discord(settings)
        return DiscordAdapter(
            core.conversations,
            runner=core.runner,
            token=token,
            message_content=settings.DISCORD_MESSAGE_CONTENT,
            guild_ids=settings.DISCORD_GUILD_IDS,
            shard_count=settings.DISCORD_SHARD_COUNT,
            shard_ids=settings.DISCORD_SHARD_IDS,
            voice_channel_ids=settings.DISCORD_VOICE_CHANNEL_IDS,
            allowed_guilds=settings.DISCORD_ALLOWED_GUILD_IDS,
            admins=settings.ADMIN_USER_IDS,
        )

    return build


def _web(settings: Settings) -> AdapterFactory:
    from adapters.web.access import AccessSettings, networks
    from adapters.web.app import WebAdapter
    from adapters.web.limits import MB, WebLimits

    token = settings.WEB_AUTH_TOKEN.get_secret_value() if settings.WEB_AUTH_TOKEN else None
    access = AccessSettings(
        token, networks(settings.WEB_TRUSTED_PROXIES), frozenset(settings.WEB_ALLOWED_ORIGINS)
    )
    audio = settings.WEB_IP_AUDIO_MB_PER_MINUTE
    limits = WebLimits(
        ip_messages_per_minute=settings.WEB_IP_MESSAGES_PER_MINUTE,
        ip_audio_bytes_per_minute=None if audio is None else int(audio * MB),
        ip_sockets=settings.WEB_IP_SOCKETS,
        max_sockets=settings.WEB_MAX_SOCKETS,
        audio_bytes_in_flight=int(settings.WEB_AUDIO_MB_IN_FLIGHT * MB),
    )

    def build(core: Core) -> PlatformAdapter:
        return WebAdapter(
            core.conversations,
            core.runner,
            inbox=core.inbox,
            host=settings.WEB_HOST,
            port=settings.WEB_PORT,
            secret=core.web_secret,
            media_dir=settings.media_dir,
            max_text_chars=settings.MAX_MESSAGE_CHARS,
            access=access,
            limits=limits,
            history=core.storage.history,
            extra_routes=core.web_routes,
        )

    return build


MIN_WEB_TOKEN = 16


def web_exposure_problem(settings: Settings) -> str | None:
    """Why the web chat must not start as configured: reachable by others, yet open."""
    if not settings.WEB_ENABLED or settings.WEB_PUBLIC:
        return None
    host = settings.WEB_HOST.strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    token = settings.WEB_AUTH_TOKEN
    if loopback or (token is not None and len(token.get_secret_value()) >= MIN_WEB_TOKEN):
        return None
    return (
        f"WEB_HOST={settings.WEB_HOST} lets other machines reach the web chat: set "
        f"WEB_AUTH_TOKEN (at least {MIN_WEB_TOKEN} characters), or WEB_PUBLIC=true if it is "
        "meant to be open to everyone"
    )


def _telegram(settings: Settings) -> AdapterFactory:
    from adapters.telegram.app import TelegramAdapter

    assert settings.TELEGRAM_BOT_TOKEN is not None
    token = settings.TELEGRAM_BOT_TOKEN.get_secret_value()
    secret = settings.TELEGRAM_WEBHOOK_SECRET

    def build(core: Core) -> PlatformAdapter:
        return TelegramAdapter(
            core.conversations,
            runner=core.runner,
            token=token,
            api_root=url(settings.TELEGRAM_API_BASE_URL),
            upload_limit=int(settings.TELEGRAM_UPLOAD_LIMIT_MB * 1024 * 1024),
            inbox=core.inbox,
            webhook_url=str(settings.TELEGRAM_WEBHOOK_URL)
            if settings.TELEGRAM_WEBHOOK_URL
            else None,
            webhook_secret=secret.get_secret_value() if secret else None,
            web_routes=core.web_routes,
            allowed_chats=settings.TELEGRAM_ALLOWED_CHAT_IDS,
            admins=settings.ADMIN_USER_IDS,
            on_status=status_counter(core.metrics, "telegram", telegram_retries),
        )

    return build


async def serve(settings: Settings, stop: asyncio.Event, factories: list[AdapterFactory]) -> None:
    """Run the adapters on one core until `stop` is set."""
    async with open_core(settings) as core, AsyncExitStack() as running:
        adapters = [factory(core) for factory in factories]
        for adapter in adapters:
            core.deliveries[adapter.platform] = adapter.delivery
        if core.did_webhook is not None and any(a.platform == "web" for a in adapters):
            # The web server, started below, serves its route (long before a render ends).
            core.did_webhook.listening = True
        for adapter in adapters:
            await adapter.start()
            running.push_async_callback(adapter.stop)
            log.info("%s is running", adapter.platform)
        # Each platform logged in above; Groq and D-ID are first used by a message, so their
        # keys and models are checked now, in the background: a failure is one WARNING each.
        checks = asyncio.create_task(
            check.warn_at_start(core, check.start_checks(core)), name="start-checks"
        )
        running.push_async_callback(_cancelled, checks)
        # On the way out this runs first, before any adapter stops: the answers in flight get
        # the grace period while their platforms can still show them; later messages stay in
        # the inbox for the next start.
        running.push_async_callback(core.runner.drain, settings.SHUTDOWN_GRACE_SECONDS)
        resumed = await core.start_jobs()
        if resumed:
            log.info("resumed %d unfinished avatar job(s)", resumed)
        takeover = asyncio.create_task(
            _take_over(adapters, settings.INBOX_LEASE_SECONDS / 2), name="inbox-takeover"
        )
        running.push_async_callback(_cancelled, takeover)  # before the adapters stop
        # The ~150,000 objects of the libraries and clients live as long as the process: a full
        # collection that walks them all stalls every chat for ~80 ms, so later ones skip them.
        gc.freeze()
        await stop.wait()
        log.info("stopping")


async def _take_over(adapters: list[PlatformAdapter], interval: float) -> None:
    """Answer what crashed replicas left, as their leases lapse (each start takes its own)."""
    while True:
        await asyncio.sleep(interval)
        for adapter in adapters:
            try:
                if taken := await adapter.take_over():
                    log.info(
                        "answering %d %s message(s) a stopped replica left", taken, adapter.platform
                    )
            except Exception:
                log.exception("taking over %s messages failed; retrying", adapter.platform)


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def run(settings: Settings) -> int:
    """Run until SIGINT or SIGTERM."""
    factories = configured_adapters(settings)
    if not factories:
        print(
            "avatarbot: no platform to run: set TELEGRAM_BOT_TOKEN or DISCORD_BOT_TOKEN, "
            "or WEB_ENABLED=true (or try `avatarbot chat`)",
            file=sys.stderr,
        )
        return 2
    if exposed := web_exposure_problem(settings):
        print(f"avatarbot: {exposed}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await serve(settings, stop, factories)
    except Exception as error:
        # A port taken, a service unreachable, a setting refused: one line, exit 2; else a bug.
        if (code := startup.report(error, settings)) is None:
            raise
        return code
    return 0
