"""What the avatar says and in which voice: the spoken script of an answer, capped, voiced."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal, Protocol

from core.avatar.phrases import normalise_language, script_language
from core.avatar.script import SpokenScript, prose, says_something, spoken_script
from core.avatar.summary import summarize
from core.errors import UserFacingError
from core.i18n import Line
from core.ports import ChatModel
from core.types import AvatarJob, ScriptKind

log = logging.getLogger(__name__)

ScriptMode = Literal["trim", "summary"]
# A long answer's script takes up to ~20 ms of CPU (bench `speech`): off the event loop, where
# every other conversation would wait for it.
IN_THREAD_CHARS = 2000


class Detector(Protocol):
    """Names the language a text is written in."""

    async def detect(self, text: str) -> str | None:
        """Return the ISO 639-1 code of `text`'s language, or None when unsure."""
        ...


class Voices(Protocol):
    """Chooses the voice that speaks a language."""

    def pick(self, language: str | None) -> str:
        """Return the voice id for `language` (a fallback voice when None or unknown)."""
        ...


@dataclass(frozen=True, slots=True)
class Speech:
    """A script ready for the avatar: its text, estimated seconds, voice and language.

    `truncated` means the answer was longer than the cap: the video says its start, or the
    model's summary when `kind` says so, and the whole answer is in the text the user has.
    """

    text: str
    seconds: float
    truncated: bool
    voice_id: str | None  # None: the renderer's default voice
    language: str | None
    kind: ScriptKind = "start"


class SpeechWriter:
    """Turns a final answer into the avatar's speech (`AVATAR_SCRIPT`, `AVATAR_MAX_SECONDS`)."""

    def __init__(
        self,
        *,
        max_seconds: float = 45.0,
        mode: ScriptMode = "trim",
        voices: Voices | None = None,
        detector: Detector | None = None,
        model: ChatModel | None = None,
    ) -> None:
        self._max_seconds, self._mode = max_seconds, mode
        self._voices, self._detector, self._model = voices, detector, model

    async def write(self, answer: str, language: str | None = None, question: str = "") -> Speech:
        """Write the speech for `answer`; `language`: the one Whisper heard in a voice turn.

        `question`, the message answered, tells the language when the answer is too short to.
        """
        if language is None:
            language = await self.language(answer, question)
        script = await _script(answer, self._max_seconds, language)
        text, seconds = script.text, script.seconds
        kind: ScriptKind = "start"
        if script.truncated and self._mode == "summary" and self._model is not None:
            summary = await self._summary(answer, language)
            if summary is not None:
                (text, seconds), kind = summary, "summary"
        voice = self._voices.pick(language) if self._voices is not None else None
        return Speech(text, seconds, script.truncated, voice, language, kind)

    async def language(self, answer: str, question: str = "") -> str | None:
        """Name the language of `answer`; `question` tells it when the answer is too short to."""
        language = await self._language(answer)
        if language is None and question:
            language = await self._language(f"{answer}\n{question}")
        return language

    async def _language(self, answer: str) -> str | None:
        """Name the language of the answer's prose: code, mostly English keywords, is left out.

        When the detector is unsure (a short line before a code block), a script that only a
        few languages write (Cyrillic, Arabic, Devanagari, kana, Han, Hangul) still names one.
        """
        words = prose(answer)
        detected = await self._detector.detect(words) if self._detector is not None else None
        return detected or script_language(words)

    async def _summary(self, answer: str, language: str | None) -> tuple[str, float] | None:
        """Return the model's spoken version, capped like any script; None when it is no good.

        No good: empty, nothing but code, links or emoji (the video would only point to the
        chat), or in another language than the answer's (its voice would read it).
        """
        assert self._model is not None
        try:
            written = await summarize(
                self._model, answer, max_seconds=self._max_seconds, language=language
            )
        except UserFacingError as exc:
            log.info("no spoken summary, the avatar says the start instead: %s", exc.detail)
            return None
        if not says_something(written, language):
            log.info("the spoken summary has nothing to say aloud: the avatar says the start")
            return None
        said = await self._language(written)
        if language is not None and said is not None and said != normalise_language(language):
            log.info(
                "the spoken summary is in %s, not %s: the avatar says the start", said, language
            )
            return None
        script = await _script(written, self._max_seconds, language)
        return script.text, script.seconds


def video_caption(job: AvatarJob) -> str | None:
    """Return the line that goes with a video: none, or what it says and that all is above.

    The video is a reply to the answer, so its message never repeats the answer.
    """
    if not job.truncated:
        return None
    if job.script_kind == "summary":
        return Line("🎬 The video sums up the answer: the whole of it is in the text above.")
    return Line("🎬 The video says the start: the rest of the answer is in the text above.")


async def _script(text: str, max_seconds: float, language: str | None) -> SpokenScript:
    if len(text) < IN_THREAD_CHARS:
        return spoken_script(text, max_seconds, language)
    return await asyncio.to_thread(spoken_script, text, max_seconds, language)
