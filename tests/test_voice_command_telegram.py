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
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


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
    (call,) = tg.calls("setMyCommands")
    names = [c["command"] for c in call.params["commands"]]
    assert {"face", "voice"} <= set(names)
    shown = await said(tg, "/help", 1)
    assert "/face [reset]" in shown and "/voice [name|number|reset]" in shown
