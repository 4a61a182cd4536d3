"""The avatar's voice for each language: Microsoft neural voices, as D-ID speaks them.

D-ID's default text-to-speech provider is Microsoft (`provider: {type: "microsoft", voice_id}`)
and it takes any voice name from Microsoft's voice gallery as the `voice_id`, multilingual ones
such as `en-US-AvaMultilingualNeural` included ("Microsoft Azure Voices",
https://docs.d-id.com/reference/tts-microsoft); `GET /tts/voices?provider=microsoft` lists the
voices an account can use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# One female neural voice per language, from the language's main locale.
DEFAULT_VOICES: Mapping[str, str] = {
    "en": "en-US-JennyNeural",
    "es": "es-ES-ElviraNeural",
    "fr": "fr-FR-DeniseNeural",
    "de": "de-DE-KatjaNeural",
    "it": "it-IT-ElsaNeural",
    "pt": "pt-BR-FranciscaNeural",
    "nl": "nl-NL-FennaNeural",
    "pl": "pl-PL-ZofiaNeural",
    "ja": "ja-JP-NanamiNeural",
    "zh": "zh-CN-XiaoxiaoNeural",
    "ko": "ko-KR-SunHiNeural",
    "hi": "hi-IN-SwaraNeural",
    "ar": "ar-SA-ZariyahNeural",
    "ru": "ru-RU-SvetlanaNeural",
    "tr": "tr-TR-EmelNeural",
    "sv": "sv-SE-SofieNeural",
    "uk": "uk-UA-PolinaNeural",
}
# A language code: ISO 639-1, or Whisper's codes for the two it names without one (haw, yue).
_LANGUAGE = re.compile(r"[a-z]{2,3}")
# A Microsoft voice name: locale (language, optional script, region), then the voice.
_VOICE = re.compile(r"(?P<lang>[a-z]{2,3})(-[A-Z][a-z]{3})?-[A-Z]{2}-[A-Za-z0-9:]+")
# Languages whose voices carry another language subtag in their locale.
_LOCALE_LANGUAGES = {"no": {"nb"}, "yue": {"zh", "yue"}}


def voice_language(voice: str) -> str | None:
    """Return the language subtag of a Microsoft voice name ("es-ES-ElviraNeural": "es")."""
    match = _VOICE.fullmatch(voice)
    return match["lang"] if match else None


def native(voice: str, language: str) -> bool:
    """Tell whether `language` is the language of `voice`'s locale."""
    return voice_language(voice) in _LOCALE_LANGUAGES.get(language, {language})


def speaks(voice: str, language: str) -> bool:
    """Tell whether `voice` speaks `language`: its locale's language, or any if multilingual."""
    return "Multilingual" in voice or native(voice, language)


def parse_voices(value: str) -> dict[str, str]:
    """Parse `DID_VOICES` ("es=es-ES-ElviraNeural,de=de-DE-KatjaNeural"): language to voice.

    Raise `ValueError` naming the first bad entry: not `language=voice`, a language that is
    no ISO 639-1 code, a voice that is no Microsoft voice name, or one in another language.
    """
    voices: dict[str, str] = {}
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        language, equals, voice = (piece.strip() for piece in entry.partition("="))
        if not equals or not language or not voice:
            raise ValueError(f"{entry!r} is not language=voice (es=es-ES-ElviraNeural)")
        if not _LANGUAGE.fullmatch(language):
            raise ValueError(f"{entry!r}: {language!r} is not a language code such as es")
        if voice_language(voice) is None:
            raise ValueError(f"{entry!r}: {voice!r} is not a Microsoft voice such as es-ES-…")
        if not speaks(voice, language):
            raise ValueError(f"{entry!r}: {voice} speaks {voice_language(voice)}, not {language}")
        voices[language] = voice
    return voices


class VoicePicker:
    """Chooses the voice for the language of an answer.

    The order: the `DID_VOICES` override for the language, then `DID_VOICE_ID` when it speaks
    that language (so a chosen English voice stays the English voice), then the built-in
    default, and `DID_VOICE_ID` for every language without a voice, or no language at all.
    """

    def __init__(
        self, defaults: Mapping[str, str], overrides: Mapping[str, str], fallback: str
    ) -> None:
        self._defaults, self._overrides, self._fallback = defaults, overrides, fallback

    @property
    def languages(self) -> frozenset[str]:
        """The languages with a voice of their own: the ones worth detecting."""
        own = voice_language(self._fallback)
        return frozenset(self._defaults) | frozenset(self._overrides) | ({own} if own else set())

    def pick(self, language: str | None) -> str:
        """Return the voice id for `language` (ISO 639-1; a region such as es-MX is ignored)."""
        if not language:
            return self._fallback
        code = language.split("-")[0].split("_")[0].lower()
        if code in self._overrides:
            return self._overrides[code]
        if native(self._fallback, code):
            return self._fallback
        return self._defaults.get(code, self._fallback)
