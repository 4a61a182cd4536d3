"""The Discord adapter: a discord.py client with slash commands on the shared core."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.convert import PLATFORM, conversation_key
from adapters.discord.delivery import DiscordDelivery
from adapters.discord.handlers import HELP, DiscordHandlers
from core.conversation import Conversations

log = logging.getLogger(__name__)

# discord.py waits out a 429 itself; past this many seconds it raises instead of stalling a turn.
MAX_RATELIMIT_TIMEOUT = 30.0


class AvatarClient(discord.Client):
    """The discord.py client: routes messages to the handlers and owns the command tree."""

    def __init__(
        self, handlers: DiscordHandlers, intents: discord.Intents, guilds: list[int]
    ) -> None:
        super().__init__(
            intents=intents,
            max_ratelimit_timeout=MAX_RATELIMIT_TIMEOUT,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.handlers, self._guilds = handlers, guilds
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
        if self.user is not None and message.author.id != self.user.id:
            await self.handlers.on_message(message, self.user)


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
    @tree.command(name="talk", description="Talk to the avatar: text, or an audio file")
    @app_commands.describe(text="What to say", audio="A voice or audio file to answer")
    async def talk(
        interaction: discord.Interaction,
        text: str | None = None,
        audio: discord.Attachment | None = None,
    ) -> None:
        await handlers.talk(interaction, text, audio)

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
        voice_channel_ids: list[int] | None = None,
        allowed_guilds: list[int] | None = None,
        admins: list[str] | None = None,
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
        self.client = AvatarClient(handlers, intents, guild_ids or [])
        self.delivery = DiscordDelivery(lambda: self.client)
        self._token = token
        self._gateway: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Log in over REST (checks the token, syncs commands), then connect to the gateway."""
        await self.client.login(self._token)
        self._gateway = asyncio.create_task(self.client.connect(), name="discord-gateway")

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
        """Close the gateway and the HTTP session."""
        await self.client.close()
        if self._gateway is not None:
            await asyncio.gather(self._gateway, return_exceptions=True)
