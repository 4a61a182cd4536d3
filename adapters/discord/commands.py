"""The slash commands, built from the core's one list: /talk answered by the turn runner, the
others by the core's command layer at once; all gated by guild."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import locale_str

from adapters.discord.convert import PLATFORM, SAFE_MENTIONS
from adapters.discord.handlers import DiscordHandlers
from core.commands import CommandSpec, Option, offered
from core.i18n import Line

if TYPE_CHECKING:
    from adapters.discord.app import AvatarClient

log = logging.getLogger(__name__)

Callback = Callable[..., Coroutine[Any, Any, None]]
UNAVAILABLE = Line("This bot isn't available here.")


class GatedTree(app_commands.CommandTree["AvatarClient"]):
    """Slash commands only where DISCORD_ALLOWED_GUILD_IDS allows."""

    def __init__(self, client: AvatarClient, handlers: DiscordHandlers) -> None:
        super().__init__(client)
        self._handlers = handlers

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Refuse commands outside the allowed guilds (DMs too, when a list is set)."""
        if self._handlers.allowed_here(interaction.guild_id):
            return True
        refusal = self._handlers.lines(str(interaction.locale)).say(UNAVAILABLE)
        await interaction.response.send_message(
            refusal, ephemeral=True, allowed_mentions=SAFE_MENTIONS
        )
        return False


def add_commands(tree: app_commands.CommandTree[AvatarClient], handlers: DiscordHandlers) -> None:
    """Every command the core offers on Discord; every answer is sent with mentions off."""
    for spec in offered(PLATFORM):
        if spec.turn:
            callback = _talk(handlers)
        elif spec.name == "face":
            callback = _face(handlers)
        else:
            callback = _with_option(spec, handlers)
        tree.add_command(
            app_commands.Command(
                name=spec.name, description=locale_str(spec.description), callback=callback
            )
        )
    tree.error(_on_command_error)


def _talk(handlers: DiscordHandlers) -> Callback:
    @app_commands.describe(
        text=locale_str("What to say"), audio=locale_str("A voice or audio file to answer")
    )
    async def talk(
        interaction: discord.Interaction,
        text: str | None = None,
        audio: discord.Attachment | None = None,
    ) -> None:
        await handlers.talk(interaction, text, audio)

    return talk


def _face(handlers: DiscordHandlers) -> Callback:
    @app_commands.describe(
        image=locale_str("A JPEG or PNG photo of a face"),
        reset=locale_str("Back to the default face"),
    )
    async def face(
        interaction: discord.Interaction,
        image: discord.Attachment | None = None,
        reset: bool = False,
    ) -> None:
        await handlers.face(interaction, image, reset)

    return face


def _with_option(spec: CommandSpec, handlers: DiscordHandlers) -> Callback:
    """A callback for `spec`: no option, or its one string option (with its choices)."""
    name = spec.name
    if spec.option is None:

        async def bare(interaction: discord.Interaction) -> None:
            await handlers.command(interaction, name, "")

        return bare
    if spec.option.required:

        async def required(interaction: discord.Interaction, value: str) -> None:
            await handlers.command(interaction, name, value)

        return _described(required, spec.option)

    async def optional(interaction: discord.Interaction, value: str | None = None) -> None:
        await handlers.command(interaction, name, value or "")

    return _described(optional, spec.option)


def _described(callback: Callback, option: Option) -> Callback:
    """Name and describe the `value` parameter as the option; its choices, if any."""
    described: Callback = app_commands.rename(value=option.name)(callback)
    described = app_commands.describe(value=locale_str(option.description))(described)
    if option.choices:
        choices = [app_commands.Choice(name=choice, value=choice) for choice in option.choices]
        described = app_commands.choices(value=choices)(described)
    return described


async def _on_command_error(
    interaction: discord.Interaction, error: app_commands.AppCommandError
) -> None:
    log.error(
        "slash command /%s failed: %r", interaction.command and interaction.command.name, error
    )
