"""Discord as the turn runner sees it: inbox payloads back to turns, and where to answer them."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import aiohttp
import discord

from adapters.discord.convert import (
    AUDIO_LIMIT,
    PLATFORM,
    RecordedTalk,
    audio_attachment,
    conversation_key,
    image_attachment,
    payload_key,
    payload_locale,
    strip_mentions,
)
from adapters.discord.delivery import TOKEN_MARGIN, ChannelNotices, messageable
from adapters.discord.stream import (
    AnswerStream,
    MessageSurface,
    WebhookSurface,
)
from core.conversation import Conversations
from core.groq.audio import MAX_AUDIO_SECONDS, TOO_LONG
from core.i18n import DEFAULT_LOCALE, Catalogs, Line, shipped_catalogs
from core.images import MAX_IMAGE_BYTES
from core.images import TOO_BIG as IMAGE_TOO_BIG
from core.turn_ports import Declined
from core.turns import TurnRunner
from core.types import Audio, ConversationKey, Image, InboxEntry, Turn

log = logging.getLogger(__name__)

TOO_BIG = Line("That audio file is too large for me (25 MB at most).")
RESTARTED = Line("I was restarted before I could answer that — please send it again.")
NOTHING_TO_ANSWER = Line("Give me some `text` or an `audio` file to answer.")
NOT_AUDIO = Line("That attachment isn't audio — send a voice or audio file.")
NOT_DOWNLOADED = Line("I couldn't download that file — please send it again.")

Client = Callable[[], discord.Client]


@dataclass(frozen=True, slots=True)
class LiveTalk:
    """A /talk as it arrived: its interaction, and the audio file whose URL is not recorded."""

    interaction: discord.Interaction
    text: str | None
    audio: discord.Attachment | None


class DiscordPlatform:
    """Turns recorded messages and /talk commands into turns and views for the turn runner.

    What arrives live is held in memory until it is answered; after a restart a message is
    fetched again, and a /talk answered through its webhook while its 15-minute token lives.
    """

    name = PLATFORM

    def __init__(
        self,
        client: Client,
        conversations: Conversations,
        runner: TurnRunner,
        no_attach: ChannelNotices,
        catalogs: Catalogs | None = None,
    ) -> None:
        self._client, self._conversations, self._no_attach = client, conversations, no_attach
        self._runner, self.catalogs = runner, catalogs or shipped_catalogs()
        self._live: dict[str, discord.Message | LiveTalk] = {}
        self._asked: dict[str, _AskedMessage | _AskedTalk] = {}  # decoded once for turn and view

    async def accept(
        self, message_key: str, live: discord.Message | LiveTalk, payload: str
    ) -> None:
        """Record what arrived; the runner answers it from `live`, kept until `finished`."""
        self._live[message_key] = live
        new = False
        try:
            new = await self._runner.accept(self, message_key, payload)
        finally:
            if not new:  # recorded before (a gateway replay after a resume), or not at all
                self._live.pop(message_key, None)

    def key(self, entry: InboxEntry) -> ConversationKey:
        """The channel, DM or thread of the entry."""
        return payload_key(json.loads(entry.payload))

    def view(self, entry: InboxEntry) -> AnswerStream:
        """An AnswerStream on the entry's reply, or on its interaction's original response."""
        wants_video = partial(self._conversations.avatar_enabled, self.key(entry))
        lines = self.catalogs.lines(self._locale(entry))
        return AnswerStream(self._decoded(entry).surface, wants_video, self._no_attach, lines)

    async def turn(self, entry: InboxEntry) -> Turn | None:
        """The entry's text or downloaded audio; Declined with the line that says why not, None
        for nothing to say (a message deleted since, a token that ran out, no right to post)."""
        return await self._decoded(entry).turn()

    def finished(self, entry: InboxEntry, answered: bool) -> None:
        """Forget what arrived: answered, or left in the inbox for the next start."""
        self._asked.pop(entry.message_key, None)
        self._live.pop(entry.message_key, None)

    def _locale(self, entry: InboxEntry) -> str:
        """The shipped locale of the /talk's user, or of the message's guild; else English."""
        return self.catalogs.choose([payload_locale(json.loads(entry.payload))])

    def _decoded(self, entry: InboxEntry) -> _AskedMessage | _AskedTalk:
        key, locale = entry.message_key, self._locale(entry)
        if (asked := self._asked.get(key)) is None:
            ids, live = json.loads(entry.payload), self._live.pop(key, None)
            if "talk" in ids:
                talk = live if isinstance(live, LiveTalk) else None
                recorded = RecordedTalk.load(ids["talk"])
                asked = _AskedTalk(self._client, key, recorded, talk, locale)
            else:
                message = live if isinstance(live, discord.Message) else None
                photos = self._conversations.vision_available
                asked = _AskedMessage(self._client, key, ids, message, locale, photos=photos)
            self._asked[key] = asked
        return asked


class _AskedMessage:
    """A message addressed to the bot, answered by a reply."""

    def __init__(
        self,
        client: Client,
        key: str,
        ids: dict[str, int],
        live: discord.Message | None,
        locale: str,
        *,
        photos: bool = False,  # VISION_MODEL answers photos
    ) -> None:
        self._client, self._key, self._ids = client, key, ids
        self._message, self._locale, self._photos = live, locale, photos

    async def surface(self) -> MessageSurface:
        # Asked for only once `turn` gave a turn, or declined one: the message was there.
        assert self._message is not None, f"message {self._key} is gone"
        return MessageSurface(self._message)

    async def turn(self) -> Turn | None:
        if (message := self._message) is None:  # replayed: fetched again
            try:
                channel = await messageable(self._client(), self._ids["channel_id"])
                message = self._message = await channel.fetch_message(self._ids["message_id"])
            except discord.HTTPException as error:
                if error.status >= 500 or error.status == 429:
                    raise  # Discord's fault, not the message's: it stays for the next start
                log.info("message %s is gone (%s); not answering it", self._key, error)
                return None
        key = conversation_key(message.channel)
        try:
            await message.channel.typing()  # once: it lasts until the reply, or 10 s
        except discord.Forbidden as error:  # it may not post here at all: say nothing
            log.warning("Discord refused our answer in %s: %s %s", key, error.code, error.text)
            return None
        except (discord.HTTPException, discord.RateLimited, aiohttp.ClientError, TimeoutError) as e:
            log.info("typing in %s failed: %r", key, e)  # best effort: the answer goes on
        me = self._client().user
        text = strip_mentions(message.content, me.id if me else 0) or None
        attachment = audio_attachment(message.attachments)
        picture = image_attachment(message.attachments) if self._photos else None
        user, locale = str(message.author.id), self._locale
        if attachment is None and picture is not None:  # fetched again after a restart
            image = await download_image(picture, locale)
            return Turn(key, user, text=text, image=image, locale=locale)
        audio = await download(attachment, locale) if attachment else None
        return Turn(key, user, text=None if audio else text, audio=audio, locale=locale)


class _AskedTalk:
    """A /talk, answered in its original response: live, or through its webhook after a stop."""

    def __init__(
        self,
        client: Client,
        key: str,
        recorded: RecordedTalk,
        live: LiveTalk | None,
        locale: str,
    ) -> None:
        self._client, self._key, self._recorded, self._live = client, key, recorded, live
        self._locale = locale

    async def surface(self) -> WebhookSurface:
        target = self._recorded.target  # the interaction's, as `interaction_target` made it
        channel = partial(messageable, self._client(), target.channel_id)  # once it is gone
        if (live := self._live) is not None:
            interaction = live.interaction
            attach = interaction.app_permissions.attach_files
            return WebhookSurface(interaction.followup, target.at, attach, channel)
        webhook = discord.Webhook.partial(
            target.application_id or 0, target.token or "", client=self._client()
        )
        return WebhookSurface(webhook, target.at, channel=channel)

    async def turn(self) -> Turn | None:
        recorded, locale = self._recorded, self._locale
        if (live := self._live) is not None:
            if live.text is None and live.audio is None:
                raise Declined(NOTHING_TO_ANSWER, locale=locale)
            if live.audio is not None and audio_attachment([live.audio]) is None:
                raise Declined(NOT_AUDIO, locale=locale)
            sound = await download(live.audio, locale) if live.audio else None
            text = None if sound else live.text
            return Turn(recorded.key, recorded.user_id, text=text, audio=sound, locale=locale)
        if recorded.target.expired(TOKEN_MARGIN):
            log.info("%s: its interaction token ran out while the bot was down", self._key)
            return None
        if recorded.text is None:  # the audio's signed URL is not kept
            raise Declined(RESTARTED, locale=locale)
        return Turn(recorded.key, recorded.user_id, text=recorded.text, locale=locale)


async def download_image(attachment: discord.Attachment, locale: str = DEFAULT_LOCALE) -> Image:
    """Check the size against what a vision request carries, then download at once."""
    if attachment.size > MAX_IMAGE_BYTES:
        raise Declined(IMAGE_TOO_BIG, locale=locale)
    try:
        data = await attachment.read()
    except (discord.HTTPException, aiohttp.ClientError) as error:
        raise Declined(NOT_DOWNLOADED, locale=locale) from error
    return Image(data, (attachment.content_type or "image/jpeg").split(";")[0])


async def download(attachment: discord.Attachment, locale: str = DEFAULT_LOCALE) -> Audio:
    """Check the size and length first, then download at once (attachment URLs expire)."""
    if attachment.size > AUDIO_LIMIT:
        raise Declined(TOO_BIG, locale=locale)
    if (attachment.duration or 0) > MAX_AUDIO_SECONDS:
        raise Declined(TOO_LONG, locale=locale)
    try:
        data = await attachment.read()
    except (discord.HTTPException, aiohttp.ClientError) as error:
        raise Declined(NOT_DOWNLOADED, locale=locale) from error
    mime = (attachment.content_type or "application/octet-stream").split(";")[0]
    return Audio(data, mime, attachment.filename)
