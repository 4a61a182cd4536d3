"""Telegram as the turn runner sees it: recorded updates back to turns, and where to answer them."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Bot, Message, ReplyParameters, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application

from adapters.telegram.actions import GROUP_INTERVAL, PRIVATE_INTERVAL, ChatActions, Showing
from adapters.telegram.calls import call
from adapters.telegram.convert import (
    DOWNLOAD_LIMIT,
    PLATFORM,
    MediaRef,
    Target,
    conversation_key,
    thread_of,
)
from adapters.telegram.delivery import VideoRefusals
from adapters.telegram.handlers import OOPS, TOO_BIG, UNSUPPORTED, TelegramHandlers
from adapters.telegram.stream import AnswerStream, DraftSupport
from core.groq.audio import MAX_AUDIO_SECONDS, TOO_LONG
from core.turns import NO_VIDEO, Declined, NoVideo, TurnRunner
from core.types import Audio, AvatarJob, ConversationKey, InboxEntry, Turn

log = logging.getLogger(__name__)

# Declines in the bot's own words: a plain reply, where a failure is marked ⚠️.
OWN_WORDS = frozenset({TOO_BIG, TOO_LONG, UNSUPPORTED})


class TelegramPlatform:
    """Turns recorded updates into turns and views; a command is carried out in its turn's place.

    An update is parsed once: the poller's and the webhook's are kept as they arrived until
    the runner is done with them, a replayed one is parsed from its payload.
    """

    name = PLATFORM

    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        runner: TurnRunner,
        handlers: TelegramHandlers,
        actions: ChatActions,
        refusals: VideoRefusals,
    ) -> None:
        self._application, self._bot, self._runner = application, application.bot, runner
        self._handlers, self._actions, self._refusals = handlers, actions, refusals
        self._drafts = DraftSupport()
        self._updates: dict[str, Update] = {}

    async def accept(self, received: Sequence[tuple[Update, str]]) -> None:
        """Record (update, payload) pairs in one statement; the runner answers the new ones.

        Once this returns they are in the inbox: Telegram may be told they arrived.
        """
        batch: list[tuple[str, str]] = []
        for update, payload in received:
            if update.message is not None:  # every update subscribed to has one
                self._updates[str(update.update_id)] = update
                batch.append((str(update.update_id), payload))
        new: set[str] = set()
        try:
            new = set(await self._runner.accept_many(self, batch))
        finally:
            for key, _ in batch:
                if key not in new:  # recorded before (a redelivery), or not at all
                    self._updates.pop(key, None)

    def key(self, entry: InboxEntry) -> ConversationKey:
        """The private chat, group or forum topic of the update's message."""
        return conversation_key(self._message(entry))

    def view(self, entry: InboxEntry) -> TelegramView:
        """A reply to the update's message; "typing…" shows while an answer is on its way."""
        asked = self._handlers.asked(self._update(entry))
        return TelegramView(
            self._bot,
            self._message(entry),
            self._actions,
            self._refusals,
            self._drafts,
            typing=asked is not None,
        )

    async def turn(self, entry: InboxEntry) -> Turn | None:
        """The message's text or downloaded audio; None for a command, carried out by then."""
        update = self._update(entry)
        message = self._message(entry)
        ask = self._handlers.asked(update)
        if ask is None:
            await self._application.process_update(update)  # python-telegram-bot's handlers
            return None
        if ask.media is None and ask.text is None:
            raise Declined(UNSUPPORTED)
        audio = await self._download(ask.media) if ask.media else None
        user = str(message.from_user.id) if message.from_user else ""
        return Turn(conversation_key(message), user, text=ask.text, audio=audio)

    def finished(self, entry: InboxEntry, answered: bool) -> None:
        """Forget the parsed update: answered, or left in the inbox for the next start."""
        self._updates.pop(entry.message_key, None)

    def _update(self, entry: InboxEntry) -> Update:
        update = self._updates.get(entry.message_key)
        if update is None:
            update = Update.de_json(json.loads(entry.payload), self._bot)
            self._updates[entry.message_key] = update
        return update

    def _message(self, entry: InboxEntry) -> Message:
        message = self._update(entry).message
        if message is None:  # `accept` records none such
            raise ValueError(f"Telegram update {entry.message_key} has no message")
        return message

    async def _download(self, media: MediaRef) -> Audio:
        # Decline by the sizes Telegram reports, before anything is downloaded or transcribed.
        if media.file_size is not None and media.file_size > DOWNLOAD_LIMIT:
            raise Declined(TOO_BIG)
        if (media.duration or 0) > MAX_AUDIO_SECONDS:
            raise Declined(TOO_LONG)
        try:
            file = await call(lambda: self._bot.get_file(media.file_id))
            data = await call(file.download_as_bytearray)
        except TelegramError as error:  # refused, or the network after retries
            if isinstance(error, BadRequest) and "too big" in error.message.lower():
                raise Declined(TOO_BIG) from error
            log.warning("downloading a voice note failed: %s", error)
            raise Declined(OOPS) from error
        return Audio(bytes(data), media.mime_type, media.filename)


class TelegramView:
    """The turn runner's view of one Telegram message: an AnswerStream replying to it.

    `typing`: "typing…" shows until the answer (or a line in its place) does. A chat that
    blocked the bot is shown nothing more, and gets no video.
    """

    def __init__(
        self,
        bot: Bot,
        message: Message,
        actions: ChatActions,
        refusals: VideoRefusals,
        drafts: DraftSupport,
        *,
        typing: bool,
    ) -> None:
        self._bot, self._actions, self._refusals = bot, actions, refusals
        self._chat_id, self._thread = message.chat_id, thread_of(message)
        private = message.chat.type == ChatType.PRIVATE
        self._interval = PRIVATE_INTERVAL if private else GROUP_INTERVAL
        self._stream = AnswerStream(
            bot,
            chat_id=self._chat_id,
            thread_id=self._thread,
            reply_to=message.message_id,
            private=private,
            drafts=drafts,
        )
        self._answer_id = message.message_id  # what the video and a notice reply to
        self._typing: Showing | None = None
        if typing:
            self._typing = actions.show(
                self._chat_id, self._thread, ChatAction.TYPING, self._interval
            )
        self._blocked = False

    async def transcript(self, text: str) -> None:
        """Shown as the answer's header."""
        self._stream.transcript = text

    async def partial(self, text: str) -> None:
        """The answer so far, in private chats: a draft, or one message edited once a second."""
        if self._blocked:
            return
        try:
            await self._stream.update(text)
        except Forbidden as error:
            self._gone(error)
        if self._stream.shown_anything:
            self._typed()  # the streaming answer says enough

    async def final(self, text: str) -> str | NoVideo:
        """The answer formatted and split to fit; the video replies to its last message."""
        return await self._show(self._stream.finish, text)

    async def plain(self, text: str) -> str | NoVideo:
        """The answer as plain text, in new messages."""
        return await self._show(self._stream.plain, text)

    async def failure(self, message: str) -> None:
        """One line in place of the answer (after the transcript, if any)."""
        try:
            if not self._blocked:
                await self._stream.fail(message, warning=message not in OWN_WORDS)
        except Forbidden as error:
            self._gone(error)
        finally:
            self._typed()

    async def notice(self, message: str) -> None:
        """Why no video comes, as a reply to the answer."""
        if self._blocked:
            return
        reply = ReplyParameters(self._answer_id, allow_sending_without_reply=True)
        try:
            await call(
                lambda: self._bot.send_message(
                    self._chat_id,
                    f"🎬 {message}",
                    message_thread_id=self._thread,
                    reply_parameters=reply,
                )
            )
        except TelegramError as error:
            log.info("chat %s: the video notice was not sent: %s", self._chat_id, error)

    async def rendering(self, job: AvatarJob) -> None:
        """Show "recording video…" until the delivery sends the video (or says why not)."""
        target = Target.load(job.target)
        self._actions.hold(
            target.chat_id, target.thread_id, ChatAction.RECORD_VIDEO, self._interval
        )

    async def _show(self, send: Callable[[str], Awaitable[int]], text: str) -> str | NoVideo:
        """Send the answer; where its video goes, or NO_VIDEO where none can."""
        if self._blocked:
            return NO_VIDEO
        try:
            self._answer_id = await send(text)
        except Forbidden as error:
            self._gone(error)
            return NO_VIDEO
        finally:
            self._typed()
        if self._refusals.refused_lately(self._chat_id):
            return NO_VIDEO  # the chat's permissions refuse videos, and it was told so
        return Target(self._chat_id, self._answer_id, self._thread).dump()

    def _typed(self) -> None:
        if self._typing is not None:
            self._typing.stop()

    def _gone(self, error: Forbidden) -> None:
        if not self._blocked:
            self._blocked = True
            log.info("chat %s blocked the bot: %s", self._chat_id, error)
