"""One answer on its way to a Telegram chat: streamed while it is written, then formatted.

The turn runner's failure policy holds, with Telegram's own ways: a refused draft or edit is
skipped (after a 429, streaming pauses until Telegram's retry_after has passed); the final text
goes with `send_message` (429s and network errors retried by `call`), as plain text when the
formatted one is refused, and when Telegram refuses even that the chat gets one line saying so
at once (asking again would be refused alike, so this view does not raise for the runner to
retry). A 5xx or network fault that outlasts `call`'s retries is raised for the runner to try
again, from the part that met it. The final text's parts are sent by `AnswerParts`
(answer_parts.py); this module streams the answer so far and shows the rest of the turn.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial

from telegram import Bot, Message
from telegram.constants import ChatAction, ChatType
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)

from adapters.telegram import format as fmt
from adapters.telegram.actions import GROUP_INTERVAL, PRIVATE_INTERVAL, ChatActions
from adapters.telegram.answer_parts import AnswerParts
from adapters.telegram.calls import (
    call,
    retry_seconds,
    tell,
)
from adapters.telegram.delivery import VideoRefusals
from adapters.telegram.handlers import TOO_BIG, UNSUPPORTED, UNSUPPORTED_WITH_PHOTOS
from core.groq.audio import TOO_LONG
from core.i18n import Lines, msgid
from core.images import TOO_BIG as IMAGE_TOO_BIG
from core.turn_ports import NO_VIDEO, NoVideo
from core.types import AvatarJob

log = logging.getLogger(__name__)

# A voice note's transcript heads the answer in at most half a message (UTF-16 units): a long
# one would leave the answer parts of a few characters, or no room for a failure's line.
TRANSCRIPT_LIMIT = fmt.MESSAGE_LIMIT // 2
# Declines in the bot's own words (by message id): a plain reply, where a failure is marked ⚠️.
OWN_WORDS = frozenset(
    msgid(line) for line in (TOO_BIG, TOO_LONG, UNSUPPORTED, UNSUPPORTED_WITH_PHOTOS, IMAGE_TOO_BIG)
)


class DraftSupport:
    """Whether the Bot API server takes sendMessageDraft; learned once for all chats."""

    def __init__(self) -> None:
        self.available = True


class AnswerStream(AnswerParts):
    """The turn runner's view of one Telegram message: its answer, as a reply to it.

    Private chats see a draft (sendMessageDraft) or, where drafts are not served, one message
    edited at most once per `interval`. Groups get the final message only, to respect the
    group's 20-messages-a-minute budget.

    `typing`: "typing…" shows until the answer (or a line in its place) does. A chat that
    blocked the bot is shown nothing more, and gets no video.
    """

    def __init__(
        self,
        bot: Bot,
        actions: ChatActions,
        refusals: VideoRefusals,
        drafts: DraftSupport,
        message: Message,
        lines: Lines,
        *,
        typing: bool,
        interval: float = 1.0,
    ) -> None:
        super().__init__(bot, message, lines)
        self._actions, self._refusals, self._drafts = actions, refusals, drafts
        self._private = message.chat.type == ChatType.PRIVATE
        self._actions_every = PRIVATE_INTERVAL if self._private else GROUP_INTERVAL
        self._interval, self._last_shown = interval, float("-inf")
        self._quiet_until = float("-inf")  # a 429 while streaming: nothing shown before then
        self._drafting = True  # this answer's drafts; off once the server refuses one
        self._typing, self._blocked = typing, False
        if typing:
            self._hold(ChatAction.TYPING)

    async def transcript(self, text: str) -> None:
        """Shown as the answer's header, cut to leave the message room for the answer."""
        self._transcript = fmt.truncate(text, TRANSCRIPT_LIMIT)

    async def partial(self, text: str) -> None:
        """The answer so far, in private chats: a draft, or one message edited once a second.

        Skipped when the last update was less than `interval` ago. Showing it is best effort: a
        call that fails is skipped, and the final text follows.
        """
        now = asyncio.get_running_loop().time()
        if self._blocked or not self._private:
            return
        if now - self._last_shown < self._interval or now < self._quiet_until:
            return
        self._last_shown = now
        preview = fmt.truncate(self._plain_header() + text, fmt.MESSAGE_LIMIT)
        try:
            if not (self._drafting and self._drafts.available and await self._draft(preview)):
                if self._message is None:
                    self._message = await self._send(preview, None)
                else:
                    await self._edit(self._message, preview, None)
        except RetryAfter as error:
            self._quiet_until = now + retry_seconds(error)
            log.info("chat %s: Telegram asked to wait; streaming pauses", self._asked.chat_id)
        except Forbidden as error:
            self._gone(error)
        except TelegramError as error:
            log.debug("chat %s: showing the partial answer failed: %s", self._asked.chat_id, error)
        else:
            self._typed()  # the streaming answer says enough

    async def final(self, text: str) -> str | NoVideo:
        """The answer formatted and split to fit; the video replies to its last message.

        When nothing could be shown, that is the message answered, and no video is asked for.
        """
        return await self._shown(partial(self._finish, text))

    async def plain(self, text: str) -> str | NoVideo:
        """The answer as plain text, in new messages; raise if Telegram refuses one."""

        async def send() -> int:
            for part, _ in self._parts(text)[len(self._parts_shown) :]:  # those not shown yet
                sent = await call(lambda part=part: self._send(part, None))  # type: ignore[misc]
                self._parts_shown.append(sent.message_id)
            return self._parts_shown[-1] if self._parts_shown else self._asked.message_id

        return await self._shown(send)

    async def failure(self, message: str) -> None:
        """One line in place of the answer (after the transcript, if any).

        Marked ⚠️, unless it declines the message in the bot's own words.
        """
        line = self._plain_header() + (message if msgid(message) in OWN_WORDS else f"⚠️ {message}")
        try:
            if not self._blocked:
                await self._put(html.escape(line, quote=False), line, edit=True)
        except Forbidden as error:
            self._gone(error)
        finally:
            self._typed()

    async def notice(self, message: str) -> None:
        """Why no video comes, as a reply to the answer."""
        if not self._blocked:
            await tell(self._bot, self._answer, f"🎬 {message}")

    async def rendering(self, job: AvatarJob) -> None:
        """Show "recording video…" until the delivery sends the video (or says why not)."""
        self._hold(ChatAction.RECORD_VIDEO)

    async def _shown(self, send: Callable[[], Awaitable[int]]) -> str | NoVideo:
        """Send the answer; where its video goes, or NO_VIDEO where none can."""
        if self._blocked:
            return NO_VIDEO
        try:
            message_id = await send()  # may move `_asked` to a supergroup
            self._answer = replace(self._asked, message_id=message_id)
        except Forbidden as error:
            self._gone(error)
            return NO_VIDEO
        finally:
            self._typed()
        if not self._parts_shown:
            return NO_VIDEO  # Telegram refused the answer (a closed topic): nor would it a video
        if self._refusals.refused_lately(self._asked.chat_id):
            return NO_VIDEO  # the chat's permissions refuse videos, and it was told so
        return self._answer.dump()

    def _hold(self, action: str) -> None:
        self._actions.hold(self._asked.chat_id, self._asked.thread_id, action, self._actions_every)

    def _typed(self) -> None:
        if self._typing:
            self._typing = False
            self._actions.release(self._asked.chat_id, self._asked.thread_id, ChatAction.TYPING)

    def _gone(self, error: Forbidden) -> None:
        if not self._blocked:
            self._blocked = True
            log.info("chat %s blocked the bot: %s", self._asked.chat_id, error)

    async def _draft(self, text: str) -> bool:
        """Show a draft; False when drafts are refused here and edits must stream instead."""
        try:
            await self._bot.send_message_draft(
                self._asked.chat_id,
                draft_id=self._asked.message_id,
                text=text,
                message_thread_id=self._asked.thread_id,
            )
        except InvalidToken:
            # A Bot API server without the method answers 404 "Not Found", which PTB raises
            # as InvalidToken (the token itself was accepted by getMe at start).
            log.warning("the Bot API server does not serve sendMessageDraft; streaming by edits")
            self._drafts.available = False
            return False
        except BadRequest as error:
            log.info("chat %s refused a draft (%s); streaming by edits", self._asked.chat_id, error)
            self._drafting = False
            return False
        return True
