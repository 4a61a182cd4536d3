"""Avatar videos to Telegram: uploaded as MP4 bytes, as a reply to the text answer."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

from telegram import Bot
from telegram.error import BadRequest, ChatMigrated, Forbidden

from adapters.telegram.actions import ChatActions
from adapters.telegram.calls import call, replying, tell
from adapters.telegram.convert import Target
from core.avatar.jobs import PermanentDeliveryError
from core.avatar.speech import video_caption
from core.i18n import Catalogs, Line, shipped_catalogs
from core.types import AvatarFailed, VideoReady, VoiceNote

log = logging.getLogger(__name__)

# Bots upload at most 50 MB to api.telegram.org (a self-hosted Bot API server allows 2000 MB).
UPLOAD_LIMIT = 50 * 1024 * 1024
# A video upload takes longer than PTB's 20-second default write timeout allows.
UPLOAD_TIMEOUT = 180.0
# Telegram's answer when a group's permissions deny the bot media: "Bad Request: not enough
# rights to send videos to the chat".
NO_RIGHTS = "not enough rights to send"
# A forum topic closed ("Bad Request: TOPIC_CLOSED") or deleted since the answer went there.
TOPIC_GONE = ("topic_closed", "message thread not found")
NO_VIDEOS = Line(
    "I can't send videos in this chat: its permissions don't allow me to "
    "(an admin can change that, or /avatar off stops them)."
)
NO_VOICE_NOTES = Line(
    "🔊 I can't send voice notes in this chat: its permissions don't allow me to "
    "(an admin can change that, or /reply text stops them)."
)
# Telegram's answer when the user's privacy settings refuse voice notes from others.
VOICE_FORBIDDEN = "voice_messages_forbidden"
VOICE_REFUSED = Line("🔊 Your privacy settings don't let me send you voice notes.")
# A chat that refused a video is told once in this long, and gets no renders meanwhile.
REFUSAL_SECONDS = 3600.0


class VideoRefusals:
    """Chats whose permissions refused a video lately."""

    def __init__(self, seconds: float = REFUSAL_SECONDS) -> None:
        self._seconds = seconds
        self._told: dict[int, float] = {}  # chat id -> monotonic time it was told

    def refused_lately(self, chat_id: int) -> bool:
        """Whether the chat refused a video (and was told) less than `seconds` ago."""
        told = self._told.get(chat_id)
        return told is not None and time.monotonic() - told < self._seconds

    def note(self, chat_id: int) -> bool:
        """Note a refusal; True when the chat is to be told (once per `seconds`)."""
        if self.refused_lately(chat_id):
            return False
        self._told[chat_id] = time.monotonic()
        return True


class TelegramDelivery:
    """Sends finished renders to the chat the answer went to."""

    def __init__(
        self,
        bot: Bot,
        actions: ChatActions,
        upload_limit: int = UPLOAD_LIMIT,
        catalogs: Catalogs | None = None,
    ) -> None:
        self._bot, self._actions, self._upload_limit = bot, actions, upload_limit
        self._catalogs = catalogs or shipped_catalogs()
        self.refusals = VideoRefusals()
        self.voice_refusals = VideoRefusals()

    async def deliver_video(self, ready: VideoReady) -> None:
        """Upload the MP4 (D-ID's URL expires, so Telegram never fetches it itself)."""
        target = Target.load(ready.job.target)
        self._actions.release(target.chat_id, target.thread_id, "record_video")
        size = (await asyncio.to_thread(ready.path.stat)).st_size
        if size > self._upload_limit:
            # TELEGRAM_UPLOAD_LIMIT_MB may be 0.5; the line's number format drops a ".0".
            limit = round(self._upload_limit / (1024 * 1024), 1)
            over = Line("The avatar video is over Telegram's {limit} MB limit, sorry.", limit=limit)
            await tell(self._bot, target, self._say(target, over))
            return
        video, caption = await asyncio.to_thread(ready.path.read_bytes), video_caption(ready.job)

        async def send(to: Target) -> None:
            await call(
                lambda: self._bot.send_video(
                    to.chat_id,
                    video,
                    filename=f"avatar-{ready.job.id}.mp4",
                    caption=caption and self._say(to, caption),
                    supports_streaming=True,
                    message_thread_id=to.thread_id,
                    reply_parameters=replying(to),
                    write_timeout=UPLOAD_TIMEOUT,
                    read_timeout=UPLOAD_TIMEOUT,
                )
            )

        try:
            try:
                await send(target)
            except ChatMigrated as error:  # the group became a supergroup while it rendered
                target = replace(target, chat_id=int(error.new_chat_id))
                await send(target)
        except Forbidden as error:
            raise PermanentDeliveryError(str(error)) from error
        except BadRequest as error:
            reason = error.message.lower()
            if NO_RIGHTS in reason and self.refusals.note(target.chat_id):
                await tell(self._bot, target, f"🎬 {self._say(target, NO_VIDEOS)}")
            if NO_RIGHTS in reason or "chat not found" in reason or reason.endswith(TOPIC_GONE):
                raise PermanentDeliveryError(str(error)) from error
            raise

    async def deliver_failure(self, failed: AvatarFailed) -> None:
        """Say in one line why no video is coming."""
        target = Target.load(failed.job.target)
        self._actions.release(target.chat_id, target.thread_id, "record_video")
        await tell(self._bot, target, f"🎬 {self._say(target, failed.message)}")

    async def deliver_voice(self, note: VoiceNote) -> None:
        """Send a voice answer as a reply to its text answer."""
        await send_voice_note(self._bot, note, self.voice_refusals, self._catalogs)

    def _say(self, target: Target, line: str) -> str:
        """A line in the locale the answer was given in."""
        return self._catalogs.lines(target.locale).say(line)


async def send_voice_note(
    bot: Bot, note: VoiceNote, refusals: VideoRefusals, catalogs: Catalogs
) -> None:
    """Upload the OGG/Opus voice note as a reply to the answer (Bot API `sendVoice`).

    A chat whose permissions or whose user refuse voice notes is told once per
    `REFUSAL_SECONDS`, and the note is dropped (`PermanentDeliveryError`). The caption and
    that line are said in the locale the answer was given in.
    """
    target = Target.load(note.target)
    lines = catalogs.lines(target.locale)
    voice = await asyncio.to_thread(note.path.read_bytes)
    try:
        await call(
            lambda: bot.send_voice(
                target.chat_id,
                voice,
                filename="answer.ogg",
                caption=note.caption and lines.say(note.caption),
                duration=max(1, round(note.seconds)),
                message_thread_id=target.thread_id,
                reply_parameters=replying(target),
                write_timeout=UPLOAD_TIMEOUT,
                read_timeout=UPLOAD_TIMEOUT,
            )
        )
    except Forbidden as error:
        raise PermanentDeliveryError(str(error)) from error
    except BadRequest as error:
        reason = error.message.lower()
        line = NO_VOICE_NOTES if NO_RIGHTS in reason else VOICE_REFUSED
        if NO_RIGHTS in reason or VOICE_FORBIDDEN in reason:
            if refusals.note(target.chat_id):
                await tell(bot, target, lines.say(line))
            raise PermanentDeliveryError(str(error)) from error
        raise
