"""What the bot does with each update it receives on Telegram: answers, commands, refusals.

Every update goes through the turn runner in its conversation's order. The ones that ask the
model something (`asked`) become turns; the rest (commands, a chat outside
TELEGRAM_ALLOWED_CHAT_IDS) are dispatched to python-telegram-bot's handlers registered here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Bot, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CommandHandler, ContextTypes, MessageHandler, filters

from adapters.telegram.calls import call
from adapters.telegram.convert import Ask, conversation_key, message_ask, talk_ask
from core.conversation import Conversations
from core.i18n import Catalogs, Line, Lines, shipped_catalogs

log = logging.getLogger(__name__)

GREETING = Line(
    "Hi! I'm a talking avatar. Send me a message or a voice note: I answer in text right away "
    "and then send a short video of me saying it.\n\n/help lists what I understand."
)
HELP = Line(
    "Send text or a voice note (audio files and round videos work too).\n"
    "In groups, mention me, reply to me, or use /talk <text>.\n\n"
    "/reset — forget our conversation\n"
    "/avatar on|off — videos with my answers\n"
    "/talk <text> — talk to me (also as a reply to a voice note)"
)
# Lines that decline a message, in the bot's own words (the core's failures get a ⚠️).
TOO_BIG = Line("That file is too big for me: Telegram lets bots download up to 20 MB.")
UNSUPPORTED = Line("I understand text and voice messages (and audio files) — try one of those.")
OOPS = Line("Something went wrong on my side — please try again.")

ON = Line("Avatar videos are on for this chat.")
OFF = Line("Avatar videos are off for this chat.")

Context = ContextTypes.DEFAULT_TYPE


class TelegramHandlers:
    """Tells the updates that ask the model from the others, and carries out the others."""

    def __init__(
        self,
        conversations: Conversations,
        bot: Bot,
        admins: set[str],
        allowed_chats: list[int] | None = None,
        catalogs: Catalogs | None = None,
    ) -> None:
        self._conversations, self._bot, self._admins = conversations, bot, admins
        self._catalogs = catalogs or shipped_catalogs()
        # TELEGRAM_ALLOWED_CHAT_IDS: other chats are told once per message in private, else ignored.
        allowed = filters.Chat(chat_id=allowed_chats) if allowed_chats else filters.ALL
        commands = {
            name: CommandHandler(name, callback, filters=allowed)
            for name, callback in (
                ("start", self._says(GREETING)),  # what the bot does
                ("help", self._says(HELP)),
                ("reset", self.reset),
                ("avatar", self.avatar),
                # /talk with nothing to talk about (one that has something is `asked`)
                ("talk", self._says(Line("Use /talk <text>, or reply /talk to a voice note."))),
                ("stats", self.stats),
            )
        }
        self._talk = commands["talk"]
        self._chatter = allowed & filters.UpdateType.MESSAGE & ~filters.COMMAND
        # In PTB's order: the first whose filters match an update handles it.
        self.handlers: list[BaseHandler[Update, Context, None]] = [
            MessageHandler(~allowed & filters.ChatType.PRIVATE, self.private_bot),
            *commands.values(),
            MessageHandler(allowed & filters.COMMAND, self.unknown_command),
        ]

    def asked(self, update: Update) -> Ask | None:
        """What the update asks the model (no I/O); None for what `handlers` see to, or ignore.

        In an allowed chat: a message in private; in a group, one that mentions the bot or
        replies to it; and `/talk <text>` (or `/talk` as a reply to a voice note) in either.
        """
        message = update.message
        if message is None:
            return None
        talk = self._talk.check_update(update)  # the filters PTB would apply, run here
        if isinstance(talk, tuple):
            return talk_ask(message, talk[0] or [])
        if self._chatter.check_update(update):
            return message_ask(message, self._bot.id, self._bot.username)
        return None

    async def reset(self, update: Update, _: Context) -> None:
        """/reset: forget this conversation (this topic, in a forum)."""
        if message := update.effective_message:
            await self._conversations.reset(conversation_key(message))
            await self._reply(message, Line("Done — I've forgotten our conversation."))

    async def avatar(self, update: Update, context: Context) -> None:
        """/avatar on|off: switch videos for this chat."""
        if (message := update.effective_message) is None:
            return
        choice = (context.args or [""])[0].lower()
        if choice not in ("on", "off"):
            await self._reply(message, Line("Use /avatar on or /avatar off."))
        elif not self._conversations.avatar_available:
            await self._reply(message, Line("Avatar videos aren't set up on this bot."))
        else:
            await self._conversations.set_avatar(conversation_key(message), choice == "on")
            switched = ON if choice == "on" else OFF
            await self._reply(message, switched)

    async def stats(self, update: Update, _: Context) -> None:
        """/stats: today's usage, for ADMIN_USER_IDS only."""
        if (message := update.effective_message) is None:
            return
        user = message.from_user
        if user is None or str(user.id) not in self._admins:
            await self._reply(message, Line("Only the bot's admins can use /stats."))
            return
        await self._reply(message, await self._conversations.stats())

    async def private_bot(self, update: Update, _: Context) -> None:
        """A chat outside TELEGRAM_ALLOWED_CHAT_IDS."""
        if message := update.effective_message:
            log.info("refused chat %s: not in TELEGRAM_ALLOWED_CHAT_IDS", message.chat_id)
            await self._reply(message, Line("Sorry, this bot is private."))

    async def unknown_command(self, update: Update, _: Context) -> None:
        """Commands the bot does not know, in private chats."""
        message = update.effective_message
        if message and message.chat.type == ChatType.PRIVATE:
            unknown = Line("I don't know that command. /help lists what I understand.")
            await self._reply(message, unknown)

    def _says(self, text: str) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
        """A command that answers with `text`."""

        async def say(update: Update, _: Context) -> None:
            if message := update.effective_message:
                await self._reply(message, text)

        return say

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
