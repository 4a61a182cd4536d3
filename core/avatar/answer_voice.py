"""The language and the voice an answer is said in, chosen as a clip's are.

The language is named from the answer's prose (`SpeechWriter.language`: lingua, then the
script), with the question when the answer alone is too short to tell, and the voice is the
language's.
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


@dataclass(frozen=True, slots=True)
class Voicing:
    """An answer's language (None: unknown) and the voice that says it."""

    language: str | None
    voice: str


class AnswerVoices:
    """Chooses the language and voice of an answer said live."""

    def __init__(self, languages: Languages, voices: Voices) -> None:
        self._languages, self._voices = languages, voices

    async def choose(self, key: ConversationKey, answer: str, question: str = "") -> Voicing:
        """Return the language of `answer` (so far) and the voice of `key`'s chat for it."""
        language = await self._languages.language(answer, question)
        return Voicing(language, self._voices.pick(language))
