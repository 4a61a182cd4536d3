"""The language a text is written in, by lingua, among the languages the avatar has voices for.

Memory of the loaded detector (lingua 2.1.1, models preloaded, RSS growth on x86-64 Linux):

| languages                 | high accuracy          | low accuracy          |
|---------------------------|------------------------|-----------------------|
| all 75                    | +1247 MiB (6.2 s load) | +83 MiB (0.24 s)      |
| our 15 voice languages    | +324 MiB (1.2 s load)  | +23 MiB (0.06 s)      |

(High accuracy loaded lazily, as lingua does by default, still took +254 MiB for one Spanish
text.) The whole bot runs in about 100 MiB, so this is low accuracy, limited to the voices'
languages: 9 ms to detect a sentence. Low accuracy is weak under about 120 characters, as lingua
documents ("Hola, soy Ava." came out Turkish at 0.97) but named every one of our 45-character
test answers right, hence the minimum length and the confidence threshold.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # lingua is imported when the first text is detected: ~10 MiB until then
    from lingua import IsoCode639_1
    from lingua import LanguageDetector as LinguaDetector

log = logging.getLogger(__name__)

# Texts with fewer letters get None. Counted in UTF-8 bytes, so that a CJK character (3 bytes)
# weighs like the few Latin letters it stands for: 32 bytes of letters is a short sentence in
# either. Digits, symbols and spaces tell no language ("2 + 2 = 4, 6 * 7 = 42" is no German).
MIN_LETTER_BYTES = 32
# Below this share of lingua's confidence the text is mixed or too ambiguous to call.
MIN_CONFIDENCE = 0.7
# The start of a long answer tells its language as well as all of it, for less work.
MAX_CHARS = 1000


def lingua_codes(languages: Iterable[str]) -> list[IsoCode639_1]:
    """Return lingua's codes for the ISO 639-1 `languages` it knows, in a stable order."""
    from lingua import IsoCode639_1

    codes = []
    for language in sorted(set(languages)):
        try:
            codes.append(IsoCode639_1.from_str(language))
        except ValueError:
            log.debug("lingua cannot detect %r: it is left to the fallback voice", language)
    return codes


class LanguageDetector:
    """Names a text's language; its models load on first use, in a thread."""

    def __init__(self, languages: Iterable[str]) -> None:
        self._languages = sorted(set(languages))
        self._detector: LinguaDetector | None = None
        self._built = False
        self._loading = asyncio.Lock()

    async def detect(self, text: str) -> str | None:
        """Return the ISO 639-1 code of `text`'s language, or None when unsure."""
        text = text.strip()[:MAX_CHARS]
        if len(self._languages) < 2 or _letter_bytes(text) < MIN_LETTER_BYTES:
            return None
        detector = await self._loaded()
        if detector is None:  # fewer than two of the languages are lingua's
            return None
        values = await asyncio.to_thread(detector.compute_language_confidence_values, text)
        if not values or values[0].value < MIN_CONFIDENCE:
            return None
        return values[0].language.iso_code_639_1.name.lower()

    async def _loaded(self) -> LinguaDetector | None:
        async with self._loading:
            if not self._built:
                self._detector = await asyncio.to_thread(self._build)
                self._built = True
            return self._detector

    def _build(self) -> LinguaDetector | None:
        from lingua import LanguageDetectorBuilder

        codes = lingua_codes(self._languages)
        if len(codes) < 2:
            return None
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        return builder.with_low_accuracy_mode().with_preloaded_language_models().build()


def _letter_bytes(text: str) -> int:
    return sum(len(char.encode()) for char in text if char.isalpha())
