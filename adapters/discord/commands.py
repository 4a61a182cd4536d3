"""The slash commands: /talk answered by the turn runner, the others at once; all gated by guild."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.app_commands import locale_str

from adapters.discord.convert import SAFE_MENTIONS, conversation_key
from adapters.discord.handlers import HELP, DiscordHandlers
from core.i18n import Line

if TYPE_CHECKING:
    from adapters.discord.app import AvatarClient

log = logging.getLogger(__name__)

ON = Line("Avatar videos are on here.")
OFF = Line("Avatar videos are off here.")


class GatedTree(app_commands.CommandTree["AvatarClient"]):
    """Slash commands only where DISCORD_ALLOWED_GUILD_IDS allows."""

    def __init__(self, client: AvatarClient, handlers: DiscordHandlers) -> None:
        super().__init__(client)
        self._handlers = handlers

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Refuse commands outside the allowed guilds (DMs too, when a list is set)."""
        if self._handlers.allowed_here(interaction.guild_id):
            return True
        await _respond(
            interaction, self._handlers, Line("This bot isn't available here."), ephemeral=True
        )
        return False


async def _respond(
    interaction: discord.Interaction,
    handlers: DiscordHandlers,
    text: str,
    *,
    ephemeral: bool = False,
) -> None:
    """Answer in the user's language (a `Line`), with every mention off."""
    text = handlers.lines(str(interaction.locale)).say(text)
    await interaction.response.send_message(
        text, ephemeral=ephemeral, allowed_mentions=SAFE_MENTIONS
    )


def add_commands(tree: app_commands.CommandTree[AvatarClient], handlers: DiscordHandlers) -> None:
    """/talk, /reset, /avatar, /stats and /help; every answer is sent with mentions off."""

    @tree.command(name="talk", description=locale_str("Talk to the avatar: text, or an audio file"))
    @app_commands.describe(
        text=locale_str("What to say"), audio=locale_str("A voice or audio file to answer")
    )
    async def talk(
        interaction: discord.Interaction,
        text: str | None = None,
        audio: discord.Attachment | None = None,
    ) -> None:
        await handlers.talk(interaction, text, audio)

    @tree.command(name="reset", description=locale_str("Forget this conversation"))
    async def reset(interaction: discord.Interaction) -> None:
        await handlers.reset(conversation_key(interaction.channel))
        await _respond(interaction, handlers, Line("Done — I've forgotten our conversation."))

    @tree.command(name="avatar", description=locale_str("Switch avatar videos on or off here"))
    async def avatar(interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        if not handlers.conversations.avatar_available:
            await _respond(interaction, handlers, Line("Avatar videos aren't set up on this bot."))
            return
        key = conversation_key(interaction.channel)
        await handlers.conversations.set_avatar(key, state == "on")
        await _respond(interaction, handlers, ON if state == "on" else OFF)

    @tree.command(name="stats", description=locale_str("Today's usage (admins only)"))
    async def stats(interaction: discord.Interaction) -> None:
        if str(interaction.user.id) not in handlers.admins:
            await _respond(interaction, handlers, Line("Only the bot's admins can use /stats."))
            return
        await _respond(interaction, handlers, await handlers.conversations.stats(), ephemeral=True)

    @tree.command(name="help", description=locale_str("What this bot understands"))
    async def help_(interaction: discord.Interaction) -> None:
        await _respond(interaction, handlers, HELP, ephemeral=True)

    tree.error(_on_command_error)


async def _on_command_error(
    interaction: discord.Interaction, error: app_commands.AppCommandError
) -> None:
    log.error(
        "slash command /%s failed: %r", interaction.command and interaction.command.name, error
    )
