"""One answer on its way to a Telegram chat: streamed while it is written, then formatted."""

from __future__ import annotations

import asyncio
import html
import logging

from telegram import Bot, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError

from adapters.telegram import format as fmt
from adapters.telegram.calls import call, is_not_modified, is_parse_error

log = logging.getLogger(__name__)


class DraftSupport:
    """Whether the Bot API server takes sendMessageDraft; learned once for all chats."""

    def __init__(self) -> None:
        self.available = True


class AnswerStream:
    """Shows an answer as it streams (private chats), then sends it formatted as a reply.

    Private chats see a draft (sendMessageDraft) or, where drafts are not served, one message
    edited at most once per `interval`. Groups get the final message only, to respect the
    group's 20-messages-a-minute budget.
    """

    def __init__(
        self,
        bot: Bot,
        *,
        chat_id: int,
        thread_id: int | None,
        reply_to: int,
        private: bool,
        drafts: DraftSupport,
        interval: float = 1.0,
    ) -> None:
        self._bot, self._chat_id, self._thread_id = bot, chat_id, thread_id
        self._reply_to, self._private, self._drafts = reply_to, private, drafts
        self._interval = interval
        self._last_shown = float("-inf")
        self._message: Message | None = None
        self.transcript: str | None = None
        self.shown_anything = False

    async def update(self, text: str) -> None:
        """Show the answer so far, unless the last update was less than `interval` ago."""
        now = asyncio.get_running_loop().time()
        if not self._private or now - self._last_shown < self._interval:
            return
        self._last_shown = now
        preview = fmt.truncate(self._plain_header() + text, fmt.MESSAGE_LIMIT)
        if self._drafts.available and await self._draft(preview):
            return
        await self._show_plain(preview)

    async def finish(self, answer: str) -> int:
        """Send the final answer, formatted and split; return the id of its last message."""
        header_plain, header_html = self._plain_header(), self._html_header()
        parts = fmt.split(answer, fmt.MESSAGE_LIMIT - fmt.utf16_len(header_plain))
        message_id = 0
        for index, part in enumerate(parts):
            plain = (header_plain if index == 0 else "") + part
            rich = (header_html if index == 0 else "") + fmt.to_html(part)
            message_id = await self._put(rich, plain, edit=index == 0)
        return message_id

    async def fail(self, message: str) -> None:
        """Tell the user in one line what went wrong (after the transcript, if any)."""
        text = self._plain_header() + f"⚠️ {message}"
        await self._put(html.escape(text, quote=False), text, edit=True)

    def _plain_header(self) -> str:
        return f"🎤 {self.transcript}\n\n" if self.transcript else ""

    def _html_header(self) -> str:
        if not self.transcript:
            return ""
        return f"🎤 <i>{html.escape(self.transcript, quote=False)}</i>\n\n"

    async def _draft(self, text: str) -> bool:
        try:
            await self._bot.send_message_draft(
                self._chat_id, draft_id=self._reply_to, text=text, message_thread_id=self._thread_id
            )
        except BadRequest as error:
            log.info("drafts are not available here (%s); editing messages instead", error)
            self._drafts.available = False
            return False
        except NetworkError as error:
            log.debug("draft update failed: %s", error)
        self.shown_anything = True
        return True

    async def _show_plain(self, text: str) -> None:
        if self._message is None:
            self._message = await call(lambda: self._send(text, None))
        else:
            await self._edit(self._message, text, None)
        self.shown_anything = True

    async def _put(self, rich: str, plain: str, *, edit: bool) -> int:
        """Send (or edit the streamed message into) `rich` HTML, falling back to `plain`."""
        for text, mode in ((rich, ParseMode.HTML), (plain, None)):
            try:
                if edit and self._message is not None:
                    await self._edit(self._message, text, mode)
                    message_id = self._message.message_id
                else:
                    sent = await call(lambda text=text, mode=mode: self._send(text, mode))  # type: ignore[misc]
                    message_id = sent.message_id
                self.shown_anything = True
                return message_id
            except BadRequest as error:
                if mode is None or not is_parse_error(error):
                    raise
                log.info("Telegram refused the formatting (%s); sending plain text", error)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, text: str, mode: str | None) -> Message:
        return await self._bot.send_message(
            self._chat_id,
            text,
            parse_mode=mode,
            message_thread_id=self._thread_id,
            reply_parameters=ReplyParameters(self._reply_to, allow_sending_without_reply=True),
        )

    async def _edit(self, message: Message, text: str, mode: str | None) -> None:
        try:
            await call(
                lambda: self._bot.edit_message_text(
                    text, chat_id=message.chat_id, message_id=message.message_id, parse_mode=mode
                )
            )
        except BadRequest as error:
            if not is_not_modified(error):
                raise
