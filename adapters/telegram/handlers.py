"""What the bot does with each update it receives on Telegram: answers, commands, refusals.

Every update goes through the turn runner in its conversation's order. The ones that ask the
model something (`asked`) become turns; the rest (commands, a chat outside
TELEGRAM_ALLOWED_CHAT_IDS) are dispatched to python-telegram-bot's handlers registered here.
"""

from __future__ import annotations

import logging

from telegram import Bot, Message, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CommandHandler, ContextTypes, MessageHandler, filters

from adapters.telegram.calls import call
from adapters.telegram.convert import PLATFORM, Ask, command_of, message_ask, talk_ask
from adapters.telegram.faces import FacePhotos
from core.commands import ChatCommands, offered
from core.i18n import Catalogs, Line, Lines, shipped_catalogs

log = logging.getLogger(__name__)

# Lines that decline a message, in the bot's own words (the core's failures get a ⚠️).
TOO_BIG = Line("That file is too big for me: Telegram lets bots download up to 20 MB.")
UNSUPPORTED = Line("I understand text and voice messages (and audio files) — try one of those.")
# The same, where VISION_MODEL answers photos.
UNSUPPORTED_WITH_PHOTOS = Line(
    "I understand text, voice messages, audio files and photos — try one of those."
)
OOPS = Line("Something went wrong on my side — please try again.")

Context = ContextTypes.DEFAULT_TYPE


class TelegramHandlers:
    """Tells the updates that ask the model from the others, and carries out the others."""

    def __init__(
        self,
        commands: ChatCommands,
        bot: Bot,
        admins: set[str],
        allowed_chats: list[int] | None = None,
        catalogs: Catalogs | None = None,
    ) -> None:
        self._commands, self._bot, self._admins = commands, bot, admins
        self._catalogs = catalogs or shipped_catalogs()
        # TELEGRAM_ALLOWED_CHAT_IDS: other chats are told once per message in private, else ignored.
        allowed = filters.Chat(chat_id=allowed_chats) if allowed_chats else filters.ALL
        # /talk with something to talk about is `asked`; the rest are the core's commands.
        known = {
            spec.name: CommandHandler(spec.name, self.command, filters=allowed)
            for spec in offered(PLATFORM)
        }
        self._talk = known["talk"]
        self._photos = FacePhotos(bot, allowed)  # /face: a captioned photo, or a reply to one
        self._chatter = allowed & filters.UpdateType.MESSAGE & ~filters.COMMAND
        # In PTB's order: the first whose filters match an update handles it. An unknown
        # command is answered in private only: in a group it may be another bot's.
        private = filters.ChatType.PRIVATE
        self.handlers: list[BaseHandler[Update, Context, None]] = [
            MessageHandler(~allowed & private, self.private_bot),
            MessageHandler(self._photos.captioned, self.captioned),
            *known.values(),
            MessageHandler(allowed & filters.COMMAND & private, self.command),
        ]

    def asked(self, update: Update) -> Ask | None:
        """What the update asks the model (no I/O); None for what `handlers` see to, or ignore.

        In an allowed chat: a message in private; in a group, one that mentions the bot or
        replies to it; and `/talk <text>` (or `/talk` as a reply to a voice note) in either.
        """
        message = update.message
        if message is None or self._photos.takes(update):
            return None
        talk = self._talk.check_update(update)  # the filters PTB would apply, run here
        if isinstance(talk, tuple):
            return talk_ask(message, talk[0] or [])
        if self._chatter.check_update(update):
            return message_ask(message, self._bot.id, self._bot.username)
        return None

    async def command(self, update: Update, _: Context) -> None:
        """A command: carried out by the core, its reply sent as a reply to it."""
        if (message := update.effective_message) is None:
            return
        command = command_of(message, self._admins)
        if command is not None:
            if command.name == "face":
                command = self._photos.with_photo(command, message.reply_to_message)
            reply = await self._commands.handle(command)
            await self._reply(message, reply.text)

    async def captioned(self, update: Update, _: Context) -> None:
        """A photo captioned `/face`: the core's /face with that photo."""
        if (message := update.effective_message) is None:
            return
        command = self._photos.caption_command(message, self._admins)
        if command is not None:
            reply = await self._commands.handle(command)
            await self._reply(message, reply.text)

    async def private_bot(self, update: Update, _: Context) -> None:
        """A chat outside TELEGRAM_ALLOWED_CHAT_IDS."""
        if message := update.effective_message:
            log.info("refused chat %s: not in TELEGRAM_ALLOWED_CHAT_IDS", message.chat_id)
            await self._reply(message, Line("Sorry, this bot is private."))

    def locale(self, message: Message) -> str:
        """The shipped locale closest to the sender's Telegram language (English if none)."""
        user = message.from_user
        return self._catalogs.choose([user.language_code if user else None])

    def lines(self, message: Message) -> Lines:
        """The bot's lines in the sender's language."""
        return self._catalogs.lines(self.locale(message))

    async def _reply(self, message: Message, text: str) -> None:
        text = self.lines(message).say(text)
        try:
            await call(lambda: message.reply_text(text, do_quote=True))
        except TelegramError as error:
            log.info("could not reply in chat %s: %s", message.chat_id, error)
