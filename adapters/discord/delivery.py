"""Avatar videos to Discord: a follow-up while the interaction lives, else a channel reply."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import discord

from adapters.discord.convert import SAFE_MENTIONS, Target
from core.jobs import PermanentDeliveryError
from core.types import AvatarFailed, VideoReady

log = logging.getLogger(__name__)

# Interaction tokens live 15 minutes; leave room for the upload itself.
TOKEN_MARGIN = 60.0
# Discord error codes: unknown webhook, invalid webhook token, unknown interaction.
_WEBHOOK_GONE = {10015, 50027, 10062}


class DiscordDelivery:
    """Sends finished renders to where the answer went."""

    def __init__(self, client: Callable[[], discord.Client]) -> None:
        self._client = client

    async def deliver_video(self, ready: VideoReady) -> None:
        """Upload the MP4 if it fits the place's limit, else say why there is no video."""
        target = Target.load(ready.job.target)
        size = (await asyncio.to_thread(ready.path.stat)).st_size
        if size > target.filesize_limit:
            limit = target.filesize_limit // (1024 * 1024)
            await self._post(
                target, content=f"🎬 The avatar video is over this place's {limit} MB limit."
            )
            return
        name = f"avatar-{ready.job.id}.mp4"
        await self._post(target, file=lambda: discord.File(ready.path, filename=name))

    async def deliver_failure(self, failed: AvatarFailed) -> None:
        """Say in one line why no video is coming."""
        await self._post(Target.load(failed.job.target), content=f"🎬 {failed.message}")

    async def _post(
        self,
        target: Target,
        *,
        content: str | None = None,
        file: Callable[[], discord.File] | None = None,
    ) -> None:
        if (
            target.token
            and target.application_id
            and time.time() < (target.expires_at or 0) - TOKEN_MARGIN
        ):
            try:
                webhook = discord.Webhook.partial(
                    target.application_id, target.token, client=self._client()
                )
                await webhook.send(
                    content or discord.utils.MISSING,
                    file=file() if file else discord.utils.MISSING,
                    allowed_mentions=SAFE_MENTIONS,
                    wait=True,
                )
                return
            except discord.HTTPException as error:
                if error.code not in _WEBHOOK_GONE:
                    raise
                log.info("interaction webhook is gone (%s); posting in the channel", error.code)
        await self._post_in_channel(target, content, file)

    async def _post_in_channel(
        self, target: Target, content: str | None, file: Callable[[], discord.File] | None
    ) -> None:
        client = self._client()
        try:
            channel = client.get_channel(target.channel_id) or await client.fetch_channel(
                target.channel_id
            )
            assert isinstance(channel, discord.abc.Messageable)
            reference = discord.MessageReference(
                message_id=target.message_id, channel_id=target.channel_id, fail_if_not_exists=False
            )
            await channel.send(
                content,
                file=file() if file else discord.utils.MISSING,
                reference=reference,
                allowed_mentions=SAFE_MENTIONS,
            )
        except (discord.Forbidden, discord.NotFound) as error:
            raise PermanentDeliveryError(f"{error.status} {error.code}: {error.text}") from error
