"""Messages and /talk on Discord: what is addressed to the bot, recorded for the turn runner."""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial

import discord

from adapters.discord.convert import (
    SAFE_MENTIONS,
    audio_attachment,
    command_of,
    image_attachment,
    message_locale,
    message_payload,
    strip_mentions,
    talk_payload,
)
from adapters.discord.platform import DiscordPlatform, LiveTalk
from core.commands import SPECS, ChatCommands, Reply
from core.errors import ServiceError
from core.i18n import N_, Catalogs, Line, Lines
from core.turns import TurnRunner

log = logging.getLogger(__name__)

NOTHING_SAID = Line("Send me a message or a voice message and I'll answer.")
NOT_AUDIO = Line("I understand text and voice messages (and audio files).")
NOT_AUDIO_WITH_PHOTOS = Line("I understand text, voice messages, audio files and photos.")
UNHEARD = N_(
    "I can't read replies that don't ping me here: turn the reply's @ ping on, "
    "mention me (@{name} …) or use `/talk`."
)


class DiscordHandlers:
    """Decides what is addressed to the bot and hands it to the turn runner, recorded first."""

    def __init__(
        self,
        commands: ChatCommands,
        runner: TurnRunner,
        platform: DiscordPlatform,
        voice_channels: set[int],
        *,
        allowed_guilds: set[int] | None = None,
        admins: set[str] | None = None,
        reads_content: bool = False,
        photos: bool = False,
    ) -> None:
        self._commands, self._runner, self._platform = commands, runner, platform
        self._voice_channels = voice_channels
        self._reads_content = reads_content  # the Message Content intent
        self._photos = photos  # VISION_MODEL answers photos
        self._allowed_guilds = allowed_guilds or set()
        self.admins = admins or set()

    def allowed_here(self, guild_id: int | None) -> bool:
        """DISCORD_ALLOWED_GUILD_IDS: empty allows everyone; a list also shuts DMs out."""
        return not self._allowed_guilds or guild_id in self._allowed_guilds

    def addressed(self, message: discord.Message, me: discord.ClientUser) -> bool:
        """DMs always; in guilds a mention, a reply to the bot, or a voice message where allowed."""
        if message.author.bot or not self.allowed_here(message.guild.id if message.guild else None):
            return False
        if message.guild is None:
            return True
        if me in message.mentions or _replies_to(message, me):
            return True
        return message.flags.voice and message.channel.id in self._voice_channels

    def _readable(self, attachments: list[discord.Attachment]) -> bool:
        """An audio file to transcribe, or an image where VISION_MODEL answers photos."""
        if audio_attachment(attachments) is not None:
            return True
        return self._photos and image_attachment(attachments) is not None

    def _unheard(self, message: discord.Message, me: discord.ClientUser) -> bool:
        """A guild reply to the bot with its ping off: without Message Content, Discord sends
        its content, attachments and embeds empty."""
        return (
            not self._reads_content
            and message.guild is not None
            and me not in message.mentions
            and _replies_to(message, me)
        )

    async def on_message(self, message: discord.Message, me: discord.ClientUser) -> None:
        """Record a message addressed to the bot for its answer; one with nothing to answer
        is told at once what the bot can read."""
        if not self.addressed(message, me):
            return
        if strip_mentions(message.content, me.id) or self._readable(message.attachments):
            await self._platform.accept(str(message.id), message, message_payload(message))
        elif self._unheard(message, me):
            await self._say(message, Line(UNHEARD, name=me.display_name))
        elif message.attachments:
            await self._say(message, NOT_AUDIO_WITH_PHOTOS if self._photos else NOT_AUDIO)
        elif not message.flags.voice:  # a voice message without its file: not for us to read
            await self._say(message, NOTHING_SAID)

    async def talk(
        self,
        interaction: discord.Interaction,
        text: str | None,
        audio: discord.Attachment | None,
    ) -> None:
        """/talk: deferred at once (Discord's 3-second rule), then recorded and answered.

        A stop before the answer leaves it in the inbox: the next start answers it in the same
        response while the interaction's 15-minute token lives.
        """
        await interaction.response.defer(thinking=True)
        recorded = talk_payload(interaction, None if audio is not None else text)
        await self._platform.accept(
            f"talk-{interaction.id}", LiveTalk(interaction, text, audio), recorded
        )

    async def command(self, interaction: discord.Interaction, name: str, args: str) -> None:
        """A slash command other than /talk: carried out by the core, answered at once.

        One that must keep its place among the conversation's messages (/reset) waits for
        those accepted before it.
        """
        command = command_of(interaction, name, args, self.admins)
        carry_out = partial(self._commands.handle, command)
        ordered = SPECS[name].in_order
        reply = await (self._runner.in_order(command.key, carry_out) if ordered else carry_out())
        await interaction.response.send_message(
            reply.text, ephemeral=reply.private, allowed_mentions=SAFE_MENTIONS
        )

    async def face(
        self, interaction: discord.Interaction, image: discord.Attachment | None, reset: bool
    ) -> None:
        """/face image:<photo> or reset:True, in its place among the channel's messages.

        Deferred at once: uploading the photo to D-ID can take longer than Discord's 3 s.
        """
        await interaction.response.defer(thinking=True)
        command = command_of(interaction, "face", "reset" if reset else "", self.admins)
        if image is not None:
            command = replace(command, photo=partial(_read, image), photo_size=image.size)
        replies: list[Reply] = []

        async def run() -> None:
            replies.append(await self._commands.handle(command))

        await self._runner.in_order(command.key, run)
        try:
            await interaction.edit_original_response(
                content=replies[0].text, allowed_mentions=SAFE_MENTIONS
            )
        except discord.HTTPException as error:
            log.info("could not answer /face in %s: %s", interaction.channel_id, error)

    @property
    def catalogs(self) -> Catalogs:
        """The shipped catalogues (the platform's)."""
        return self._platform.catalogs

    def lines(self, locale: str | None) -> Lines:
        """The bot's lines for a Discord locale ("fr", "es-ES"); English for one not shipped."""
        return self.catalogs.lines(self.catalogs.choose([locale]))

    async def _say(self, message: discord.Message, text: str) -> None:
        text = self.lines(message_locale(message)).say(text)
        try:
            await message.reply(text, mention_author=False, allowed_mentions=SAFE_MENTIONS)
        except discord.HTTPException as error:
            log.info("could not reply in %s: %s", message.channel.id, error.code)


def _replies_to(message: discord.Message, me: discord.ClientUser) -> bool:
    replied = message.reference.resolved if message.reference else None
    return isinstance(replied, discord.Message) and replied.author.id == me.id


async def _read(attachment: discord.Attachment) -> bytes:
    """Download an attachment at once (its signed URL expires)."""
    try:
        return await attachment.read()
    except discord.HTTPException as error:
        raise ServiceError(
            Line("I couldn't fetch that photo from Discord — please send it again."),
            detail=f"attachment download: {error}",
        ) from error
