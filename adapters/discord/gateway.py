"""The gateway connection: READY, or one line naming what to fix; and discord.py's voice noise."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from core.errors import ConfigurationError
from core.proxy import Proxy

# Close codes that Discord says must not be retried, and what the operator must change.
_FIXES = {
    4004: "Discord refused DISCORD_BOT_TOKEN at the gateway (close 4004, authentication failed): "
    "reset the token in the developer portal and set DISCORD_BOT_TOKEN to the new one",
    4010: "Discord refused the shard (close 4010, invalid shard): "
    "check DISCORD_SHARD_IDS against DISCORD_SHARD_COUNT",
    4011: "Discord requires sharding for this bot's guilds (close 4011, sharding required): "
    "set DISCORD_SHARD_COUNT",
    4012: "Discord refused discord.py's gateway version (close 4012): upgrade discord.py",
    4013: "Discord refused the intents discord.py sent (close 4013, invalid intents): "
    "upgrade discord.py",
    4014: "Discord refused the Message Content intent (close 4014, disallowed intents): "
    "enable the Message Content intent in the developer portal, "
    "or set DISCORD_MESSAGE_CONTENT=false",
}
# discord.py warns at every start that it cannot join voice channels; this bot never does
# (Discord voice messages are ordinary attachments), so those two lines only look like a broken
# install.
_VOICE_WARNINGS = frozenset(
    {
        "PyNaCl is not installed, voice will NOT be supported",
        "davey is not installed, voice will NOT be supported",
    }
)


def gateway_intents(message_content: bool) -> discord.Intents:
    """The intents the bot identifies with: the defaults, Message Content only when enabled."""
    intents = discord.Intents.default()
    intents.message_content = message_content
    return intents


def fix_for(error: BaseException) -> str | None:
    """The fix for a gateway close that must not be retried; None for any other error."""
    if isinstance(error, discord.PrivilegedIntentsRequired):
        return _FIXES[4014]
    if isinstance(error, discord.ConnectionClosed):
        return _FIXES.get(error.code)
    return None


async def connect_until_ready(
    client: discord.Client, ready: Callable[[], Awaitable[object]], ready_within: float
) -> asyncio.Task[None]:
    """Run `client.connect()` in a named task and return it once `ready()` has returned.

    If the gateway ends first with a close that must not be retried, or sends no READY within
    `ready_within` seconds, close the client and raise ConfigurationError with the fix.
    """
    waiter = asyncio.ensure_future(ready())  # first, so that it hears the very first READY
    gateway = asyncio.create_task(client.connect(), name="discord-gateway")
    try:
        done, _ = await asyncio.wait(
            {gateway, waiter}, timeout=ready_within, return_when=asyncio.FIRST_COMPLETED
        )
    except BaseException:
        await _abandon(client, gateway)
        raise
    finally:
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
    if gateway not in done and waiter in done:
        return gateway
    await _abandon(client, gateway)
    if gateway not in done:
        raise ConfigurationError(
            f"Discord's gateway sent no READY within {ready_within:g} s: "
            "check DISCORD_GATEWAY_URL and the network"
        )
    error = None if gateway.cancelled() else gateway.exception()
    if error is None:
        raise ConfigurationError("Discord's gateway closed before READY")
    if (fix := fix_for(error)) is not None:
        raise ConfigurationError(fix) from None
    # discord.py's reconnect after a failed handshake can itself fail (its `ws` is still None):
    # before READY every end of the gateway task is a start-up failure to explain.
    logging.getLogger(__name__).info("gateway ended before READY", exc_info=error)
    raise ConfigurationError(
        f"Discord's gateway failed before READY ({type(error).__name__}): "
        "check DISCORD_GATEWAY_URL and the network"
    ) from None


async def _abandon(client: discord.Client, gateway: asyncio.Task[None]) -> None:
    await client.close()
    if not gateway.done():
        gateway.cancel()
    await asyncio.gather(gateway, return_exceptions=True)


def proxy_options(proxy: Proxy | None) -> dict[str, Any]:
    """discord.py's `Client(proxy=...)`: it reads no proxy from the environment.

    The credentials stay in the URL (aiohttp sends them); `proxy_auth` is deprecated in aiohttp.
    """
    return {} if proxy is None else {"proxy": proxy.url}


async def check_gateway(
    token: str, message_content: bool, ready_within: float, proxy: Proxy | None = None
) -> str:
    """Log in over REST, IDENTIFY with the bot's intents, wait for READY, disconnect."""
    client = discord.Client(intents=gateway_intents(message_content), **proxy_options(proxy))
    try:
        await client.login(token)
        gateway = await connect_until_ready(
            client, lambda: client.wait_for("connect"), ready_within
        )
        await client.close()
        await asyncio.gather(gateway, return_exceptions=True)
        return f"logged in as {client.user}, gateway READY"
    finally:
        await client.close()


class VoiceWarningFilter(logging.Filter):
    """Drops exactly discord.py's "voice will NOT be supported" warnings, nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but those two warnings."""
        return not (record.levelno == logging.WARNING and record.msg in _VOICE_WARNINGS)


def quiet_voice_warnings() -> None:
    """Install VoiceWarningFilter on the logger that emits them (`discord.client`), once."""
    logger = logging.getLogger("discord.client")
    if not any(isinstance(f, VoiceWarningFilter) for f in logger.filters):
        logger.addFilter(VoiceWarningFilter())
