"""One answer on its way to a Telegram chat: streamed while it is written, then formatted.

A model answer that was produced is never replaced by an apology because showing it failed: a
refused draft or edit is skipped (after a 429, streaming pauses until Telegram's retry_after
has passed), the final text goes with `send_message` (429s and network errors retried), as
plain text when the formatted one is refused, and only when all of that fails does the chat get
one line saying so.
"""

from __future__ import annotations

import asyncio
import html
import logging

from telegram import Bot, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError

from adapters.telegram import format as fmt
from adapters.telegram.calls import call, is_not_modified, is_parse_error, retry_seconds

log = logging.getLogger(__name__)

NOT_SHOWN = "⚠️ I have an answer, but Telegram wouldn't let me show it here — please ask again."
REST_NOT_SHOWN = "⚠️ Telegram wouldn't let me show the rest of my answer — please ask again."


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
        self._quiet_until = float("-inf")  # a 429 while streaming: nothing shown before then
        self._drafting = True  # this answer's drafts; off once the server refuses one
        self._message: Message | None = None  # the message streamed by edits
        self.transcript: str | None = None
        self.shown_anything = False
        self.finished = False  # the final answer (or the failure line) went out

    async def update(self, text: str) -> None:
        """Show the answer so far, unless the last update was less than `interval` ago.

        Showing it is best effort: a call that fails is skipped, and the final text follows.
        """
        now = asyncio.get_running_loop().time()
        if not self._private or now - self._last_shown < self._interval or now < self._quiet_until:
            return
        self._last_shown = now
        preview = fmt.truncate(self._plain_header() + text, fmt.MESSAGE_LIMIT)
        try:
            if not (self._drafting and self._drafts.available and await self._draft(preview)):
                await self._show_plain(preview)
            self.shown_anything = True
        except RetryAfter as error:
            self._quiet_until = now + retry_seconds(error)
            log.info("chat %s: Telegram asked to wait; streaming pauses", self._chat_id)
        except Forbidden:
            raise
        except TelegramError as error:
            log.debug("chat %s: showing the partial answer failed: %s", self._chat_id, error)

    async def finish(self, answer: str) -> int:
        """Send the final answer, formatted and split; return the id of its last message.

        When nothing could be shown, that is the id of the message answered.
        """
        header_plain, header_html = self._plain_header(), self._html_header()
        parts = fmt.split(answer, fmt.MESSAGE_LIMIT - fmt.utf16_len(header_plain))
        message_id = self._reply_to
        for index, part in enumerate(parts):
            plain = (header_plain if index == 0 else "") + part
            rich = (header_html if index == 0 else "") + fmt.to_html(part)
            sent = await self._put(rich, plain, edit=index == 0)
            if sent is None:
                await self._say(NOT_SHOWN if index == 0 else REST_NOT_SHOWN)
                break
            message_id = sent
        self.finished = True
        return message_id

    async def plain(self, answer: str) -> int:
        """Send the answer as plain text in new messages; raise if Telegram refuses one.

        Return the id of its last message.
        """
        header = self._plain_header()
        parts = fmt.split(answer, fmt.MESSAGE_LIMIT - fmt.utf16_len(header))
        message_id = self._reply_to
        for index, part in enumerate(parts):
            text = (header if index == 0 else "") + part
            message_id = (await call(lambda text=text: self._send(text, None))).message_id  # type: ignore[misc]
            self.shown_anything = True
        self.finished = True
        return message_id

    async def fail(self, message: str, *, warning: bool = True) -> None:
        """Tell the user in one line what went wrong (after the transcript, if any).

        `warning`: marked with ⚠️; without, the line is a reply in its own words.
        """
        text = self._plain_header() + (f"⚠️ {message}" if warning else message)
        await self._put(html.escape(text, quote=False), text, edit=True)
        self.finished = True

    def _plain_header(self) -> str:
        return f"🎤 {self.transcript}\n\n" if self.transcript else ""

    def _html_header(self) -> str:
        if not self.transcript:
            return ""
        return f"🎤 <i>{html.escape(self.transcript, quote=False)}</i>\n\n"

    async def _draft(self, text: str) -> bool:
        """Show a draft; False when drafts are refused here and edits must stream instead."""
        try:
            await self._bot.send_message_draft(
                self._chat_id, draft_id=self._reply_to, text=text, message_thread_id=self._thread_id
            )
        except InvalidToken:
            # A Bot API server without the method answers 404 "Not Found", which PTB raises
            # as InvalidToken (the token itself was accepted by getMe at start).
            log.warning("the Bot API server does not serve sendMessageDraft; streaming by edits")
            self._drafts.available = False
            return False
        except BadRequest as error:
            log.info("chat %s refused a draft (%s); streaming by edits", self._chat_id, error)
            self._drafting = False
            return False
        return True

    async def _show_plain(self, text: str) -> None:
        """One attempt at the streamed message: the final text retries, a preview need not."""
        if self._message is None:
            self._message = await self._send(text, None)
            return
        try:
            await self._edit(self._message, text, None)
        except BadRequest as error:
            if not is_not_modified(error):
                raise

    async def _put(self, rich: str, plain: str, *, edit: bool) -> int | None:
        """Show `rich` HTML (or `plain`) in the streamed message or a new one; None if refused."""
        streamed = self._message if edit else None
        if streamed is not None and await self._edit_into(streamed, rich, plain):
            return streamed.message_id
        sent = await self._send_final(rich, plain)
        if sent is not None and streamed is not None:
            # The half-streamed message would repeat the start of the answer just sent.
            self._message = None
            await self._delete(streamed)
        return sent

    async def _edit_into(self, message: Message, rich: str, plain: str) -> bool:
        for text, mode in ((rich, ParseMode.HTML), (plain, None)):
            try:
                await call(lambda text=text, mode=mode: self._edit(message, text, mode))  # type: ignore[misc]
                return True
            except BadRequest as error:
                if is_not_modified(error):
                    return True
                if mode is None or not is_parse_error(error):
                    log.info("chat %s: could not edit the answer in (%s)", self._chat_id, error)
                    return False
            except Forbidden:
                raise
            except TelegramError as error:
                log.info("chat %s: could not edit the answer in (%s)", self._chat_id, error)
                return False
        return False

    async def _send_final(self, rich: str, plain: str) -> int | None:
        for text, mode in ((rich, ParseMode.HTML), (plain, None)):
            try:
                sent = await call(lambda text=text, mode=mode: self._send(text, mode))  # type: ignore[misc]
            except BadRequest as error:
                if mode is None:
                    log.warning("chat %s refused the answer: %s", self._chat_id, error)
                    return None
                log.info("chat %s refused the formatting (%s); plain text", self._chat_id, error)
                continue
            except Forbidden:
                raise
            except TelegramError as error:
                log.warning("chat %s: the answer could not be sent: %s", self._chat_id, error)
                return None
            self.shown_anything = True
            return sent.message_id
        return None

    async def _say(self, line: str) -> None:
        try:
            await call(lambda: self._send(line, None))
        except TelegramError as error:
            log.warning("chat %s: could not say the answer is missing: %s", self._chat_id, error)

    async def _delete(self, message: Message) -> None:
        try:
            await self._bot.delete_message(message.chat_id, message.message_id)
        except TelegramError as error:
            log.debug("chat %s: the streamed message stays (%s)", self._chat_id, error)

    async def _send(self, text: str, mode: str | None) -> Message:
        return await self._bot.send_message(
            self._chat_id,
            text,
            parse_mode=mode,
            message_thread_id=self._thread_id,
            reply_parameters=ReplyParameters(self._reply_to, allow_sending_without_reply=True),
        )

    async def _edit(self, message: Message, text: str, mode: str | None) -> None:
        await self._bot.edit_message_text(
            text, chat_id=message.chat_id, message_id=message.message_id, parse_mode=mode
        )
