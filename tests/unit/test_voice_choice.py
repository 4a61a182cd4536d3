"""`/voice`: the voices for the chat's language, picked by name or number, kept per chat."""

from __future__ import annotations

import pytest

from core.avatar.voice_choice import CATALOGUE, MULTILINGUAL, VoiceCatalogue, VoiceChoice, label
from core.types import ConversationKey
from tests.fakes.memory import MemoryPreferences

CHAT = ConversationKey("telegram", "42")
TOPIC = ConversationKey("telegram", "42", "7")


@pytest.fixture
def prefs() -> MemoryPreferences:
    return MemoryPreferences()


@pytest.fixture
def choice(prefs: MemoryPreferences) -> VoiceChoice:
    catalogue = VoiceCatalogue(fallback="en-US-JennyNeural", overrides={"es": "es-MX-DaliaNeural"})
    return VoiceChoice(prefs, catalogue)


def test_labels_read_like_names() -> None:
    assert label("en-US-GuyNeural") == "Guy (en-US)"
    assert label("en-US-AvaMultilingualNeural") == "Ava (en-US, multilingual)"


async def test_voice_alone_lists_the_voices_of_the_chat_language(choice: VoiceChoice) -> None:
    listing = await choice.handle(CHAT, "", "es-MX")
    lines = listing.splitlines()
    assert lines[0] == "Voices for es:"
    assert lines[1] == "1. Dalia (es-MX)"  # DID_VOICES' voice for the language comes first
    assert "2. Elvira (es-ES)" in lines
    assert any("Ava (en-US, multilingual)" in line for line in lines)  # speaks Spanish too
    assert not any("Guy" in line for line in lines)
    assert lines[-1].startswith("Now: the default for each answer's language.")


async def test_a_voice_is_picked_by_name_or_number_and_kept_per_chat(
    choice: VoiceChoice, prefs: MemoryPreferences
) -> None:
    said = await choice.handle(CHAT, "guy", "en")
    assert said.startswith("The avatar speaks as Guy (en-US) now")
    assert await prefs.voice_id(TOPIC) == "en-US-GuyNeural"  # the chat's topics share it
    await choice.handle(CHAT, "3", "en")
    assert await prefs.voice_id(CHAT) == "en-US-AriaNeural"
    await choice.handle(CHAT, "de-DE-ConradNeural", "en")  # a full id from any language
    assert await prefs.voice_id(CHAT) == "de-DE-ConradNeural"
    listing = await choice.handle(CHAT, "", None)  # no language known: the chosen voice's
    assert listing.splitlines()[0] == "Voices for de:"
    assert "2. Conrad (de-DE) ✓" in listing.splitlines()
    assert listing.splitlines()[-1].startswith("Now: Conrad (de-DE).")


async def test_an_unknown_voice_gets_one_line_naming_the_valid_ones(
    choice: VoiceChoice, prefs: MemoryPreferences
) -> None:
    for wrong in ("Gandalf", "99", "0", "²"):  # "²" is a digit int() refuses: it was "oops"
        said = await choice.handle(CHAT, wrong, "fr")
        assert "\n" not in said
        assert said.startswith(f"There's no voice called “{wrong}”")
        assert "Denise, Henri, Ava, Andrew" in said
    assert await prefs.voice_id(CHAT) is None


async def test_reset_goes_back_to_the_language_default(
    choice: VoiceChoice, prefs: MemoryPreferences
) -> None:
    await choice.handle(CHAT, "Henri", "fr")
    assert await prefs.voice_id(CHAT) == "fr-FR-HenriNeural"
    said = await choice.handle(CHAT, "reset", "fr")
    assert "default voice" in said
    assert await prefs.voice_id(CHAT) is None


async def test_a_language_code_lists_that_language(choice: VoiceChoice) -> None:
    listing = await choice.handle(CHAT, "ja", "en")
    assert listing.splitlines()[:3] == ["Voices for ja:", "1. Nanami (ja-JP)", "2. Keita (ja-JP)"]


async def test_an_unknown_chat_language_lists_did_voice_id_language(choice: VoiceChoice) -> None:
    listing = await choice.handle(CHAT, "", "xx")
    assert listing.splitlines()[:2] == ["Voices for en:", "1. Jenny (en-US)"]


LABELS = [
    ("plain", "en-US-GuyNeural", "Guy (en-US)"),
    ("multilingual", "en-US-AvaMultilingualNeural", "Ava (en-US, multilingual)"),
    ("script subtag", "zh-Hant-TW-HsiaoChenNeural", "HsiaoChen (zh-Hant-TW)"),
]


@pytest.mark.parametrize(("voice", "shown"), [c[1:] for c in LABELS], ids=[c[0] for c in LABELS])
def test_a_label_names_the_voice_and_its_whole_locale(voice: str, shown: str) -> None:
    assert label(voice) == shown


def test_the_catalogue_lists_overrides_first_and_did_voice_id_in_its_language() -> None:
    catalogue = VoiceCatalogue(
        fallback="en-AU-NatashaNeural",
        overrides={"es": "es-ES-AlvaroNeural", "sv": "sv-SE-HilleviNeural"},
    )
    assert catalogue.voices("es") == [
        "es-ES-AlvaroNeural",  # once, first, though the catalogue lists it second
        "es-ES-ElviraNeural",
        "es-MX-DaliaNeural",
        "es-MX-JorgeNeural",
        *MULTILINGUAL,
    ]
    assert catalogue.voices("sv")[:3] == [
        "sv-SE-HilleviNeural",
        "sv-SE-SofieNeural",
        "sv-SE-MattiasNeural",
    ]
    assert catalogue.voices("en") == [*CATALOGUE["en"], "en-AU-NatashaNeural", *MULTILINGUAL]
    assert catalogue.languages == frozenset(CATALOGUE)


def test_did_voices_can_add_a_language_the_catalogue_lacks() -> None:
    catalogue = VoiceCatalogue(fallback="en-US-JennyNeural", overrides={"fi": "fi-FI-NooraNeural"})
    assert catalogue.voices("fi") == ["fi-FI-NooraNeural", *MULTILINGUAL]
    assert "fi" in catalogue.languages


def test_did_voice_id_of_a_new_language_gets_that_language() -> None:
    catalogue = VoiceCatalogue(fallback="fi-FI-NooraNeural", catalogue={"en": ("en-US-GuyNeural",)})
    assert catalogue.languages == frozenset({"en", "fi"})
    assert catalogue.voices("fi") == ["fi-FI-NooraNeural", *MULTILINGUAL]
    assert catalogue.language_or_default(None) == "fi"
    listed = VoiceCatalogue(fallback="en-US-GuyNeural", catalogue={"en": ("en-US-GuyNeural",)})
    assert listed.voices("en") == ["en-US-GuyNeural", *MULTILINGUAL]  # not twice


def test_a_multilingual_voice_is_listed_once_and_only_where_it_speaks() -> None:
    catalogue = VoiceCatalogue(
        fallback="en-US-JennyNeural",
        catalogue={"en": ("en-US-AvaMultilingualNeural", "en-US-JennyNeural")},
        multilingual=("en-US-AvaMultilingualNeural", "en-US-AvaMultilingualNeural"),
    )
    assert catalogue.voices("en") == ["en-US-AvaMultilingualNeural", "en-US-JennyNeural"]
    assert catalogue.voices("ja") == ["en-US-AvaMultilingualNeural"]
    only_native = VoiceCatalogue(fallback="en-US-JennyNeural", multilingual=("de-AT-IngridNeural",))
    assert only_native.voices("fr") == list(CATALOGUE["fr"])
    assert only_native.voices("de") == [*CATALOGUE["de"], "de-AT-IngridNeural"]


LANGUAGES = [
    ("region", "pt-BR", "pt"),
    ("underscore", "pt_BR", "pt"),
    ("upper case", "DE", "de"),
    ("none", None, "en"),
    ("empty", "", "en"),
    ("unknown", "xx", "en"),
]


@pytest.mark.parametrize(
    ("language", "listed"), [c[1:] for c in LANGUAGES], ids=[c[0] for c in LANGUAGES]
)
def test_the_chat_language_or_did_voice_id_language(language: str | None, listed: str) -> None:
    catalogue = VoiceCatalogue(fallback="en-US-JennyNeural")
    assert catalogue.language_or_default(language) == listed


def test_a_fallback_that_names_no_locale_lists_english() -> None:
    catalogue = VoiceCatalogue(fallback="my-custom-voice")
    assert catalogue.language_or_default("xx") == "en"
    assert "my-custom-voice" not in [
        v for lang in catalogue.languages for v in catalogue.voices(lang)
    ]


FINDS = [
    ("first number", "1", "de", "de-DE-KatjaNeural"),
    ("last number", "4", "de", "en-US-AndrewMultilingualNeural"),
    ("past the list", "5", "de", None),
    ("zero", "0", "de", None),
    ("spaces around", "  2 ", "de", "de-DE-ConradNeural"),
    ("id in any case", "JA-jp-keitaneural", "de", "ja-JP-KeitaNeural"),
    ("first name", "Keita", "de", "ja-JP-KeitaNeural"),
    ("name with neural", "KeitaNeural", "de", "ja-JP-KeitaNeural"),
    ("multilingual by name", "andrew", "de", "en-US-AndrewMultilingualNeural"),
    ("no such voice", "Gandalf", "de", None),
]


@pytest.mark.parametrize(
    ("choice", "language", "voice"), [c[1:] for c in FINDS], ids=[c[0] for c in FINDS]
)
def test_a_voice_is_found_by_number_id_or_name(
    choice: str, language: str, voice: str | None
) -> None:
    catalogue = VoiceCatalogue(fallback="en-US-JennyNeural")
    assert catalogue.find(choice, language) == voice


def test_a_first_name_finds_the_chat_languages_voice_first() -> None:
    catalogue = VoiceCatalogue(
        fallback="en-US-JennyNeural",
        catalogue={"en": ("en-US-SamNeural",), "de": ("de-DE-SamNeural",)},
    )
    assert catalogue.find("sam", "de") == "de-DE-SamNeural"
    assert catalogue.find("sam", "en") == "en-US-SamNeural"


async def test_commands_ignore_case_and_spaces(
    choice: VoiceChoice, prefs: MemoryPreferences
) -> None:
    await choice.handle(CHAT, "  Henri ", "fr")
    assert await prefs.voice_id(CHAT) == "fr-FR-HenriNeural"
    await choice.handle(CHAT, " RESET ", "fr")
    assert await prefs.voice_id(CHAT) is None
    listing = await choice.handle(CHAT, "JA", "en")
    assert listing.splitlines()[0] == "Voices for ja:"


async def test_only_the_chosen_voice_is_marked(
    choice: VoiceChoice, prefs: MemoryPreferences
) -> None:
    await prefs.set_voice_id(CHAT, "fr-FR-HenriNeural")
    lines = (await choice.handle(CHAT, "", "fr")).splitlines()
    assert lines[1:5] == [
        "1. Denise (fr-FR)",
        "2. Henri (fr-FR) ✓",
        "3. Ava (en-US, multilingual)",
        "4. Andrew (en-US, multilingual)",
    ]
    assert lines[5] == "Now: Henri (fr-FR). Pick one with /voice <name or number>, or /voice reset."


async def test_a_long_unknown_name_is_cut_in_the_answer(choice: VoiceChoice) -> None:
    said = await choice.handle(CHAT, "x" * 100, "de")
    assert said == (
        f"There's no voice called “{'x' * 40}”: pick one of Katja, Conrad, Ava, Andrew."
    )


async def test_the_chat_language_wins_over_the_chosen_voices(
    choice: VoiceChoice, prefs: MemoryPreferences
) -> None:
    await prefs.set_voice_id(CHAT, "de-DE-ConradNeural")
    lines = (await choice.handle(CHAT, "", "fr")).splitlines()
    assert lines[:2] == ["Voices for fr:", "1. Denise (fr-FR)"]
    assert lines[-1].startswith("Now: Conrad (de-DE).")


async def test_another_languages_listing_marks_the_chosen_voice(
    choice: VoiceChoice, prefs: MemoryPreferences
) -> None:
    await prefs.set_voice_id(CHAT, "ja-JP-KeitaNeural")
    lines = (await choice.handle(CHAT, "ja", "en")).splitlines()
    assert lines[:3] == ["Voices for ja:", "1. Nanami (ja-JP)", "2. Keita (ja-JP) ✓"]
