"""The voices a chat can pick with `/voice`: listed by language, chosen by name or number.

The names are Microsoft neural voices, which D-ID speaks as `provider: {type: "microsoft",
voice_id}` (https://docs.d-id.com/reference/tts-microsoft); the chosen one is kept per chat
(`PreferenceStore.voice_id`) and speaks every answer, over the language's default
(`VoicePicker`). Multilingual voices speak any language, so every language lists them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from core import messages
from core.avatar.voices import speaks, voice_language
from core.i18n import Line
from core.types import ConversationKey

# Per language: two voices of its main locale (a woman's, a man's), more where the language has
# several big locales; then the multilingual voices every language can pick.
CATALOGUE: Mapping[str, tuple[str, ...]] = {
    "en": (
        "en-US-JennyNeural",
        "en-US-GuyNeural",
        "en-US-AriaNeural",
        "en-US-DavisNeural",
        "en-GB-SoniaNeural",
        "en-GB-RyanNeural",
    ),
    "es": ("es-ES-ElviraNeural", "es-ES-AlvaroNeural", "es-MX-DaliaNeural", "es-MX-JorgeNeural"),
    "fr": ("fr-FR-DeniseNeural", "fr-FR-HenriNeural"),
    "de": ("de-DE-KatjaNeural", "de-DE-ConradNeural"),
    "it": ("it-IT-ElsaNeural", "it-IT-DiegoNeural"),
    "pt": (
        "pt-BR-FranciscaNeural",
        "pt-BR-AntonioNeural",
        "pt-PT-RaquelNeural",
        "pt-PT-DuarteNeural",
    ),
    "nl": ("nl-NL-FennaNeural", "nl-NL-MaartenNeural"),
    "pl": ("pl-PL-ZofiaNeural", "pl-PL-MarekNeural"),
    "ja": ("ja-JP-NanamiNeural", "ja-JP-KeitaNeural"),
    "zh": ("zh-CN-XiaoxiaoNeural", "zh-CN-YunxiNeural"),
    "ko": ("ko-KR-SunHiNeural", "ko-KR-InJoonNeural"),
    "hi": ("hi-IN-SwaraNeural", "hi-IN-MadhurNeural"),
    "ar": ("ar-SA-ZariyahNeural", "ar-SA-HamedNeural"),
    "ru": ("ru-RU-SvetlanaNeural", "ru-RU-DmitryNeural"),
    "tr": ("tr-TR-EmelNeural", "tr-TR-AhmetNeural"),
    "sv": ("sv-SE-SofieNeural", "sv-SE-MattiasNeural"),
    "uk": ("uk-UA-PolinaNeural", "uk-UA-OstapNeural"),
}
MULTILINGUAL = ("en-US-AvaMultilingualNeural", "en-US-AndrewMultilingualNeural")
RESET = "reset"


class VoicePreferences(Protocol):
    """The part of `PreferenceStore` that keeps a chat's voice."""

    async def voice_id(self, key: ConversationKey) -> str | None:
        """Return the voice the chat chose, or None for the language's default."""
        ...

    async def set_voice_id(self, key: ConversationKey, voice_id: str | None) -> None:
        """Store the chat's voice; None goes back to the language's default."""
        ...


def label(voice: str) -> str:
    """Name a voice as a person reads it: "en-US-AvaMultilingualNeural": "Ava (en-US, …)"."""
    locale, _, name = voice.rpartition("-")
    name = name.removesuffix("Neural")
    multilingual = name.endswith("Multilingual")
    name = name.removesuffix("Multilingual")
    return f"{name} ({locale}, multilingual)" if multilingual else f"{name} ({locale})"


def _name(voice: str) -> str:
    return voice.rpartition("-")[2].removesuffix("Neural").removesuffix("Multilingual").lower()


class VoiceCatalogue:
    """The voices offered for each language: the catalogue, `DID_VOICES` and `DID_VOICE_ID`."""

    def __init__(
        self,
        *,
        fallback: str,
        overrides: Mapping[str, str] | None = None,
        catalogue: Mapping[str, Iterable[str]] = CATALOGUE,
        multilingual: Iterable[str] = MULTILINGUAL,
    ) -> None:
        self._fallback = fallback
        self._voices: dict[str, list[str]] = {}
        for language, voices in catalogue.items():
            self._voices[language] = list(dict.fromkeys(voices))
        for language, voice in (overrides or {}).items():  # a configured voice comes first
            self._voices[language] = list(dict.fromkeys([voice, *self._voices.get(language, [])]))
        own = voice_language(fallback)
        if own is not None and fallback not in self._voices.get(own, []):
            self._voices.setdefault(own, []).append(fallback)
        self._multilingual = list(dict.fromkeys(multilingual))

    @property
    def languages(self) -> frozenset[str]:
        """The languages with voices of their own."""
        return frozenset(self._voices)

    def language_or_default(self, language: str | None) -> str:
        """`language` if it has voices, else the language of `DID_VOICE_ID` (else English)."""
        code = (language or "").split("-")[0].split("_")[0].lower()
        if code in self._voices:
            return code
        return voice_language(self._fallback) or "en"

    def voices(self, language: str) -> list[str]:
        """Return the voices that speak `language`: its own, then the multilingual ones."""
        own = self._voices.get(language, [])
        extra = [v for v in self._multilingual if v not in own and speaks(v, language)]
        return own + extra

    def find(self, choice: str, language: str) -> str | None:
        """Return the voice `choice` names: a number from the list, a voice id or a first name."""
        listed = self.voices(language)
        text = choice.strip()
        if text.isdecimal():  # not isdigit: "²" is a digit that int() refuses
            number = int(text)
            return listed[number - 1] if 1 <= number <= len(listed) else None
        every = [*listed, *(v for vs in self._voices.values() for v in vs), *self._multilingual]
        for voice in every:
            if voice.lower() == text.lower():
                return voice
        wanted = text.lower().removesuffix("neural")
        for voice in every:  # the language's own voices come first in `every`
            if _name(voice) == wanted:
                return voice
        return None


class VoiceChoice:
    """`/voice`: lists the voices for the chat's language, picks one, or goes back (`reset`)."""

    def __init__(self, preferences: VoicePreferences, catalogue: VoiceCatalogue) -> None:
        self._preferences, self._catalogue = preferences, catalogue

    async def handle(self, key: ConversationKey, argument: str, language: str | None) -> str:
        """Answer `/voice <argument>` in one message; `language`: the chat's (None: unknown)."""
        argument = argument.strip()
        chosen = await self._preferences.voice_id(key)
        if not language and chosen is not None:
            language = voice_language(chosen)
        language = self._catalogue.language_or_default(language)
        if not argument:
            return self._listing(language, chosen)
        if argument.lower() == RESET:
            await self._preferences.set_voice_id(key, None)
            return Line(messages.VOICE_RESET)
        if argument.lower() in self._catalogue.languages:
            return self._listing(argument.lower(), chosen)
        voice = self._catalogue.find(argument, language)
        if voice is None:
            names = ", ".join(label(v).split(" (")[0] for v in self._catalogue.voices(language))
            return Line(messages.VOICE_UNKNOWN, name=argument[:40], names=names)
        await self._preferences.set_voice_id(key, voice)
        return Line(messages.VOICE_SET, voice=label(voice))

    def _listing(self, language: str, chosen: str | None) -> str:
        listed = []
        for number, voice in enumerate(self._catalogue.voices(language), start=1):
            mark = " ✓" if voice == chosen else ""
            listed.append(messages.VOICE_LINE.format(number=number, voice=label(voice), mark=mark))
        now = label(chosen) if chosen else Line(messages.VOICE_DEFAULT)
        return Line(messages.VOICE_LIST, language=language, voices="\n".join(listed), voice=now)
