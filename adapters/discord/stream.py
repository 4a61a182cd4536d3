"""One answer on its way to Discord: a reply (or interaction response) edited as it streams."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import aiohttp
import discord

from adapters.discord.convert import (
    MESSAGE_LIMIT,
    SAFE_MENTIONS,
    Target,
    can_attach,
    message_target,
)
from adapters.discord.delivery import NO_ATTACH, WEBHOOK_GONE, ChannelNotices
from core import text as limits
from core.i18n import DEFAULT_LOCALE, Lines, shipped_catalogs
from core.turn_ports import NO_VIDEO, NoVideo
from core.types import AvatarJob

log = logging.getLogger(__name__)

T = TypeVar("T")
# Discord's faults that discord.py does not retry itself (it does 500, 502, 504 and 524): a
# 503, a dropped connection, a timeout. Each part of an answer is tried this many times.
ATTEMPTS = 3
RETRIED = (discord.DiscordServerError, aiohttp.ClientConnectionError, TimeoutError)
# A voice message's transcript heads the answer cut to this many characters: escaped for
# Markdown (at most twice as long) it takes at most half a message, leaving room for the answer
# and for a failure's line.
TRANSCRIPT_LIMIT = MESSAGE_LIMIT // 4


class MessageSurface:
    """Answers a message: the first part replies to it, later edits change that reply."""

    def __init__(self, message: discord.Message) -> None:
        self._message = message
        self._reply: discord.Message | None = None
        self.can_attach = can_attach(message)  # whether the video may go there

    def target(self, answer_id: int) -> Target:
        """Where the video goes, given the id of the answer's last message."""
        return message_target(self._message, answer_id)

    async def show(self, text: str) -> int:
        """Create or edit the reply; return its id."""
        if self._reply is None:
            # A plain message where its author deleted the question: Discord refuses a reply to
            # a message that is gone (400 50035) unless the reference says not to.
            reference = self._message.to_reference(fail_if_not_exists=False)
            self._reply = await self._message.channel.send(
                text, reference=reference, allowed_mentions=SAFE_MENTIONS
            )
        else:
            await self._reply.edit(content=text, allowed_mentions=SAFE_MENTIONS)
        return self._reply.id

    async def more(self, text: str) -> int:
        """Send a further part of a long answer."""
        sent = await self._message.channel.send(text, allowed_mentions=SAFE_MENTIONS)
        return sent.id

    async def withdraw(self) -> None:
        """Delete the reply `show` made: the answer went in new messages instead."""
        if self._reply is not None:
            reply, self._reply = self._reply, None
            await reply.delete()


# Discord's name for an interaction's original response; discord.py puts it in the route as given.
_ORIGINAL: Any = "@original"


Channel = Callable[[], Awaitable[discord.abc.Messageable]]


class WebhookSurface:
    """Answers a deferred slash command: edits its original response, follow-ups for the rest.

    The interaction's webhook outlives a restart: its token stays valid for 15 minutes, so a
    `/talk` cut by a stop is answered after the next start in the same original response. Once
    Discord says the webhook is gone (the token ran out while answering), the answer goes to the
    command's `channel` instead, as the video does.
    """

    def __init__(
        self,
        webhook: discord.Webhook,
        target: Callable[[int], Target],
        can_attach: bool = True,
        channel: Channel | None = None,
    ) -> None:
        self._webhook, self.target, self.can_attach = webhook, target, can_attach
        self._channel = channel
        self._gone = False  # Discord said the webhook is gone: the channel is used instead
        self._posted: discord.Message | None = None  # what `show` posted in the channel

    async def show(self, text: str) -> int:
        """Edit the original response (or the answer posted in the channel); its message id."""
        if not self._gone:
            try:
                message = await self._webhook.edit_message(
                    _ORIGINAL, content=text, allowed_mentions=SAFE_MENTIONS
                )
                return message.id
            except discord.HTTPException as error:
                self._gone_because(error)
        if self._posted is None:
            self._posted = await self._send(text)
        else:
            await self._posted.edit(content=text, allowed_mentions=SAFE_MENTIONS)
        return self._posted.id

    async def more(self, text: str) -> int:
        """Send a further part as a follow-up (in the channel once the webhook is gone)."""
        if not self._gone:
            try:
                sent = await self._webhook.send(text, allowed_mentions=SAFE_MENTIONS, wait=True)
                return sent.id
            except discord.HTTPException as error:
                self._gone_because(error)
        return (await self._send(text)).id

    async def withdraw(self) -> None:
        """Delete what `show` edited or posted: the answer went in new messages instead."""
        if self._posted is not None:
            posted, self._posted = self._posted, None
            await posted.delete()
        elif not self._gone:
            await self._webhook.delete_message(_ORIGINAL)

    def _gone_because(self, error: discord.HTTPException) -> None:
        """Use the channel from now on if `error` says the webhook is gone; else raise it."""
        if error.code not in WEBHOOK_GONE or self._channel is None:
            raise error
        log.info("interaction webhook is gone (%s); answering in the channel", error.code)
        self._gone = True

    async def _send(self, text: str) -> discord.Message:
        assert self._channel is not None
        return await (await self._channel()).send(text, allowed_mentions=SAFE_MENTIONS)


Surface = MessageSurface | WebhookSurface


class AnswerStream:
    """The turn runner's view of one Discord turn: one message edited as the answer streams
    (at most once per `interval`), then finished in parts of at most 2000 characters.

    The surface is found on first use: a message replayed after a restart is fetched again.
    Once Discord refuses the bot here (403: a permission taken away meanwhile), nothing more is
    asked: every 403 counts towards the invalid requests that get the bot's IP banned.
    """

    def __init__(
        self,
        surface: Callable[[], Awaitable[Surface]],
        wants_video: Callable[[], Awaitable[bool]],
        no_attach: ChannelNotices,
        lines: Lines | None = None,
        interval: float = 1.0,
    ) -> None:
        self._find, self._wants_video, self._no_attach = surface, wants_video, no_attach
        self._lines = lines or shipped_catalogs().lines(DEFAULT_LOCALE)
        self._surface: Surface | None = None
        self._interval, self._last_shown = interval, float("-inf")
        self._transcript: str | None = None
        self._shown: list[int] = []  # the ids of the final answer's parts shown so far
        self._refused = False  # Discord answered 403 here
        self._streamed = False  # a partial answer is showing (in the reply or the response)

    async def transcript(self, text: str) -> None:
        """Shown as the answer's header, cut to leave the message room for the answer."""
        self._transcript = limits.truncate(text, TRANSCRIPT_LIMIT)

    async def partial(self, text: str) -> None:
        """Show the answer so far, unless the last edit was less than `interval` ago."""
        now = asyncio.get_running_loop().time()
        if now - self._last_shown >= self._interval and not self._refused:
            self._last_shown = now
            shown = limits.truncate(self._header() + text, MESSAGE_LIMIT)
            if await self._put((await self._where()).show, shown) is not None:
                self._streamed = True

    async def final(self, text: str) -> str | NoVideo:
        """Show the whole answer in parts; return the video's target.

        Tried again after a refused part, it goes on from that part: those shown stay once.
        """
        surface, parts = await self._where(), self._parts(text)
        for index in range(len(self._shown), len(parts)):
            put = surface.show if index == 0 else surface.more
            if (shown := await self._put(put, parts[index])) is None:
                return NO_VIDEO
            self._shown.append(shown)
        return await self._video_to(surface, self._shown[-1])

    async def plain(self, text: str) -> str | NoVideo:
        """Send the answer's parts not shown yet (all of them at first) as new messages."""
        surface = await self._where()
        if self._shown:
            rest = self._parts(text)[len(self._shown) :]
        else:
            rest = limits.split(self._header() + text, MESSAGE_LIMIT)
        for part in rest:
            if (shown := await self._put(surface.more, part)) is None:
                return NO_VIDEO
            self._shown.append(shown)
        if self._streamed and len(self._shown) == len(rest):
            await self._withdraw(surface)  # its first words would stay beside the answer
        return await self._video_to(surface, self._shown[-1])

    async def _withdraw(self, surface: Surface) -> None:
        try:
            await surface.withdraw()
        except Exception as error:  # the answer is shown: nothing here may fail it
            log.info("the half-streamed answer stays: %r", error)

    async def _put(self, put: Callable[[str], Awaitable[int]], text: str) -> int | None:
        """`put(text)`, retried; None once Discord refused the bot here (403)."""
        if self._refused:
            return None
        try:
            return await retried(put, text)
        except discord.Forbidden as error:
            log.warning("Discord refused the answer: %s %s", error.code, error.text)
            self._refused = True
            return None

    def _parts(self, text: str) -> list[str]:
        """The answer split to fit, the transcript heading its first part."""
        header = self._header()
        parts = limits.split(text, MESSAGE_LIMIT - len(header))
        return [header + parts[0], *parts[1:]]

    async def failure(self, message: str) -> None:
        """Say in one line what went wrong, in place of the answer."""
        await self._put((await self._where()).show, self._header() + f"⚠️ {message}")

    async def notice(self, message: str) -> None:
        """Why no video comes, after the answer."""
        await self._put((await self._where()).more, f"🎬 {message}")

    async def rendering(self, job: AvatarJob) -> None:
        """Nothing to say: the video follows the answer when it is ready."""

    async def _where(self) -> Surface:
        if self._surface is None:
            self._surface = await self._find()
        return self._surface

    async def _video_to(self, surface: Surface, answer_id: int) -> str | NoVideo:
        """The video's target; NO_VIDEO where the bot may not upload (said once an hour)."""
        target = replace(surface.target(answer_id), locale=self._lines.locale)
        if surface.can_attach:
            return target.dump()
        try:  # the answer is shown: nothing here may fail it
            if await self._wants_video() and self._no_attach.due(target.channel_id):
                await surface.more(f"🎬 {self._lines.say(NO_ATTACH)}")
        except Exception as error:
            log.info("could not say why no video comes in %s: %r", target.channel_id, error)
        return NO_VIDEO

    def _header(self) -> str:
        if not self._transcript:
            return ""
        return f"🎤 *{discord.utils.escape_markdown(self._transcript)}*\n\n"


async def retried(put: Callable[[str], Awaitable[T]], text: str) -> T:
    """`put(text)`, tried again after a fault of Discord's that discord.py does not retry."""
    for attempt in range(1, ATTEMPTS):
        try:
            return await put(text)
        except RETRIED as error:
            log.info("Discord failed (%r); trying again", error)
            await asyncio.sleep(0.5 * attempt)
    return await put(text)
