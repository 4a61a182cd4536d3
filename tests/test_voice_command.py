"""`/voice` in the terminal bot: the chosen voice reaches the talk.

The choice itself (listing, picking, reset) is tested in tests/unit/test_voice_choice.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.harness import settings_for, terminal

DATA = Path(__file__).resolve().parent / "data"


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
