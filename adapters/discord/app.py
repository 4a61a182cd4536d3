"""The Discord adapter: a discord.py client with slash commands on the shared core."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict
from typing import Any, Literal

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.convert import PLATFORM, Target, conversation_key
from adapters.discord.delivery import TOKEN_MARGIN, DiscordDelivery
from adapters.discord.handlers import HELP, DiscordHandlers, RecordedTalk
from core.conversation import Conversations
from core.errors import ConfigurationError
from core.inflight import InFlight
from core.ports import Inbox
from core.types import ConversationKey

log = logging.getLogger(__name__)

# discord.py waits out a 429 itself; past this many seconds it raises instead of stalling a turn.
MAX_RATELIMIT_TIMEOUT = 30.0


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
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.handlers, self._guilds, self.inbox = handlers, guilds, inbox
        self.in_flight = InFlight()
        self.stopping = False
        self.tree = GatedTree(self)
        _add_commands(self.tree, handlers)

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


class GatedTree(app_commands.CommandTree["AvatarClient"]):
    """Slash commands only where DISCORD_ALLOWED_GUILD_IDS allows."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Refuse commands outside the allowed guilds (DMs too, when a list is set)."""
        client = interaction.client
        assert isinstance(client, AvatarClient)
        if client.handlers.allowed_here(interaction.guild_id):
            return True
        await interaction.response.send_message("This bot isn't available here.", ephemeral=True)
        return False


def _add_commands(tree: app_commands.CommandTree[AvatarClient], handlers: DiscordHandlers) -> None:
    client = tree.client

    @tree.command(name="talk", description="Talk to the avatar: text, or an audio file")
    @app_commands.describe(text="What to say", audio="A voice or audio file to answer")
    async def talk(
        interaction: discord.Interaction,
        text: str | None = None,
        audio: discord.Attachment | None = None,
    ) -> None:
        await client.talk(interaction, text, audio)

    @tree.command(name="reset", description="Forget this conversation")
    async def reset(interaction: discord.Interaction) -> None:
        await handlers.reset(conversation_key(interaction.channel))
        await interaction.response.send_message("Done — I've forgotten our conversation.")

    @tree.command(name="avatar", description="Switch avatar videos on or off here")
    async def avatar(interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        if not handlers.conversations.avatar_available:
            await interaction.response.send_message("Avatar videos aren't set up on this bot.")
            return
        key = conversation_key(interaction.channel)
        await handlers.conversations.set_avatar(key, state == "on")
        await interaction.response.send_message(f"Avatar videos are {state} here.")

    @tree.command(name="stats", description="Today's usage (admins only)")
    async def stats(interaction: discord.Interaction) -> None:
        if str(interaction.user.id) not in handlers.admins:
            await interaction.response.send_message("Only the bot's admins can use /stats.")
            return
        await interaction.response.send_message(
            await handlers.conversations.stats(), ephemeral=True
        )

    @tree.command(name="help", description="What this bot understands")
    async def help_(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(HELP, ephemeral=True)

    tree.error(_on_command_error)


async def _on_command_error(
    interaction: discord.Interaction, error: app_commands.AppCommandError
) -> None:
    log.error(
        "slash command /%s failed: %r", interaction.command and interaction.command.name, error
    )


class DiscordAdapter:
    """Connects to the gateway in a named background task; REST and gateway URLs are settings."""

    platform = PLATFORM

    def __init__(
        self,
        conversations: Conversations,
        *,
        token: str,
        api_base: str,
        gateway_url: str | None = None,
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
        # discord.py reads both URLs from class attributes: one process, one Discord.
        Route.BASE = api_base.rstrip("/")
        if gateway_url:
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
        intents = discord.Intents.default()
        intents.message_content = message_content
        handlers = DiscordHandlers(
            conversations,
            set(voice_channel_ids or []),
            allowed_guilds=set(allowed_guilds or []),
            admins=set(admins or []),
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
        self.delivery = DiscordDelivery(lambda: self.client)
        self._token, self._grace = token, grace_seconds
        self._gateway: asyncio.Task[None] | None = None
        self._replay: asyncio.Task[int] | None = None

    async def start(self) -> None:
        """Log in over REST (checks the token, syncs commands), then connect to the gateway."""
        try:
            await self.client.login(self._token)
        except discord.LoginFailure:
            await self.client.close()
            raise ConfigurationError("Discord refused DISCORD_BOT_TOKEN (GET /users/@me)") from None
        self._gateway = asyncio.create_task(self.client.connect(), name="discord-gateway")
        self._replay = asyncio.create_task(self.client.replay(), name="discord-replay")

    async def take_over(self) -> int:
        """Answer the messages a stopped replica left unanswered."""
        return await self.client.replay()

    @staticmethod
    async def check(token: str, api_base: str) -> str:
        """Log in over REST (GET /users/@me) and name the bot, for `avatarbot check`."""
        Route.BASE = api_base.rstrip("/")
        client = discord.Client(intents=discord.Intents.none())
        try:
            await client.login(token)
            return f"logged in as {client.user}"
        finally:
            await client.close()

    async def wait_until_ready(self) -> None:
        """Wait for READY and the guilds (used by tests and `check`)."""
        await self.client.wait_until_ready()

    async def stop(self) -> None:
        """Stop taking messages, give answers in flight the grace period, close the connection.

        Messages not answered by then stay in the inbox and are answered on the next start.
        """
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
