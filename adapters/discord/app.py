"""The Discord adapter: a discord.py client with slash commands on the shared core."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict
from typing import Any

import discord

from adapters.discord.commands import GatedTree, add_commands
from adapters.discord.convert import PLATFORM, SAFE_MENTIONS, Target, conversation_key
from adapters.discord.delivery import TOKEN_MARGIN, ChannelNotices, DiscordDelivery
from adapters.discord.gateway import check_gateway, connect_until_ready, fix_for, gateway_intents
from adapters.discord.handlers import DiscordHandlers, RecordedTalk
from core.conversation import Conversations
from core.errors import ConfigurationError
from core.inflight import InFlight
from core.ports import Inbox
from core.types import ConversationKey

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
        inbox: Inbox,
        **options: Any,
    ) -> None:
        super().__init__(
            intents=intents,
            max_ratelimit_timeout=MAX_RATELIMIT_TIMEOUT,
            allowed_mentions=SAFE_MENTIONS,
            **options,
        )
        self.handlers, self._guilds, self.inbox = handlers, guilds, inbox
        self.in_flight = InFlight()
        self.stopping = False
        self.gateway_ready = asyncio.Event()  # set by READY
        self.tree = GatedTree(self, handlers)
        add_commands(self.tree, handlers)

    async def on_connect(self) -> None:
        """READY arrived (discord.py's "connect" event; on_ready waits for the guilds too)."""
        self.gateway_ready.set()

    async def setup_hook(self) -> None:
        """Publish the slash commands once per login (on_ready may fire many times)."""
        if not self._guilds:
            await self.tree.sync()
            return
        for guild_id in self._guilds:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)

    async def on_message(self, message: discord.Message) -> None:
        """Answer messages addressed to the bot; ignore bots, including itself."""
        if self.stopping or self.user is None or not self.handlers.addressed(message, self.user):
            return
        key = str(message.id)
        payload = json.dumps({"channel_id": message.channel.id, "message_id": message.id})
        if not await self.inbox.record(PLATFORM, key, payload):
            return  # already recorded: a gateway replay after a resume
        await self.answer_recorded(message)

    async def answer_recorded(self, message: discord.Message) -> None:
        """Answer a recorded message and mark it answered; a stop before that replays it."""
        assert self.user is not None
        with self.in_flight.track(message.id):
            await self.handlers.on_message(message, self.user)
        await self.inbox.answered(PLATFORM, str(message.id))

    async def talk(
        self, interaction: discord.Interaction, text: str | None, audio: discord.Attachment | None
    ) -> None:
        """/talk: deferred at once (Discord's 3-second rule), recorded, then answered.

        A stop before the answer leaves it in the inbox: the next start answers it in the same
        response while the interaction's 15-minute token lives.
        """
        await interaction.response.defer(thinking=True)
        key, where = f"talk-{interaction.id}", conversation_key(interaction.channel)
        talk = {
            "chat_id": where.chat_id,
            "thread_id": where.thread_id,
            "user_id": str(interaction.user.id),
            "text": None if audio is not None else text,
            "target": asdict(self.handlers.interaction_target(interaction, 0)),
        }
        await self.inbox.record(PLATFORM, key, json.dumps({"talk": talk}))
        with self.in_flight.track(interaction.id):
            await self.handlers.talk(interaction, text, audio)
        await self.inbox.answered(PLATFORM, key)

    async def replay(self) -> int:
        """Answer the messages and /talk commands recorded but not answered before a stop."""
        entries = await self.inbox.claim_unanswered(PLATFORM)
        for entry in entries:
            ids = json.loads(entry.payload)
            if "talk" in ids:
                await self._talk_again(entry.message_key, ids["talk"])
                continue
            try:
                channel = self.get_channel(ids["channel_id"]) or await self.fetch_channel(
                    ids["channel_id"]
                )
                assert isinstance(channel, discord.abc.Messageable)
                message = await channel.fetch_message(ids["message_id"])
            except discord.HTTPException as error:
                log.info("message %s is gone (%s); not answering it", entry.message_key, error)
                await self.inbox.answered(PLATFORM, entry.message_key)
                continue
            await self.answer_recorded(message)
        return len(entries)

    async def _talk_again(self, key: str, recorded: dict[str, Any]) -> None:
        target = Target(**recorded["target"])
        if time.time() > (target.expires_at or 0) - TOKEN_MARGIN:
            log.info("%s: its interaction token ran out while the bot was down", key)
        else:
            webhook = discord.Webhook.partial(
                target.application_id or 0, target.token or "", client=self
            )
            talk = RecordedTalk(
                ConversationKey(PLATFORM, recorded["chat_id"], recorded["thread_id"]),
                recorded["user_id"],
                recorded["text"],
                target,
            )
            with self.in_flight.track(int(key.removeprefix("talk-"))):
                await self.handlers.talk_again(webhook, talk)
        await self.inbox.answered(PLATFORM, key)


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
        token: str,
        message_content: bool = False,
        guild_ids: list[int] | None = None,
        shard_count: int | None = None,
        shard_ids: list[int] | None = None,
        voice_channel_ids: list[int] | None = None,
        allowed_guilds: list[int] | None = None,
        admins: list[str] | None = None,
        inbox: Inbox,
        grace_seconds: float = 20.0,
    ) -> None:
        intents = gateway_intents(message_content)
        no_attach = ChannelNotices()  # shared: a channel hears it once, from either side
        handlers = DiscordHandlers(
            conversations,
            set(voice_channel_ids or []),
            allowed_guilds=set(allowed_guilds or []),
            admins=set(admins or []),
            reads_content=message_content,
            no_attach=no_attach,
        )
        guilds = guild_ids or []
        if shard_count is None:
            self.client = AvatarClient(handlers, intents, guilds, inbox)
        else:  # DISCORD_SHARD_IDS empty: this process runs every shard
            self.client = ShardedAvatarClient(
                handlers,
                intents,
                guilds,
                inbox,
                shard_count=shard_count,
                shard_ids=shard_ids or None,
            )
        self.delivery = DiscordDelivery(lambda: self.client, no_attach)
        self.ready_timeout = READY_TIMEOUT
        self._token, self._grace = token, grace_seconds
        self._gateway: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._replay: asyncio.Task[int] | None = None

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
        self._replay = asyncio.create_task(self.client.replay(), name="discord-replay")

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
        return 0 if self.client.stopping else await self.client.replay()

    @staticmethod
    async def check(token: str, message_content: bool) -> str:
        """For `avatarbot check`: REST login, then IDENTIFY and READY (or the close code)."""
        return await check_gateway(token, message_content, READY_TIMEOUT)

    async def wait_until_ready(self) -> None:
        """Wait for READY and the guilds (used by tests)."""
        await self.client.wait_until_ready()

    async def stop(self) -> None:
        """Stop taking messages, give answers in flight the grace period, close the connection.

        Messages not answered by then stay in the inbox and are answered on the next start.
        """
        await self._shut_down()
        if self._watch is not None:
            await asyncio.gather(self._watch, return_exceptions=True)

    async def _shut_down(self) -> None:
        self.client.stopping = True
        if self._replay is not None:
            self._replay.cancel()
            await asyncio.gather(self._replay, return_exceptions=True)
        if cut := await self.client.in_flight.drain(self._grace):
            log.warning(
                "stopped %d Discord answer(s) in flight; they resume on the next start", cut
            )
        await self.client.close()
        if self._gateway is not None:
            await asyncio.gather(self._gateway, return_exceptions=True)
