"""The slash commands' descriptions in Discord's locales, from the bot's gettext catalogues.

discord.py asks a `Translator` for every `locale_str` of the command tree in every Discord
locale when the tree is synced, and sends what it returns as `description_localizations`
(https://discordpy.readthedocs.io/en/stable/interactions/api.html#translator). Names stay as
typed; a locale without a shipped catalogue gets Discord's default, the English description.
"""

from __future__ import annotations

import discord
from discord import app_commands

from core.i18n import DEFAULT_LOCALE, Catalogs

# Discord caps a command's or option's description at 100 characters in every locale.
DESCRIPTION_LIMIT = 100
_DESCRIPTIONS = (
    app_commands.TranslationContextLocation.command_description,
    app_commands.TranslationContextLocation.parameter_description,
)


class CatalogTranslator(app_commands.Translator):
    """Translates command and option descriptions through the shipped catalogues."""

    def __init__(self, catalogs: Catalogs) -> None:
        self._catalogs = catalogs

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        """The description in `locale`'s shipped language; None leaves Discord's default."""
        if context.location not in _DESCRIPTIONS:
            return None
        chosen = self._catalogs.choose([locale.value])
        if chosen == DEFAULT_LOCALE:
            return None
        translated = self._catalogs.lines(chosen).gettext(string.message)
        return translated if translated != string.message else None
