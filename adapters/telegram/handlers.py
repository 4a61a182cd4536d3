"""What the bot does with each message and command it receives on Telegram."""

from __future__ import annotations

import logging
from contextlib import aclosing

from telegram import Bot, Message, ReplyParameters, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ContextTypes

from adapters.telegram.actions import GROUP_INTERVAL, PRIVATE_INTERVAL, ChatActions, Showing
from adapters.telegram.calls import call
from adapters.telegram.convert import (
    DOWNLOAD_LIMIT,
    MediaRef,
    Target,
    conversation_key,
    media_of,
    mentions_bot,
    replies_to_bot,
    strip_mention,
    thread_of,
)
from adapters.telegram.delivery import VideoRefusals
from adapters.telegram.stream import AnswerStream, DraftSupport
from core.conversation import Conversations, KeyedLocks
from core.groq.audio import MAX_AUDIO_SECONDS, TOO_LONG
from core.types import Audio, Failure, FinalText, Notice, TextDelta, Transcript, Turn

log = logging.getLogger(__name__)

GREETING = (
    "Hi! I'm a talking avatar. Send me a message or a voice note: I answer in text right away "
    "and then send a short video of me saying it.\n\n/help lists what I understand."
)
HELP = (
    "Send text or a voice note (audio files and round videos work too).\n"
    "In groups, mention me, reply to me, or use /talk <text>.\n\n"
    "/reset — forget our conversation\n"
    "/avatar on|off — videos with my answers\n"
    "/talk <text> — talk to me (also as a reply to a voice note)"
)
TOO_BIG = "That file is too big for me: Telegram lets bots download up to 20 MB."
UNSUPPORTED = "I understand text and voice messages (and audio files) — try one of those."
OOPS = "Something went wrong on my side — please try again."

Context = ContextTypes.DEFAULT_TYPE


class _Declined(Exception):
    """The message cannot be answered; the text says why, in one line."""


class TelegramHandlers:
    """Turns updates into core turns and shows the answers."""

    def __init__(
        self,
        conversations: Conversations,
        bot: Bot,
        actions: ChatActions,
        admins: set[str],
        refusals: VideoRefusals | None = None,
    ) -> None:
        self._conversations, self._bot, self._actions = conversations, bot, actions
        self._admins = admins
        self._refusals = refusals or VideoRefusals()
        self._locks = KeyedLocks()
        self._drafts = DraftSupport()

    async def start(self, update: Update, _: Context) -> None:
        """/start: greet and say what the bot does."""
        if update.effective_message:
            await self._reply(update.effective_message, GREETING)

    async def help(self, update: Update, _: Context) -> None:
        """/help: the command list."""
        if update.effective_message:
            await self._reply(update.effective_message, HELP)

    async def reset(self, update: Update, _: Context) -> None:
        """/reset: forget this conversation (this topic, in a forum)."""
        if message := update.effective_message:
            key = conversation_key(message)
            async with self._locks.hold(key):
                await self._conversations.reset(key)
                await self._reply(message, "Done — I've forgotten our conversation.")

    async def avatar(self, update: Update, context: Context) -> None:
        """/avatar on|off: switch videos for this chat."""
        message = update.effective_message
        if message is None:
            return
        choice = (context.args or [""])[0].lower()
        if choice not in ("on", "off"):
            await self._reply(message, "Use /avatar on or /avatar off.")
        elif not self._conversations.avatar_available:
            await self._reply(message, "Avatar videos aren't set up on this bot.")
        else:
            key = conversation_key(message)
            async with self._locks.hold(key):
                await self._conversations.set_avatar(key, choice == "on")
                await self._reply(message, f"Avatar videos are {choice} for this chat.")

    async def talk(self, update: Update, context: Context) -> None:
        """/talk <text>, or /talk as a reply to a voice note."""
        message = update.effective_message
        if message is None:
            return
        text = " ".join(context.args or []).strip() or None
        replied = message.reply_to_message
        media = media_of(replied) if replied else None
        if text is None and media is None:
            await self._reply(message, "Use /talk <text>, or reply /talk to a voice note.")
            return
        await self.answer(message, text if media is None else None, media)

    async def stats(self, update: Update, _: Context) -> None:
        """/stats: today's usage, for ADMIN_USER_IDS only."""
        message = update.effective_message
        if message is None:
            return
        user = message.from_user
        if user is None or str(user.id) not in self._admins:
            await self._reply(message, "Only the bot's admins can use /stats.")
            return
        await self._reply(message, await self._conversations.stats())

    async def private_bot(self, update: Update, _: Context) -> None:
        """A chat outside TELEGRAM_ALLOWED_CHAT_IDS."""
        if message := update.effective_message:
            log.info("refused chat %s: not in TELEGRAM_ALLOWED_CHAT_IDS", message.chat_id)
            await self._reply(message, "Sorry, this bot is private.")

    async def unknown_command(self, update: Update, _: Context) -> None:
        """Commands the bot does not know, in private chats."""
        message = update.effective_message
        if message and message.chat.type == ChatType.PRIVATE:
            await self._reply(message, "I don't know that command. /help lists what I understand.")

    async def message(self, update: Update, _: Context) -> None:
        """Any other message: answered in private chats, and in groups when addressed."""
        message = update.effective_message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return
        private = message.chat.type == ChatType.PRIVATE
        text = message.text or message.caption
        if not private:
            bot_id, username = self._bot.id, self._bot.username
            if not (mentions_bot(message, bot_id, username) or replies_to_bot(message, bot_id)):
                return
            text = strip_mention(text, username) if text else text
        media = media_of(message)
        # A bare @mention is a text message too: the core answers it with a hint.
        if media is None and not text and message.text is None:
            async with self._locks.hold(conversation_key(message)):
                await self._reply(message, UNSUPPORTED)
            return
        await self.answer(message, None if media else text, media)

    async def answer(self, message: Message, text: str | None, media: MediaRef | None) -> None:
        """Answer one message; messages of one chat or topic are answered in order."""
        key = conversation_key(message)
        thread = thread_of(message)
        private = message.chat.type == ChatType.PRIVATE
        interval = PRIVATE_INTERVAL if private else GROUP_INTERVAL
        stream = AnswerStream(
            self._bot,
            chat_id=message.chat_id,
            thread_id=thread,
            reply_to=message.message_id,
            private=private,
            drafts=self._drafts,
        )
        async with self._locks.hold(key):
            try:
                async with self._actions.showing(
                    message.chat_id, thread, ChatAction.TYPING, interval
                ) as typing:
                    await self._answer(message, text, media, stream, typing)
            except Forbidden as error:
                log.info("chat %s blocked the bot: %s", message.chat_id, error)
            except _Declined as reason:
                await self._reply(message, str(reason))
            except Exception:
                log.exception("answering in chat %s failed", message.chat_id)
                if not stream.finished:  # an answer already shown is not followed by an apology
                    await self._reply(message, OOPS)

    async def _answer(
        self,
        message: Message,
        text: str | None,
        media: MediaRef | None,
        stream: AnswerStream,
        typing: Showing,
    ) -> None:
        key, thread = conversation_key(message), thread_of(message)
        user = str(message.from_user.id) if message.from_user else ""
        audio = await self._download(media) if media else None
        turn = Turn(key, user, text=text, audio=audio)
        private = message.chat.type == ChatType.PRIVATE
        async with aclosing(self._conversations.handle(turn)) as events:
            async for event in events:
                if isinstance(event, Transcript):
                    stream.transcript = event.text
                elif isinstance(event, TextDelta):
                    await stream.update(event.text)
                    if stream.shown_anything:
                        typing.stop()  # the streaming answer says enough
                elif isinstance(event, FinalText):
                    answer_id = await stream.finish(event.text)
                    target = Target(message.chat_id, answer_id, thread)
                    await self._render(turn, event, target, private)
                elif isinstance(event, Failure):
                    await stream.fail(event.message)

    async def _render(self, turn: Turn, answer: FinalText, target: Target, private: bool) -> None:
        if self._refusals.refused_lately(target.chat_id):
            return  # the chat's permissions refuse videos, and it was told so
        job = await self._conversations.render_avatar(
            turn.key, answer.text, target.dump(), turn.user_id, answer.language
        )
        if isinstance(job, Notice):
            reply = ReplyParameters(target.message_id, allow_sending_without_reply=True)
            try:
                await call(
                    lambda: self._bot.send_message(
                        target.chat_id,
                        f"🎬 {job.message}",
                        message_thread_id=target.thread_id,
                        reply_parameters=reply,
                    )
                )
            except TelegramError as error:
                log.info("chat %s: the video notice was not sent: %s", target.chat_id, error)
        elif job is not None:
            interval = PRIVATE_INTERVAL if private else GROUP_INTERVAL
            self._actions.hold(target.chat_id, target.thread_id, ChatAction.RECORD_VIDEO, interval)

    async def _download(self, media: MediaRef) -> Audio:
        # Decline by the sizes Telegram reports, before anything is downloaded or transcribed.
        if media.file_size is not None and media.file_size > DOWNLOAD_LIMIT:
            raise _Declined(TOO_BIG)
        if (media.duration or 0) > MAX_AUDIO_SECONDS:
            raise _Declined(TOO_LONG)
        try:
            file = await call(lambda: self._bot.get_file(media.file_id))
            data = await call(file.download_as_bytearray)
        except BadRequest as error:
            if "too big" in error.message.lower():
                raise _Declined(TOO_BIG) from error
            raise
        return Audio(bytes(data), media.mime_type, media.filename)

    async def _reply(self, message: Message, text: str) -> None:
        try:
            await call(lambda: message.reply_text(text, do_quote=True))
        except TelegramError as error:
            log.info("could not reply in chat %s: %s", message.chat_id, error)
