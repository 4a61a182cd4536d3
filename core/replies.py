"""What follows an answer once it is shown, by the chat's reply mode: a video, a voice note, none.

`/reply video|voice|text` chooses per chat; the mode comes from an injected `reply_mode(key)`
(None: the default, a video when D-ID is configured and the chat's avatar is on, else text).
When a video cannot be made (the video budget is spent, D-ID is paused, out of credits or not
configured) and text-to-speech is, a voice answer goes instead and its caption says why.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from core.conversation import Conversations
from core.i18n import Line
from core.types import AvatarJob, ConversationKey, Notice
from core.voice_answers import INSTEAD, NO_LANGUAGE, NOT_HERE, VoiceAnswers

log = logging.getLogger(__name__)

# The chat's mode, "video", "voice" or "text" (the preference store's `reply_mode`); None:
# never chosen.
ReplyModes = Callable[[ConversationKey], Awaitable[str | None]]
NO_VOICE = Line("Voice answers aren't set up here, so the answer is text only.")
NO_VIDEO_SERVICE = Line("🔊 Avatar videos aren't set up here: here is a voice answer instead.")
PAUSED = Line("🔊 Avatar videos are paused for now: here is a voice answer instead.")
# Why no video came, then that a voice answer comes: no words of its own (not translated).
VIDEO_THEN_VOICE = "🎬 {reason}\n{instead}"
FollowUp = AvatarJob | Notice | None
# What stays true for a conversation's later answers too: told once.
LASTING = frozenset({NO_VOICE, NO_LANGUAGE, NOT_HERE})
MAX_TOLD = 10_000


async def default_reply_mode(key: ConversationKey) -> str | None:
    """No chat has chosen: every chat gets the default."""
    return None


class Replies:
    """Follows each answer shown with what the chat's reply mode asks for."""

    def __init__(
        self,
        conversations: Conversations,
        voice: VoiceAnswers | None,
        reply_mode: ReplyModes = default_reply_mode,
    ) -> None:
        self._conversations, self._voice, self._reply_mode = conversations, voice, reply_mode
        # Conversations told that their voice answers cannot come at all (every answer would
        # say it again otherwise); forgotten at a restart.
        self._told: set[tuple[ConversationKey, str]] = set()

    async def follow(
        self,
        key: ConversationKey,
        text: str,
        target: str,
        user_id: str = "",
        language: str | None = None,
    ) -> FollowUp:
        """Request the video or send the voice answer of an answer shown at `target`.

        Returns the video's job, a `Notice` for the user (why neither comes), or None.
        """
        mode = await self._reply_mode(key) or await self._conversations.reply_mode(key)
        if mode == "text":
            return None
        if mode == "voice":
            if self._voice is None:
                return self._once(key, Notice(NO_VOICE))
            notice = await self._voice.answer(key, user_id, text, language, target)
            return self._once(key, notice) if notice and notice.message in LASTING else notice
        if mode != "video":
            log.warning("unknown reply mode %r in %s: the chat's own applies", mode, key)
            mode = await self._conversations.reply_mode(key)
            if mode != "video":
                return None
        return await self._video(key, text, target, user_id, language)

    def _once(self, key: ConversationKey, notice: Notice) -> Notice | None:
        """Return the notice the first time the conversation gets it, then None."""
        if (key, notice.message) in self._told:
            return None
        if len(self._told) >= MAX_TOLD:
            self._told.clear()
        self._told.add((key, notice.message))
        return notice

    async def _video(
        self,
        key: ConversationKey,
        text: str,
        target: str,
        user_id: str,
        language: str | None,
    ) -> FollowUp:
        conversations, voice = self._conversations, self._voice
        if not conversations.avatar_available:
            if voice is not None and voice.available(key.platform):
                return await voice.answer(key, user_id, text, language, target, NO_VIDEO_SERVICE)
            return None
        paused = conversations.video_paused
        video = await conversations.render_video(key, text, target, user_id, language)
        if voice is None or not voice.available(key.platform):
            return video
        if isinstance(video, Notice):
            note = Line(VIDEO_THEN_VOICE, reason=video.message, instead=INSTEAD)
            sent = await voice.answer(key, user_id, text, language, target, note)
            return video if sent is not None else None
        if video is None and paused and await conversations.avatar_enabled(key):
            # The pause was explained in this conversation already: the voice note is enough.
            await voice.answer(key, user_id, text, language, target, PAUSED)
        return video
