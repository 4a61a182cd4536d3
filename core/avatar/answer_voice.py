"""The language and the voice an answer is said in, chosen as a clip's are.

The language is named from the answer's prose (`SpeechWriter.language`: lingua, then the
script), with the question when the answer alone is too short to tell; the chat's own voice
(`/voice`, kept in the preference store) speaks it over the language's default voice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.avatar.speech import Voices
from core.types import ConversationKey


class Languages(Protocol):
    """Names the language of an answer (`SpeechWriter`)."""

    async def language(self, answer: str, question: str = "") -> str | None:
        """Return the ISO 639-1 code of `answer`'s language (`question` helps), or None."""
        ...


class ChosenVoices(Protocol):
    """The part of `PreferenceStore` that keeps a chat's voice (`/voice`)."""

    async def voice_id(self, key: ConversationKey) -> str | None:
        """Return the voice the chat chose, or None for the language's default."""
        ...


@dataclass(frozen=True, slots=True)
class Voicing:
    """An answer's language (None: unknown) and the voice that says it."""

    language: str | None
    voice: str


class AnswerVoices:
    """Chooses the language and voice of an answer said live."""

    def __init__(self, languages: Languages, voices: Voices, chosen: ChosenVoices) -> None:
        self._languages, self._voices, self._chosen = languages, voices, chosen

    async def choose(self, key: ConversationKey, answer: str, question: str = "") -> Voicing:
        """Return the language of `answer` (so far) and the voice of `key`'s chat for it."""
        language = await self._languages.language(answer, question)
        voice = await self._chosen.voice_id(key) or self._voices.pick(language)
        return Voicing(language, voice)
