"""`/voice`: the voices for the chat's language, picked by name or number, kept per chat."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.avatar.voice_choice import VoiceCatalogue, VoiceChoice, label
from core.types import ConversationKey
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.fakes.memory import MemoryPreferences
from tests.harness import settings_for, terminal

DATA = Path(__file__).resolve().parent / "data"

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
    for wrong in ("Gandalf", "99", "0"):
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


async def test_the_terminal_picks_a_voice_and_still_sends_files_with_voice_path(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    async with terminal(settings_for(tmp_path, groq, did)) as (chat, screen, _):
        await chat.handle("/voice Guy")
        await screen.wait_for("The avatar speaks as Guy (en-US) now")
        await chat.handle(f"/voice {DATA / 'voice.ogg'}")  # a path: the file is sent
        await screen.wait_for("avatar video ready")
    assert groq.calls("/audio/transcriptions")
    (talk,) = did.talks.values()
    assert talk.request["script"]["provider"]["voice_id"] == "en-US-GuyNeural"
