"""Unit tier: a chat's own face through in-memory fakes of its store and of D-ID's upload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from core import messages
from core.avatar.faces import FaceCommand, Faces, face_refusal
from core.errors import TalkFailedError, UnavailableError
from core.types import ConversationKey
from tests.fakes.images import make_jpeg, make_png
from tests.fakes.memory import MemoryFaces, MemoryUploader

CHAT = ConversationKey("telegram", "1")
TOPIC = ConversationKey("telegram", "1", "9")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def rig() -> tuple[Faces, MemoryFaces, MemoryUploader, Clock]:
    store, uploader, clock = MemoryFaces(), MemoryUploader(), Clock()
    return Faces(store, uploader, clock=clock), store, uploader, clock


async def test_a_fresh_upload_is_used_as_is_and_a_day_old_one_is_made_again(
    rig: tuple[Faces, MemoryFaces, MemoryUploader, Clock],
) -> None:
    faces, store, uploader, clock = rig
    face = await faces.set(CHAT, make_jpeg())
    assert uploader.uploads == [(face.image, "image/jpeg", "face.jpg")]
    clock.now += timedelta(hours=23, minutes=59)
    assert await faces.source_url(TOPIC) == face.url
    assert store.photo_reads == 0  # a fresh upload's URL is used without reading the photo
    clock.now += timedelta(minutes=2)
    again = await faces.source_url(CHAT)
    assert again not in (None, face.url) and len(uploader.uploads) == 2
    assert await faces.source_url(CHAT) == again  # fresh now


async def test_a_failed_upload_again_falls_back_to_the_last_url(
    rig: tuple[Faces, MemoryFaces, MemoryUploader, Clock],
) -> None:
    faces, _, uploader, clock = rig
    face = await faces.set(CHAT, make_png(300, 300))
    clock.now += timedelta(days=2)
    uploader.fail = UnavailableError("busy")
    assert await faces.source_url(CHAT) == face.url


async def test_only_a_lost_own_face_is_uploaded_again(
    rig: tuple[Faces, MemoryFaces, MemoryUploader, Clock],
) -> None:
    faces, _, uploader, _ = rig
    assert await faces.after_failure(CHAT, "s3://x", "SourceError") is None  # no face
    face = await faces.set(CHAT, make_jpeg())
    assert face.url is not None
    assert await faces.after_failure(CHAT, face.url, "FaceError") is None
    assert await faces.after_failure(CHAT, None, "SourceError") is None  # the default face
    assert await faces.after_failure(CHAT, "s3://an-older-face", "SourceError") is None
    new = await faces.after_failure(CHAT, face.url, "SourceError")
    assert new is not None and new != face.url and len(uploader.uploads) == 2


def test_a_face_error_is_the_users_to_fix_only_on_their_own_face() -> None:
    error = TalkFailedError("The avatar video couldn't be made this time.", kind="FaceError")
    assert face_refusal("s3://mine", error).message == messages.FACE_REFUSALS["FaceError"]
    assert face_refusal(None, error) is error


async def test_the_command_says_one_line_for_each_case(
    rig: tuple[Faces, MemoryFaces, MemoryUploader, Clock],
) -> None:
    faces, store, _, _ = rig
    command = FaceCommand(faces)

    async def photo(data: bytes) -> bytes:
        return data

    assert await command.handle(CHAT, "", None) == messages.FACE_HOW
    assert await command.handle(CHAT, "reset", None) == messages.FACE_NONE_TO_RESET
    assert (
        await command.handle(CHAT, "", partial(photo, b"not an image"))
        == (messages.FACE_REFUSALS["UnsupportedMimeTypeError"])
    )
    assert await command.handle(CHAT, "", partial(photo, make_jpeg())) == messages.FACE_SET
    assert await command.has_face(TOPIC)
    assert await command.handle(CHAT, " RESET ", None) == messages.FACE_RESET
    assert not store.faces
    assert await FaceCommand(None).handle(CHAT, "", None) == messages.AVATAR_UNAVAILABLE


async def test_a_photo_known_too_large_is_never_downloaded(
    rig: tuple[Faces, MemoryFaces, MemoryUploader, Clock],
) -> None:
    faces, _, uploader, _ = rig
    downloads: list[int] = []

    async def photo() -> bytes:
        downloads.append(1)
        return make_jpeg()

    line = await FaceCommand(faces).handle(CHAT, "", photo, size=11 * 1024 * 1024)
    assert line == "That photo is too large for the avatar: 10 MB at most."
    assert not downloads and not uploader.uploads
