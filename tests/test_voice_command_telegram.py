"""`/voice` on Telegram: the wired bot, the real python-telegram-bot, fake Telegram, Groq, D-ID."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at

ALICE = 1001
GROQ_REPLY = (
    "Das Wetter in Berlin ist heute sonnig und warm, perfekt für einen langen "
    "Spaziergang im Park mit Freunden."
)


@pytest.fixture
async def bot(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram
) -> AsyncIterator[None]:
    async with running_bot(settings_for(tmp_path, groq, did, **telegram_at(tg))):
        await tg.wait_for(lambda: tg.calls("getUpdates"))
        yield


def voices(did: FakeDID) -> list[str]:
    return [t.request["script"]["provider"]["voice_id"] for t in did.talks.values()]


async def said(tg: FakeTelegram, text: str, count: int) -> str:
    tg.push_text(ALICE, text)
    return (await tg.wait_for_sent(ALICE, "sendMessage", count))[-1].text or ""


async def test_the_chosen_voice_speaks_every_answer_until_reset(
    tg: FakeTelegram, did: FakeDID, bot: None
) -> None:
    listing = await said(tg, "/voice", 1)
    assert listing.splitlines()[0] == "Voices for en:"  # the user's language_code
    assert "2. Guy (en-US)" in listing.splitlines()
    assert (await said(tg, "/voice Andrew", 2)).startswith("The avatar speaks as Andrew")
    tg.push_text(ALICE, "Wie ist das Wetter?")
    await tg.wait_for_sent(ALICE, "sendVideo")
    assert (await said(tg, "/voice reset", 4)).startswith("The avatar speaks in the default")
    tg.push_text(ALICE, "Und morgen?")
    await tg.wait_for_sent(ALICE, "sendVideo", 2)
    # The chosen voice over the German answer's default; then the default again.
    assert voices(did) == ["en-US-AndrewMultilingualNeural", "de-DE-KatjaNeural"]


async def test_an_unknown_voice_gets_one_line_naming_the_valid_ones(
    tg: FakeTelegram, did: FakeDID, bot: None
) -> None:
    line = await said(tg, "/voice Gandalf", 1)
    assert line.startswith("There's no voice called “Gandalf”: pick one of Jenny, Guy,")
    assert "\n" not in line


async def test_voice_is_published_with_face_in_the_command_menu(
    tg: FakeTelegram, bot: None
) -> None:
    menus = {
        c.params.get("language_code", ""): c.params["commands"] for c in tg.calls("setMyCommands")
    }
    assert all({"face", "voice"} <= {c["command"] for c in menu} for menu in menus.values())
    german = {c["command"]: c["description"] for c in menus["de"]}
    assert (
        german["face"] == "Mein Gesicht in diesem Chat: ein Foto von dir (ein Gesicht), oder reset"
    )
    shown = await said(tg, "/help", 1)
    assert "/face [reset]" in shown and "/voice [name|number|reset]" in shown


async def test_voice_and_face_answer_in_the_user_language(
    tg: FakeTelegram, did: FakeDID, bot: None
) -> None:
    tg.push_text(ALICE, "/voice", language_code="de")
    listing = (await tg.wait_for_sent(ALICE, "sendMessage", 1))[-1].text or ""
    lines = listing.splitlines()
    assert lines[0] == "Stimmen für de:" and "2. Conrad (de-DE)" in lines  # German voices, too
    assert lines[-1].startswith("Jetzt: die Standardstimme für die Sprache jeder Antwort.")
    tg.push_text(ALICE, "/face", language_code="fr")
    how = (await tg.wait_for_sent(ALICE, "sendMessage", 2))[-1].text or ""
    assert how.startswith("Envoie une photo avec la légende /face")
