"""One answer's final text in a Telegram chat, sent as replies to the message asked.

The answer is split to fit a message with the voice note's transcript heading it; each part goes
as HTML, and plainly where Telegram refuses that (`call` retries 429s and network errors). The
first part edits the message streamed so far where there is one, else is sent anew and the
half-streamed message deleted; a group that became a supergroup is followed there. A part
Telegram refuses outright is replaced by one line saying so; a 5xx or network fault that
outlasts `call`'s retries is raised, and trying again goes on from the part that met it.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial

from telegram import Bot, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, TelegramError

from adapters.telegram import format as fmt
from adapters.telegram.calls import call, reply, tell
from adapters.telegram.convert import Target, thread_of
from core.i18n import Line, Lines

# One logger for all of an answer's lines, the answer stream's: log filters select them by it.
log = logging.getLogger("adapters.telegram.stream")

NOT_SHOWN = Line("I have an answer, but Telegram wouldn't let me show it here — please ask again.")
REST_NOT_SHOWN = Line("Telegram wouldn't let me show the rest of my answer — please ask again.")


class AnswerParts:
    """The final text of one answer, as replies to `message`; `AnswerStream` builds on it.

    `_message` is the message streamed by edits, if any (its subclass streams into it);
    `_parts_shown` the ids of the parts sent so far, so that a retry goes on after them.
    """

    def __init__(self, bot: Bot, message: Message, lines: Lines) -> None:
        self._bot, self._lines = bot, lines
        self._asked = Target(message.chat_id, message.message_id, thread_of(message), lines.locale)
        self._answer = self._asked  # what the video and a notice reply to
        self._send = partial(reply, bot, self._asked)  # (text, parse mode): one attempt
        self._message: Message | None = None  # the message streamed by edits
        self._parts_shown: list[int] = []  # the ids of the final answer's parts sent so far
        self._transcript: str | None = None

    def _typed(self) -> None:
        """Called once something is shown in place of "typing…"; a subclass stops showing it."""

    async def _finish(self, answer: str) -> int:
        """Send the answer formatted and split; the id of its last message.

        Tried again after a network fault, it goes on from the part that met it.
        """
        parts = self._parts(answer)
        for index in range(len(self._parts_shown), len(parts)):
            plain, rich = parts[index]
            sent = await self._put(rich, plain, edit=index == 0)
            if sent is None:
                line = self._lines.say(NOT_SHOWN if index == 0 else REST_NOT_SHOWN)
                await tell(self._bot, self._asked, f"⚠️ {line}")
                break
            self._parts_shown.append(sent)
        return self._parts_shown[-1] if self._parts_shown else self._asked.message_id

    def _parts(self, answer: str) -> list[tuple[str, str]]:
        """The answer split to fit, each part as (plain text, HTML); the transcript heads it."""
        plain, rich = self._plain_header(), ""
        if self._transcript:
            rich = f"🎤 <i>{html.escape(self._transcript, quote=False)}</i>\n\n"
        parts = fmt.split(answer, fmt.MESSAGE_LIMIT - fmt.utf16_len(plain))
        headers = [(plain, rich)] + [("", "")] * (len(parts) - 1)
        return [
            (p + part, h + fmt.to_html(part)) for (p, h), part in zip(headers, parts, strict=True)
        ]

    def _plain_header(self) -> str:
        return f"🎤 {self._transcript}\n\n" if self._transcript else ""

    async def _put(self, rich: str, plain: str, *, edit: bool) -> int | None:
        """Show `rich` HTML (or `plain`) in the streamed message or a new one; None if refused."""
        streamed = self._message if edit else None
        if streamed is not None:
            if await self._formatted(partial(self._edit, streamed), rich, plain, edit=True):
                return streamed.message_id
        sent = await self._formatted(self._send, rich, plain, edit=False)
        if sent is not None and streamed is not None:
            # The half-streamed message would repeat the start of the answer just sent.
            self._message = None
            await self._delete(streamed)
        return sent.message_id if sent is not None else None

    async def _formatted(
        self,
        put: Callable[[str, str | None], Awaitable[Message]],
        rich: str,
        plain: str,
        *,
        edit: bool,
    ) -> Message | None:
        """`put` the HTML, then the plain text where Telegram refused it; None if refused.

        A new message goes plain whatever refused the HTML; an edit only when the formatting
        was refused (refused otherwise, the answer goes in a new message instead).
        """
        for text, mode in ((rich, ParseMode.HTML), (plain, None)):
            try:
                return await call(lambda text=text, mode=mode: put(text, mode))  # type: ignore[misc]
            except Forbidden:
                raise
            except BadRequest as error:
                # An edit goes plain only when the formatting was refused.
                if mode is None or (edit and "can't parse entities" not in error.message.lower()):
                    level = logging.INFO if edit else logging.WARNING
                    log.log(level, "chat %s refused the answer: %s", self._asked.chat_id, error)
                    return None
                log.info("chat %s refused the HTML (%s); plain text", self._asked.chat_id, error)
            except ChatMigrated as error:
                if int(error.new_chat_id) == self._asked.chat_id:
                    return None
                self._moved(int(error.new_chat_id))
                return await self._formatted(self._send, rich, plain, edit=False)
            except NetworkError:
                raise  # Telegram's 5xx or the network, after `call`'s retries: tried again
            except TelegramError as error:
                log.warning("chat %s: the answer was not shown: %s", self._asked.chat_id, error)
                return None
        return None

    def _moved(self, chat_id: int) -> None:
        """The group became the supergroup `chat_id` meanwhile: the answer and its video go
        there (Telegram moves the group's messages along)."""
        log.info("chat %s is now the supergroup %s; answering there", self._asked.chat_id, chat_id)
        self._typed()  # released where it was held
        self._asked = self._answer = replace(self._asked, chat_id=chat_id)
        self._send = partial(reply, self._bot, self._asked)
        self._message = None

    async def _delete(self, message: Message) -> None:
        try:
            await self._bot.delete_message(message.chat_id, message.message_id)
        except TelegramError as error:
            log.debug("chat %s: the streamed message stays (%s)", self._asked.chat_id, error)

    async def _edit(self, message: Message, text: str, mode: str | None) -> Message:
        """Edit `message` to `text`; one that shows it already counts as done."""
        try:
            await self._bot.edit_message_text(
                text, chat_id=message.chat_id, message_id=message.message_id, parse_mode=mode
            )
        except BadRequest as error:
            if "message is not modified" not in error.message.lower():
                raise
        return message
