"""The Discord adapter: a discord.py client with slash commands on the shared core."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord

from adapters.discord.commands import GatedTree, add_commands
from adapters.discord.convert import PLATFORM, SAFE_MENTIONS
from adapters.discord.delivery import ChannelNotices, DiscordDelivery
from adapters.discord.gateway import (
    check_gateway,
    connect_until_ready,
    fix_for,
    gateway_intents,
    proxy_options,
)
from adapters.discord.handlers import DiscordHandlers
from adapters.discord.platform import DiscordPlatform
from adapters.discord.translator import CatalogTranslator
from core.commands import ChatCommands
from core.conversation import Conversations
from core.errors import ConfigurationError
from core.i18n import Catalogs, shipped_catalogs
from core.proxy import Proxy
from core.turns import TurnRunner

log = logging.getLogger(__name__)

# discord.py waits out a 429 itself; past this many seconds it raises instead of stalling a turn.
MAX_RATELIMIT_TIMEOUT = 30.0
# How long start-up waits for the gateway's READY (discord.py retries a failed connection itself).
READY_TIMEOUT = 30.0


class AvatarClient(discord.Client):
    """The discord.py client: routes messages to the handlers and owns the command tree."""

    def __init__(
        self,
        handlers: DiscordHandlers,
        intents: discord.Intents,
        guilds: list[int],
        **options: Any,
    ) -> None:
        super().__init__(
            intents=intents,
            max_ratelimit_timeout=MAX_RATELIMIT_TIMEOUT,
            allowed_mentions=SAFE_MENTIONS,
            **options,
        )
        self.handlers, self._guilds = handlers, guilds
        self.stopping = False
        self.gateway_ready = asyncio.Event()  # set by READY
        self.tree = GatedTree(self, handlers)
        add_commands(self.tree, handlers)

    async def on_connect(self) -> None:
        """READY arrived (discord.py's "connect" event; on_ready waits for the guilds too)."""
        self.gateway_ready.set()

    async def setup_hook(self) -> None:
        """Publish the slash commands once per login (on_ready may fire many times), their
        descriptions in every shipped language."""
        await self.tree.set_translator(CatalogTranslator(self.handlers.catalogs))
        if not self._guilds:
            await self.tree.sync()
            return
        for guild_id in self._guilds:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)

    async def on_message(self, message: discord.Message) -> None:
        """Messages addressed to the bot go to the turn runner; bots, itself included, are not."""
        if not self.stopping and self.user is not None:
            await self.handlers.on_message(message, self.user)


class ShardedAvatarClient(AvatarClient, discord.AutoShardedClient):
    """The same client over several gateway shards, so that replicas can split the guilds."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.ready_shards: set[int] = set()

    async def on_connect(self) -> None:
        """One shard's READY: the gateway is ready once every shard of this process sent it."""

    async def on_shard_connect(self, shard_id: int) -> None:
        """Count the shards whose READY arrived."""
        self.ready_shards.add(shard_id)
        if len(self.ready_shards) >= len(self.shard_ids or range(self.shard_count or 1)):
            self.gateway_ready.set()


class DiscordAdapter:
    """Connects to the gateway in a watched background task.

    discord.py's REST and gateway URLs are process-wide: bot/run.py sets them before building this.
    """

    platform = PLATFORM

    def __init__(
        self,
        conversations: Conversations,
        *,
        runner: TurnRunner,
        commands: ChatCommands,
        token: str,
        message_content: bool = False,
        guild_ids: list[int] | None = None,
        shard_count: int | None = None,
        shard_ids: list[int] | None = None,
        voice_channel_ids: list[int] | None = None,
        allowed_guilds: list[int] | None = None,
        admins: list[str] | None = None,
        catalogs: Catalogs | None = None,
        proxy: Proxy | None = None,
    ) -> None:
        intents = gateway_intents(message_content)
        no_attach = ChannelNotices()  # shared: a channel hears it once, from either side
        catalogs = catalogs or shipped_catalogs()
        self.turns = DiscordPlatform(
            lambda: self.client, conversations, runner, no_attach, catalogs
        )
        handlers = DiscordHandlers(
            commands,
            runner,
            self.turns,
            set(voice_channel_ids or []),
            allowed_guilds=set(allowed_guilds or []),
            admins=set(admins or []),
            reads_content=message_content,
            photos=conversations.vision_available,
        )
        guilds = guild_ids or []
        # proxy: REST calls, attachment downloads and the gateway all go through it.
        via = proxy_options(proxy)
        if shard_count is None:
            self.client = AvatarClient(handlers, intents, guilds, **via)
        else:  # DISCORD_SHARD_IDS empty: this process runs every shard
            self.client = ShardedAvatarClient(
                handlers,
                intents,
                guilds,
                shard_count=shard_count,
                shard_ids=shard_ids or None,
                **via,
            )
        self.delivery = DiscordDelivery(lambda: self.client, no_attach, catalogs)
        self.routes: tuple[()] = ()  # nothing served on the web server
        self.ready_timeout = READY_TIMEOUT
        self._token, self._runner = token, runner
        self._gateway: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Log in over REST (checks the token, syncs commands), then wait for the gateway's READY.

        A close that must not be retried (4004, 4010-4014) raises ConfigurationError naming the fix.
        """
        try:
            await self.client.login(self._token)
        except discord.LoginFailure:
            await self.client.close()
            raise ConfigurationError("Discord refused DISCORD_BOT_TOKEN (GET /users/@me)") from None
        except BaseException:
            await self.client.close()  # login opened discord.py's HTTP session
            raise  # unreachable: bot/startup.py names DISCORD_API_BASE_URL
        self._gateway = await connect_until_ready(
            self.client, self.client.gateway_ready.wait, self.ready_timeout
        )
        self._watch = asyncio.create_task(self._watch_gateway(), name="discord-gateway-watch")
        try:
            await self._runner.replay(self.turns)  # what a stop or a crash left unanswered
        except BaseException:
            await self.stop()
            raise

    async def _watch_gateway(self) -> None:
        """A gateway that ends while running stops Discord alone; the other platforms go on."""
        assert self._gateway is not None
        await asyncio.wait({self._gateway})
        if self.client.stopping:
            return
        error = None if self._gateway.cancelled() else self._gateway.exception()
        fix = fix_for(error) if error else None
        log.error(
            "Discord stopped (the other platforms keep running): %s",
            fix or "the gateway connection ended",
            exc_info=error if fix is None else None,  # unexpected: keep its traceback
        )
        await self._shut_down()

    async def take_over(self) -> int:
        """Answer the messages a stopped replica left unanswered."""
        return 0 if self.client.stopping else await self._runner.replay(self.turns)

    @staticmethod
    async def check(token: str, message_content: bool, proxy: Proxy | None = None) -> str:
        """For `avatarbot check`: REST login, then IDENTIFY and READY (or the close code)."""
        return await check_gateway(token, message_content, READY_TIMEOUT, proxy)

    async def stop(self) -> None:
        """Stop taking messages and close the connection (the turn runner has drained by now).

        Messages not answered by then stay in the inbox and are answered on the next start.
        """
        await self._shut_down()
        if self._watch is not None:
            await asyncio.gather(self._watch, return_exceptions=True)

    async def _shut_down(self) -> None:
        self.client.stopping = True
        await self.client.close()
        if self._gateway is not None:
            await asyncio.gather(self._gateway, return_exceptions=True)
