"""Avatar videos to Discord: a follow-up while the interaction lives, else a channel reply."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import discord

from adapters.discord.convert import SAFE_MENTIONS, Target
from core.avatar.jobs import PermanentDeliveryError
from core.avatar.speech import video_caption
from core.i18n import Catalogs, Line, shipped_catalogs
from core.types import AvatarFailed, VideoReady, VoiceNote

log = logging.getLogger(__name__)

# Interaction tokens live 15 minutes; leave room for the upload itself.
TOKEN_MARGIN = 60.0
# Discord error codes: unknown webhook, invalid webhook token, unknown interaction.
WEBHOOK_GONE = frozenset({10015, 50027, 10062})
MISSING_PERMISSIONS = 50013
NO_ATTACH = Line("I can't post videos here: I need the Attach Files permission.")
# A channel that refuses files hears why at most this often, not once per video.
NOTICE_INTERVAL = 3600.0


class MissingPermissions(PermanentDeliveryError):
    """Discord answered 403 50013: the bot lacks a permission in that channel."""


class ChannelNotices:
    """Says a channel's standing problem at most once per NOTICE_INTERVAL."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._told: dict[int, float] = {}  # channel id → when it was last told

    def due(self, channel_id: int) -> bool:
        """True (and counted as told) unless the channel heard it within the interval."""
        now = self._clock()
        if now - self._told.get(channel_id, -NOTICE_INTERVAL) < NOTICE_INTERVAL:
            return False
        self._told[channel_id] = now
        return True


class DiscordDelivery:
    """Sends finished renders to where the answer went."""

    def __init__(
        self,
        client: Callable[[], discord.Client],
        no_attach: ChannelNotices,
        catalogs: Catalogs | None = None,
    ) -> None:
        self._client, self._no_attach = client, no_attach
        self._catalogs = catalogs or shipped_catalogs()

    async def deliver_video(self, ready: VideoReady) -> None:
        """Upload the MP4 if it fits the place's limit, else say why there is no video."""
        target = Target.load(ready.job.target)
        size = (await asyncio.to_thread(ready.path.stat)).st_size
        if size > target.filesize_limit:
            limit = target.filesize_limit // (1024 * 1024)
            over = Line("The avatar video is over this place's {limit} MB limit.", limit=limit)
            await self._post(target, content=f"🎬 {self._say(target, over)}")
            return
        name, caption = f"avatar-{ready.job.id}.mp4", video_caption(ready.job)
        try:
            await self._post(
                target,
                content=caption and self._say(target, caption),
                file=lambda: discord.File(ready.path, filename=name),
            )
        except MissingPermissions:
            await self._tell_no_attach(target)
            raise

    async def deliver_failure(self, failed: AvatarFailed) -> None:
        """Say in one line why no video is coming."""
        target = Target.load(failed.job.target)
        await self._post(target, content=f"🎬 {self._say(target, failed.message)}")

    def _say(self, target: Target, line: str) -> str:
        """A line in the locale the answer was given in."""
        return self._catalogs.lines(target.locale).say(line)

    async def deliver_voice(self, note: VoiceNote) -> None:
        """Post the voice answer as an audio attachment (`answer.ogg`) replying to the answer.

        Discord shows an OGG/Opus attachment with its own audio player; the caption is said in
        the locale the answer was given in.
        """
        target = Target.load(note.target)
        try:
            await self._post(
                target,
                content=note.caption and self._say(target, note.caption),
                file=lambda: discord.File(note.path, filename="answer.ogg"),
            )
        except MissingPermissions:
            await self._tell_no_attach(target)
            raise

    async def _tell_no_attach(self, target: Target) -> None:
        if not self._no_attach.due(target.channel_id):
            return
        try:
            await self._post(target, content=f"🎬 {self._say(target, NO_ATTACH)}")
        except (PermanentDeliveryError, discord.HTTPException) as error:
            log.info("could not say why in %s: %s", target.channel_id, error)

    async def _post(
        self,
        target: Target,
        *,
        content: str | None = None,
        file: Callable[[], discord.File] | None = None,
    ) -> None:
        """Through the interaction webhook while its token lives, else in the channel; a refusal
        that no retry can change raises PermanentDeliveryError."""
        try:
            if await self._post_by_webhook(target, content, file):
                return
            await self._post_in_channel(target, content, file)
        except (discord.Forbidden, discord.NotFound) as error:
            detail = f"{error.status} {error.code}: {error.text}"
            if error.code == MISSING_PERMISSIONS:
                raise MissingPermissions(detail) from error
            raise PermanentDeliveryError(detail) from error

    async def _post_by_webhook(
        self, target: Target, content: str | None, file: Callable[[], discord.File] | None
    ) -> bool:
        if not (target.token and target.application_id) or target.expired(TOKEN_MARGIN):
            return False
        webhook = discord.Webhook.partial(
            target.application_id, target.token, client=self._client()
        )
        try:
            await webhook.send(
                content or discord.utils.MISSING,
                file=file() if file else discord.utils.MISSING,
                allowed_mentions=SAFE_MENTIONS,
                wait=True,
            )
        except discord.HTTPException as error:
            if error.code not in WEBHOOK_GONE:
                raise
            log.info("interaction webhook is gone (%s); posting in the channel", error.code)
            return False
        return True

    async def _post_in_channel(
        self, target: Target, content: str | None, file: Callable[[], discord.File] | None
    ) -> None:
        channel = await messageable(self._client(), target.channel_id)
        reference = discord.MessageReference(
            message_id=target.message_id, channel_id=target.channel_id, fail_if_not_exists=False
        )
        await channel.send(
            content,
            file=file() if file else discord.utils.MISSING,
            reference=reference,
            allowed_mentions=SAFE_MENTIONS,
        )


async def messageable(client: discord.Client, channel_id: int) -> discord.abc.Messageable:
    """A channel, DM or thread to post in: from the cache, else fetched."""
    channel = client.get_channel(channel_id) or await client.fetch_channel(channel_id)
    assert isinstance(channel, discord.abc.Messageable)
    return channel
