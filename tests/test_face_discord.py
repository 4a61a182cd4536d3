"""`/face` and `/voice` on Discord: the wired bot, the real discord.py, fake Discord, Groq, D-ID."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.avatar.faces import FACE_RESET, FACE_SET, NO_PHOTO, REFUSALS
from tests.fakes.did import FakeDID
from tests.fakes.discord import GUILD_ID, AttachmentSpec, FakeDiscord
from tests.fakes.groq import FakeGroq
from tests.fakes.images import make_jpeg, make_png
from tests.harness import running_bot, settings_for

GROQ_REPLY = "Hello from Ava. Nice to see you."
DEFAULT_FACE = "https://example.com/face.jpg"


@pytest.fixture
async def bot(tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord) -> AsyncIterator[None]:
    settings = settings_for(
        tmp_path,
        groq,
        did,
        DISCORD_BOT_TOKEN=dc.token,
        DISCORD_API_BASE_URL=dc.api_url,
        DISCORD_GATEWAY_URL=dc.gateway_url,
        DISCORD_GUILD_IDS=str(GUILD_ID),
        FACE_MAX_BYTES=200 * 1024,
    )
    async with running_bot(settings):
        await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands)
        yield


async def answer(dc: FakeDiscord, command: str, options: dict[str, Any] | None = None) -> str:
    """What the bot answered a slash command: its edited deferred response, or its message."""
    pushed = await dc.push_interaction(command, options)

    def answered() -> list[Any]:
        responses = dc.interaction_responses(pushed.id)
        return [r for r in responses if r.kind == "edit_original" or r.response_type == 4]

    await dc.wait_for(lambda: bool(answered()))
    return answered()[-1].content or ""


def registered(dc: FakeDiscord, name: str) -> dict[str, Any]:
    (command,) = [c for c in dc.commands[GUILD_ID] if c["name"] == name]
    return command


async def test_face_image_becomes_the_avatar_face_and_reset_undoes_it(
    dc: FakeDiscord, did: FakeDID, bot: None
) -> None:
    options = {o["name"]: o["type"] for o in registered(dc, "face")["options"]}
    assert options == {"image": 11, "reset": 5}  # ATTACHMENT, BOOLEAN
    photo = make_jpeg()
    spec = AttachmentSpec("me.jpg", photo, "image/jpeg")
    assert await answer(dc, "face", {"image": spec}) == FACE_SET
    (image,) = did.images.values()
    assert image.data == photo

    await answer(dc, "talk", {"text": "hi"})
    await did.wait_for(lambda: len(did.talks) == 1)
    (talk,) = did.talks.values()
    assert talk.request["source_url"] == image.url
    assert await answer(dc, "face", {"reset": True}) == FACE_RESET
    assert await answer(dc, "face") == NO_PHOTO


@pytest.mark.parametrize(
    ("spec", "line"),
    [
        (AttachmentSpec("small.png", make_png(90, 90), "image/png"), "InvalidImageResolutionError"),
        (AttachmentSpec("me.gif", b"GIF89a" + bytes(64), "image/gif"), "UnsupportedMimeTypeError"),
        (AttachmentSpec("big.png", make_png(400, 400, pad=300_000), "image/png"), ""),
    ],
    ids=["too small", "not jpeg or png", "over FACE_MAX_BYTES"],
)
async def test_a_photo_that_cannot_be_the_face_gets_one_line(
    dc: FakeDiscord, did: FakeDID, bot: None, spec: AttachmentSpec, line: str
) -> None:
    said = await answer(dc, "face", {"image": spec})
    assert said == (
        REFUSALS[line] if line else "That photo is too large for the avatar: 200 KB at most."
    )
    assert not did.images


async def test_voice_lists_by_the_user_locale_and_picks_one(
    dc: FakeDiscord, did: FakeDID, bot: None
) -> None:
    listing = await answer(dc, "voice")
    assert listing.splitlines()[0] == "Voices for en:"
    assert (await answer(dc, "voice", {"voice": "Guy"})).startswith("The avatar speaks as Guy")
    await answer(dc, "talk", {"text": "hi"})
    await did.wait_for(lambda: len(did.talks) == 1)
    (talk,) = did.talks.values()
    assert talk.request["script"]["provider"]["voice_id"] == "en-US-GuyNeural"
    unknown = await answer(dc, "voice", {"voice": "Gandalf"})
    assert unknown.startswith("There's no voice called “Gandalf”") and "\n" not in unknown
