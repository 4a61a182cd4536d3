"""Voice answers: an answer's spoken script read by text-to-speech and sent as a voice note.

Made inline, after the text answer is shown and inside its turn: reading a capped script takes
Groq a few seconds (about 100 characters a second, a few requests of at most 200 characters),
about as long as the answer itself took. The turn's inbox row is marked answered once the text
is shown, before the note is read: a crash in between costs the voice note, never a second
answer. (Videos are durable jobs because D-ID takes tens of seconds to minutes.)

Each voice answer counts against the user's and everyone's daily limit (`TTS_DAILY_LIMIT_*`):
reserved before Groq is asked, given back when none could be sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.avatar.jobs import PermanentDeliveryError
from core.avatar.speech import Speech, SpeechWriter
from core.errors import ConfigurationError, UserFacingError
from core.i18n import Line, joined
from core.limits import EVERYONE, Charge, Clock, month_period, user_scope, utc_now
from core.ports import Counters, Speaker, VoiceDelivery
from core.storage.files import write_atomically
from core.types import AvatarJob, ConversationKey, Notice, VoiceAudio, VoiceNote
from core.usage import VOICE_ANSWERS

log = logging.getLogger(__name__)

VOICE_FOLDER = "voice"  # under the media folder: <conversation digest>-<id>.ogg
INSTEAD = Line("🔊 Here is a voice answer instead.")
SAYS_THE_START = Line(
    "🔊 The voice note says the start: the rest of the answer is in the text above."
)
SUMS_UP = Line("🔊 The voice note sums up the answer: the whole of it is in the text above.")
NOT_HERE = Line("I can't send voice answers here.")
CHECK_WORD = "Ready."  # read aloud by `avatarbot check` and the start-up check (not a user's)
NO_LANGUAGE = Line(
    "I can't speak this language in voice answers yet — the answer is in the text above."
)


def _what_it_says(speech: Speech) -> str | None:
    """Return the caption line of a voice note that cut the answer, else None."""
    if not speech.truncated:
        return None
    return SUMS_UP if speech.kind == "summary" else SAYS_THE_START


def note_prefix(key: ConversationKey) -> str:
    """Return how a conversation's voice-note file names start (no chat id in a path)."""
    return hashlib.sha256(str(key).encode()).hexdigest()[:16]


def note_path(media_dir: Path, key: ConversationKey, note_id: str) -> Path:
    """Return where the voice note `note_id` of the conversation is kept."""
    return media_dir / VOICE_FOLDER / f"{note_prefix(key)}-{note_id}.ogg"


@dataclass(frozen=True, slots=True)
class VoiceLimits:
    """Voice answers per UTC day, per user and for everyone; None: no limit."""

    per_user: int | None = None
    total: int | None = None


class VoiceAnswers:
    """Reads scripts aloud and delivers them to the platforms that take voice notes."""

    def __init__(
        self,
        speaker: Speaker,
        writer: SpeechWriter,
        counters: Counters,
        media_dir: Path,
        *,
        limits: VoiceLimits | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._speaker, self._writer, self._counters = speaker, writer, counters
        self._media_dir, self._limits, self._clock = media_dir, limits or VoiceLimits(), clock
        self._deliveries: dict[str, VoiceDelivery] = {}

    def start(self, deliveries: Mapping[str, object]) -> None:
        """Deliver through the platforms' deliveries that take voice notes."""
        self._deliveries = {
            platform: delivery
            for platform, delivery in deliveries.items()
            if isinstance(delivery, VoiceDelivery)
        }

    async def check(self) -> str:
        """Read one word aloud (a check of the key, model, voice and terms); say how it went."""
        audio = await self._speaker.speak(CHECK_WORD)
        return f"text to speech answers ({audio.seconds:.1f} s of speech for one word)"

    def available(self, platform: str) -> bool:
        """Whether voice notes can be sent on `platform`."""
        return platform in self._deliveries

    async def answer(
        self,
        key: ConversationKey,
        user_id: str,
        text: str,
        language: str | None,
        target: str,
        note: str | None = None,
    ) -> Notice | None:
        """Send the voice answer of `text` as a reply to `target`, with `note` as its caption.

        The script is the avatar's (speech-ready, capped); None when the voice note was sent
        (or there was nothing to read), else a `Notice` saying in one line why none comes.
        """
        if not self.available(key.platform):
            return Notice(NOT_HERE)
        speech = await self._writer.write(text, language)
        if not speech.text:
            return None
        caption = joined(note, _what_it_says(speech))
        return await self.say(
            key, user_scope(key, user_id), speech.text, speech.language, target, caption
        )

    async def instead_of_video(self, job: AvatarJob, reason: str) -> bool:
        """Send a voice answer of a render D-ID could not make; True when it went out.

        The user was told `reason` already. The job holds the video's script, and its D-ID
        voice names the language (`es-ES-…`).
        """
        if not self.available(job.key.platform):
            return False
        language = job.voice_id.split("-")[0].lower() if job.voice_id else None
        scope = job.reserved_scope or user_scope(job.key, "")
        log.info("avatar job %s: a voice answer instead (%s)", job.id, reason)
        return await self.say(job.key, scope, job.text, language, job.target, INSTEAD) is None

    async def say(
        self,
        key: ConversationKey,
        scope: str,
        script: str,
        language: str | None,
        target: str,
        caption: str | None = None,
    ) -> Notice | None:
        """Read `script` aloud and send it; None when sent, else a `Notice` saying why not."""
        delivery = self._deliveries.get(key.platform)
        if delivery is None:
            return Notice(NOT_HERE)
        if not self._speaker.speaks(language):
            return Notice(NO_LANGUAGE)
        day = self._clock().strftime("%Y-%m-%d")
        refusal = await self._reserve(day, scope)
        if refusal is not None:
            return Notice(refusal)
        try:
            audio = await self._speaker.speak(script, language)
            path = await self._save(key, audio)
            await delivery.deliver_voice(VoiceNote(key, target, path, audio.seconds, caption))
        except PermanentDeliveryError as exc:
            await self._give_back(day, scope)
            log.info("voice answer in %s dropped: %s", key, exc)
            return None
        except UserFacingError as exc:
            await self._give_back(day, scope)
            level = logging.WARNING if isinstance(exc, ConfigurationError) else logging.INFO
            log.log(level, "no voice answer in %s: %s", key, exc.detail)
            return Notice(exc.message)
        except BaseException:  # a crash, or a stop cancelling the turn: it is not sent
            await self._give_back(day, scope)
            raise
        log.info("voice answer of %.1f s sent in %s", audio.seconds, key)
        return None

    def _charges(self, day: str, scope: str, sign: int = 1) -> list[Charge]:
        limits = self._limits
        return [
            Charge(day, scope, VOICE_ANSWERS, sign, limits.per_user if sign > 0 else None),
            Charge(day, EVERYONE, VOICE_ANSWERS, sign, limits.total if sign > 0 else None),
            Charge(month_period(day), scope, VOICE_ANSWERS, sign),  # /usage's month
        ]

    async def _reserve(self, day: str, scope: str) -> str | None:
        refused = await self._counters.add_within(self._charges(day, scope))
        if refused is None:
            return None
        if refused == 0:
            reason = Line(
                "your {count} voice answers for today are used up",
                count=self._limits.per_user or 0,
            )
        else:
            reason = Line("today's voice answers are all used")
        return Line(
            "No voice answer this time: {reason}; they reset in {time}.",
            reason=reason,
            time=self._resets_in(),
        )

    async def _give_back(self, day: str, scope: str) -> None:
        try:
            await self._counters.add_within(self._charges(day, scope, sign=-1))
        except Exception:
            log.exception("could not give a voice answer back to %s", scope)

    def _resets_in(self) -> str:
        now = self._clock()
        left = 24 * 60 - (now.hour * 60 + now.minute + now.second / 60)
        hours, minutes = divmod(max(1, math.ceil(left)), 60)
        if hours:
            return Line("{hours} h {minutes} min", hours=hours, minutes=minutes)
        return Line("{minutes} min", minutes=minutes)

    async def _save(self, key: ConversationKey, audio: VoiceAudio) -> Path:
        path = note_path(self._media_dir, key, uuid.uuid4().hex)
        await asyncio.to_thread(write_atomically, path, audio.data)
        return path
