"""The avatar's voice follows the language: Whisper's language, lingua's for text, the voices."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings
from bot.settings_errors import describe
from core.avatar.language import LanguageDetector
from core.avatar.phrases import PHRASES
from core.avatar.speech import SpeechWriter
from core.avatar.voices import DEFAULT_VOICES, VoicePicker, native, parse_voices, voice_language
from core.groq.whisper import language_code
from core.types import Audio, ConversationKey, Transcript, Turn
from tests.fakes.groq import WHISPER_LANGUAGES, FakeGroq
from tests.harness import settings_for, terminal

VOICE = (Path(__file__).parent / "data" / "voice.ogg").read_bytes()
# One answer per language with a built-in voice, as the model might say it.
ANSWERS = {
    "en": "Paris is the capital of France. It has about two million people.",
    "es": "París es la capital de Francia. Tiene unos dos millones de habitantes.",
    "fr": "Paris est la capitale de la France. Elle compte environ deux millions d'habitants.",
    "de": "Paris ist die Hauptstadt Frankreichs. Dort leben etwa zwei Millionen Menschen.",
    "it": "Parigi è la capitale della Francia. Ha circa due milioni di abitanti.",
    "pt": "Paris é a capital da França. Tem cerca de dois milhões de habitantes.",
    "nl": "Parijs is de hoofdstad van Frankrijk. Er wonen ongeveer twee miljoen mensen.",
    "pl": "Paryż jest stolicą Francji. Mieszka tam około dwóch milionów ludzi.",
    "ja": "パリはフランスの首都です。約二百万人が住んでいます。",
    "zh": "巴黎是法国的首都。大约有两百万人住在那里。",
    "ko": "파리는 프랑스의 수도입니다. 약 이백만 명이 살고 있습니다.",
    "hi": "पेरिस फ्रांस की राजधानी है। वहाँ लगभग बीस लाख लोग रहते हैं।",
    "ar": "باريس هي عاصمة فرنسا. يعيش فيها حوالي مليوني شخص.",
    "ru": "Париж является столицей Франции. Там живут около двух миллионов человек.",
    "tr": "Paris, Fransa'nın başkentidir. Orada yaklaşık iki milyon insan yaşıyor.",
    "sv": "Paris är Frankrikes huvudstad. Där bor ungefär två miljoner människor.",
    "uk": "Париж є столицею Франції. Там живе близько двох мільйонів людей.",
}


def environment_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_x")
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_every_built_in_voice_speaks_its_language() -> None:
    assert len(DEFAULT_VOICES) >= 10 and set(ANSWERS) == set(DEFAULT_VOICES)
    for language, voice in DEFAULT_VOICES.items():
        assert native(voice, language) and voice.endswith("Neural"), (language, voice)


def test_did_voices_parse_into_language_and_voice() -> None:
    parsed = parse_voices(" es=es-MX-DaliaNeural, de = de-DE-ConradNeural,,yue=zh-HK-HiuMaanNeural")
    assert parsed == {
        "es": "es-MX-DaliaNeural",
        "de": "de-DE-ConradNeural",
        "yue": "zh-HK-HiuMaanNeural",
    }
    multilingual = {"fr": "en-US-AvaMultilingualNeural", "sr": "sr-Latn-RS-NicholasNeural"}
    assert parse_voices("fr=en-US-AvaMultilingualNeural,sr=sr-Latn-RS-NicholasNeural") == (
        multilingual
    )
    assert parse_voices("") == {}


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("es", "DID_VOICES is invalid: 'es' is not language=voice (es=es-ES-ElviraNeural)"),
        (
            "es=es-ES-ElviraNeural,de=es-ES-ElviraNeural",
            "DID_VOICES is invalid: 'de=es-ES-ElviraNeural': es-ES-ElviraNeural speaks es, not de",
        ),
        (
            "Spanish=es-ES-ElviraNeural",
            "DID_VOICES is invalid: 'Spanish=es-ES-ElviraNeural': 'Spanish' is not a language code",
        ),
        ("es=Elvira", "DID_VOICES is invalid: 'es=Elvira': 'Elvira' is not a Microsoft voice"),
        ("es=", "DID_VOICES is invalid: 'es=' is not language=voice (es=es-ES-ElviraNeural)"),
        (
            "=es-ES-ElviraNeural",
            "DID_VOICES is invalid: '=es-ES-ElviraNeural' is not language=voice",
        ),
        (  # the language is what comes before the first "="
            "de=de-DE-KatjaNeural=x",
            "DID_VOICES is invalid: 'de=de-DE-KatjaNeural=x': 'de-DE-KatjaNeural=x' is not a "
            "Microsoft voice",
        ),
    ],
    ids=[
        "no-equals",
        "wrong-language",
        "language-name",
        "not-a-voice",
        "no-voice",
        "no-language",
        "two-equals",
    ],
)
def test_a_bad_did_voices_entry_names_itself_in_one_line(
    monkeypatch: pytest.MonkeyPatch, value: str, line: str
) -> None:
    monkeypatch.setenv("DID_VOICES", value)
    with pytest.raises(ValidationError) as caught:
        environment_settings(monkeypatch)

    message = describe(caught.value)
    assert message.startswith(line) and "\n" not in message


def test_settings_read_did_voices_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DID_VOICES", "es=es-MX-DaliaNeural")

    settings = environment_settings(monkeypatch)

    assert settings.DID_VOICES == {"es": "es-MX-DaliaNeural"}


def test_picker_prefers_the_override_then_the_language_default_then_the_fallback() -> None:
    picker = VoicePicker(DEFAULT_VOICES, {"es": "es-MX-DaliaNeural"}, "en-US-JennyNeural")

    assert picker.pick("es") == "es-MX-DaliaNeural"
    assert picker.pick("de") == "de-DE-KatjaNeural"
    assert picker.pick("pt-BR") == "pt-BR-FranciscaNeural"
    assert picker.pick("sw") == "en-US-JennyNeural"  # no Swahili voice: DID_VOICE_ID
    assert picker.pick(None) == "en-US-JennyNeural"
    assert picker.pick("") == "en-US-JennyNeural"
    assert picker.pick("ES_mx") == "es-MX-DaliaNeural"  # a region in any spelling is ignored
    assert picker.pick("DE-at") == "de-DE-KatjaNeural"
    assert picker.languages == frozenset(DEFAULT_VOICES)


def test_the_languages_worth_detecting_include_did_voice_ids() -> None:
    finnish = VoicePicker(
        {"en": "en-US-JennyNeural"}, {"es": "es-MX-DaliaNeural"}, "fi-FI-NooraNeural"
    )
    assert finnish.languages == frozenset({"en", "es", "fi"})
    custom = VoicePicker({"en": "en-US-JennyNeural"}, {}, "my-own-voice")
    assert custom.languages == frozenset({"en"})
    assert custom.pick("en") == "en-US-JennyNeural" and custom.pick("fi") == "my-own-voice"


VOICE_LANGUAGES = [
    ("plain", "es-ES-ElviraNeural", "es"),
    ("script subtag", "sr-Latn-RS-NicholasNeural", "sr"),
    ("three letters", "yue-CN-XiaoMinNeural", "yue"),
    ("no region", "es-ElviraNeural", None),
    ("lower-case region", "es-es-ElviraNeural", None),
    ("not a voice", "Elvira", None),
]


@pytest.mark.parametrize(
    ("voice", "language"), [c[1:] for c in VOICE_LANGUAGES], ids=[c[0] for c in VOICE_LANGUAGES]
)
def test_the_language_of_a_voice_name(voice: str, language: str | None) -> None:
    assert voice_language(voice) == language


def test_a_chosen_did_voice_id_stays_the_voice_of_its_own_language() -> None:
    british = VoicePicker(DEFAULT_VOICES, {}, "en-GB-SoniaNeural")
    ava = VoicePicker(DEFAULT_VOICES, {}, "en-US-AvaMultilingualNeural")

    assert british.pick("en") == "en-GB-SoniaNeural" and british.pick("fr") == "fr-FR-DeniseNeural"
    assert ava.pick("en") == ava.pick("sw") == "en-US-AvaMultilingualNeural"
    assert ava.pick("ko") == "ko-KR-SunHiNeural"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Spanish", "es"),
        ("spanish", "es"),
        ("es", "es"),
        ("Haitian Creole", "ht"),
        ("Castilian", "es"),
        ("jw", "jv"),
        ("Cantonese", "yue"),
        ("Klingon", None),
        (None, None),
        (42, None),
    ],
)
def test_whisper_names_become_iso_codes(name: object, code: str | None) -> None:
    assert language_code(name) == code


def test_every_language_groq_names_has_a_code() -> None:
    for code, name in WHISPER_LANGUAGES.items():
        assert language_code(name) == code, name


async def test_the_transcript_carries_the_language_whisper_heard(
    tmp_path: Path, groq: FakeGroq
) -> None:
    groq.transcript = "¿Cómo te llamas?"
    groq.hear_next("es")
    key = ConversationKey("test", "1")
    async with terminal(settings_for(tmp_path, groq, None)) as (_, _, core):
        spanish = [e async for e in core.conversations.handle(Turn(key, "u", audio=Audio(VOICE)))]
        english = [e async for e in core.conversations.handle(Turn(key, "u", audio=Audio(VOICE)))]

    assert spanish[0] == Transcript("¿Cómo te llamas?", "es")
    assert english[0] == Transcript("¿Cómo te llamas?", "en")
    forms = [c.form for c in groq.calls("/audio/transcriptions")]
    assert [f and f["response_format"] for f in forms] == ["verbose_json"] * 2


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(DEFAULT_VOICES)


@pytest.mark.parametrize("language", list(ANSWERS))
async def test_answers_are_detected_in_their_language(
    detector: LanguageDetector, language: str
) -> None:
    assert await detector.detect(ANSWERS[language]) == language


@pytest.mark.parametrize(
    "text",
    [
        "Sí.",
        "OK, 42!",
        "Hola, soy Ava.",
        "   ",
        "Claro que sí, amigo. Te lo explico en un momento.",
    ],
    ids=["too-short", "no-words", "short-and-misleading", "blank", "unsure"],
)
async def test_short_or_ambiguous_text_is_no_language(
    detector: LanguageDetector, text: str
) -> None:
    assert await detector.detect(text) is None


async def test_detection_is_limited_to_the_voices_languages() -> None:
    two = LanguageDetector(["en", "es", "xx-unknown"])
    alone = LanguageDetector(["es"])

    answers = await asyncio.gather(*(two.detect(ANSWERS[code]) for code in ("en", "es", "ja")))

    assert answers[:2] == ["en", "es"] and answers[2] in (None, "en", "es")
    assert await alone.detect(ANSWERS["es"]) is None  # one language: nothing to tell apart


async def test_forty_bytes_are_enough_to_tell(detector: LanguageDetector) -> None:
    text = "Il tempo oggi è davvero molto bello qui"
    assert len(text.encode()) == 40
    assert await detector.detect(f"  {text}\n") == "it"


async def test_one_language_lingua_knows_is_nothing_to_tell_apart() -> None:
    assert await LanguageDetector(["es", "xx"]).detect(ANSWERS["es"]) is None
    assert await LanguageDetector(["en", "es"]).detect(ANSWERS["es"]) == "es"  # two are enough


async def test_digits_and_symbols_tell_no_language(detector: LanguageDetector) -> None:
    # 61 bytes, 14 of them letters: low-accuracy lingua called it German at 0.7 or more.
    sums = "Compute 2 + 2 = 4, then 10 - 3 = 7, 6 * 7 = 42, and 8 / 2 = 4."
    assert await detector.detect(sums) is None


CODE = (
    "```python\nimport requests\n\ndef fetch(url: str) -> dict:\n"
    "    response = requests.get(url, timeout=10)\n    response.raise_for_status()\n"
    "    return response.json()\n\nif __name__ == '__main__':\n"
    "    for item in fetch('https://api.example.com/items')['items']:\n"
    "        print(item['name'], item['price'])\n```"
)


@pytest.mark.parametrize(
    ("answer", "language"),
    [
        (f"Aqui está um script que busca os dados:\n\n{CODE}\n\nAltere o endereço.", "pt"),
        (f"Вот скрипт:\n\n{CODE}", "ru"),  # too short for lingua; Cyrillic is Russian's
        (f"Nutze dieses Skript, um die Daten abzurufen:\n\n{CODE}", "de"),
    ],
    ids=["pt", "ru", "de"],
)
async def test_a_code_heavy_answer_is_voiced_in_the_language_of_its_prose(
    detector: LanguageDetector, answer: str, language: str
) -> None:
    voices = VoicePicker(DEFAULT_VOICES, {}, "en-US-JennyNeural")
    speech = await SpeechWriter(voices=voices, detector=detector).write(answer)
    assert (speech.language, speech.voice_id) == (language, DEFAULT_VOICES[language])
    assert PHRASES[language].code in speech.text
