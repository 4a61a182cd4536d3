"""`avatarbot run`: every configured platform in one process and one event loop."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import signal
import sys
from contextlib import AsyncExitStack

from bot import check, startup
from bot.platforms import AdapterFactory, PlatformAdapter, configured_adapters
from bot.settings import Settings
from bot.wiring import open_core
from core.replies import ReplyModes

__all__ = ["configured_adapters", "run", "serve", "web_exposure_problem"]

log = logging.getLogger(__name__)


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


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    factories: list[AdapterFactory],
    *,
    reply_mode: ReplyModes | None = None,
) -> None:
    """Run the adapters on one core until `stop` is set.

    `reply_mode`: each chat's choice of what follows an answer; None: the chat's /reply.
    """
    async with open_core(settings, reply_mode=reply_mode) as core, AsyncExitStack() as running:
        adapters: list[PlatformAdapter] = []
        for factory in factories:  # the web server last: it serves the others' routes
            routes = [route for adapter in adapters for route in adapter.routes]
            adapters.append(factory(core, routes))
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
        resumed = await core.start_jobs({a.platform: a.delivery for a in adapters})
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
