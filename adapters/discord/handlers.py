"""What the bot does with messages and slash commands on Discord."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, replace
from functools import partial

import discord

from adapters.discord.convert import (
    AUDIO_LIMIT,
    SAFE_MENTIONS,
    Target,
    audio_attachment,
    can_attach,
    conversation_key,
    filesize_limit,
    strip_mentions,
)
from adapters.discord.delivery import NO_ATTACH, ChannelNotices
from adapters.discord.stream import (
    AnswerStream,
    InteractionSurface,
    MessageSurface,
    Surface,
    WebhookSurface,
)
from core.conversation import Conversations, KeyedLocks
from core.groq.audio import MAX_AUDIO_SECONDS, TOO_LONG
from core.types import (
    Audio,
    ConversationKey,
    Failure,
    FinalText,
    Notice,
    TextDelta,
    Transcript,
    Turn,
)

log = logging.getLogger(__name__)

HELP = (
    "Talk to me with `/talk` (text, or an audio file), by mentioning me, by replying to me, or in "
    "a DM — voice messages work too. I answer in text right away, then with a short video.\n"
    "`/reset` forgets this conversation · `/avatar on|off` switches videos here."
)
TOO_BIG = "That audio file is too large for me (25 MB at most)."
NOTHING_SAID = "Send me a message or a voice message and I'll answer."
OOPS = "Something went wrong on my side — please try again."
RESTARTED = "I was restarted before I could answer that — please send it again."
UNHEARD = (
    "I can't read replies that don't ping me here: turn the reply's @ ping on, "
    "mention me (@{name} …) or use `/talk`."
)

TargetFor = Callable[[int], Target]


@dataclass(frozen=True, slots=True)
class RecordedTalk:
    """A /talk as the inbox keeps it: enough to answer it after a restart."""

    key: ConversationKey
    user_id: str
    text: str | None  # None for an audio file, which is not kept
    target: Target  # its interaction webhook, and until when the token lives


class Declined(Exception):
    """The message cannot be answered; the text says why, in one line."""


class DiscordHandlers:
    """Turns Discord messages and interactions into core turns and shows the answers."""

    def __init__(
        self,
        conversations: Conversations,
        voice_channels: set[int],
        *,
        allowed_guilds: set[int] | None = None,
        admins: set[str] | None = None,
        reads_content: bool = False,
        no_attach: ChannelNotices | None = None,
    ) -> None:
        self.conversations = conversations
        self._voice_channels = voice_channels
        self._reads_content = reads_content  # the Message Content intent
        self._no_attach = no_attach or ChannelNotices()
        self._allowed_guilds = allowed_guilds or set()
        self.admins = admins or set()
        self._locks = KeyedLocks()

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
        """Answer a message addressed to the bot."""
        if not self.addressed(message, me):
            return
        text = strip_mentions(message.content, me.id) or None
        attachment = audio_attachment(message.attachments)
        if text is None and attachment is None:
            if self._unheard(message, me):
                await self._say(message, UNHEARD.format(name=me.display_name))
            elif message.attachments:
                await self._say(message, "I understand text and voice messages (and audio files).")
            elif not message.flags.voice:  # a voice message without its file: not for us to read
                await self._say(message, NOTHING_SAID)
            return
        key = conversation_key(message.channel)
        async with self._locks.hold(key):
            try:
                async with message.channel.typing():
                    audio = await self._download(attachment) if attachment else None
                    turn = Turn(
                        key, str(message.author.id), text=None if audio else text, audio=audio
                    )
                    stream = AnswerStream(MessageSurface(message))
                    target = partial(self._target, message)
                    await self.answer(turn, stream, target, can_attach=can_attach(message))
            except Declined as reason:
                await self._say(message, str(reason))
            except discord.HTTPException as error:
                log.warning("Discord refused our answer in %s: %s %s", key, error.code, error.text)
            except Exception:
                log.exception("answering in %s failed", key)
                await self._say(message, OOPS)

    async def talk(
        self,
        interaction: discord.Interaction,
        text: str | None,
        audio: discord.Attachment | None,
    ) -> None:
        """/talk, deferred by the client: answered by editing the original response."""

        async def turn(key: ConversationKey) -> Turn:
            if text is None and audio is None:
                raise Declined("Give me some `text` or an `audio` file to answer.")
            if audio is not None and audio_attachment([audio]) is None:
                raise Declined("That attachment isn't audio — send a voice or audio file.")
            sound = await self._download(audio) if audio else None
            return Turn(key, str(interaction.user.id), text=None if sound else text, audio=sound)

        await self._talk(
            conversation_key(interaction.channel),
            InteractionSurface(interaction),
            turn,
            lambda answer_id: self.interaction_target(interaction, answer_id),
            can_attach=interaction.app_permissions.attach_files,
        )

    async def talk_again(self, webhook: discord.Webhook, talk: RecordedTalk) -> None:
        """A /talk cut by a stop, answered through its webhook while the token lives."""

        async def turn(key: ConversationKey) -> Turn:
            if talk.text is None:  # the audio's signed URL is not kept
                raise Declined(RESTARTED)
            return Turn(key, talk.user_id, text=talk.text)

        await self._talk(
            talk.key,
            WebhookSurface(webhook),
            turn,
            lambda answer_id: replace(talk.target, message_id=answer_id),
        )

    async def _talk(
        self,
        key: ConversationKey,
        surface: Surface,
        turn: Callable[[ConversationKey], Awaitable[Turn]],
        target: TargetFor,
        *,
        can_attach: bool = True,
    ) -> None:
        async with self._locks.hold(key):
            stream = AnswerStream(surface)
            try:
                await self.answer(await turn(key), stream, target, can_attach=can_attach)
            except Declined as reason:
                await stream.fail(str(reason))
            except discord.HTTPException as error:
                log.warning("Discord refused our /talk answer: %s %s", error.code, error.text)
            except Exception:
                log.exception("/talk in %s failed", key)
                await stream.fail(OOPS)

    async def answer(
        self, turn: Turn, stream: AnswerStream, target: TargetFor, *, can_attach: bool = True
    ) -> None:
        """Stream the core's events to Discord, then ask for the avatar video.

        `can_attach`: the bot may upload files there; if not, no video is rendered for nothing.
        """
        async with aclosing(self.conversations.handle(turn)) as events:
            async for event in events:
                if isinstance(event, Transcript):
                    stream.transcript = event.text
                elif isinstance(event, TextDelta):
                    await stream.update(event.text)
                elif isinstance(event, FinalText):
                    where = target(await stream.finish(event.text))
                    if can_attach:
                        await self._render(turn, event, where, stream)
                    elif await self._wants_video(turn.key) and self._no_attach.due(
                        where.channel_id
                    ):
                        await stream.note(NO_ATTACH)
                elif isinstance(event, Failure):
                    await stream.fail(event.message)

    async def _render(
        self, turn: Turn, answer: FinalText, where: Target, stream: AnswerStream
    ) -> None:
        job = await self.conversations.render_avatar(
            turn.key, answer.text, where.dump(), turn.user_id, answer.language
        )
        if isinstance(job, Notice):
            await stream.note(f"🎬 {job.message}")

    async def _wants_video(self, key: ConversationKey) -> bool:
        conversations = self.conversations
        return conversations.avatar_available and await conversations.avatar_enabled(key)

    async def reset(self, key: ConversationKey) -> None:
        """Forget the conversation, after any turn in progress."""
        async with self._locks.hold(key):
            await self.conversations.reset(key)

    async def _download(self, attachment: discord.Attachment) -> Audio:
        # Attachment URLs are signed and expire: check the size first, then download at once.
        if attachment.size > AUDIO_LIMIT:
            raise Declined(TOO_BIG)
        if (attachment.duration or 0) > MAX_AUDIO_SECONDS:
            raise Declined(TOO_LONG)
        try:
            data = await attachment.read()
        except discord.HTTPException as error:
            raise Declined("I couldn't download that file — please send it again.") from error
        mime = (attachment.content_type or "application/octet-stream").split(";")[0]
        return Audio(data, mime, attachment.filename)

    @staticmethod
    def _target(message: discord.Message, answer_id: int) -> Target:
        return Target(message.channel.id, answer_id, filesize_limit(message.channel))

    @staticmethod
    def interaction_target(interaction: discord.Interaction, answer_id: int) -> Target:
        expires = interaction.created_at + dt.timedelta(minutes=15)
        return Target(
            channel_id=interaction.channel_id or 0,
            message_id=answer_id,
            filesize_limit=interaction.filesize_limit,
            application_id=interaction.application_id,
            token=interaction.token,
            expires_at=expires.timestamp(),
        )

    @staticmethod
    async def _say(message: discord.Message, text: str) -> None:
        try:
            await message.reply(text, mention_author=False, allowed_mentions=SAFE_MENTIONS)
        except discord.HTTPException as error:
            log.info("could not reply in %s: %s", message.channel.id, error.code)


def _replies_to(message: discord.Message, me: discord.ClientUser) -> bool:
    replied = message.reference.resolved if message.reference else None
    return isinstance(replied, discord.Message) and replied.author.id == me.id
