"""Unit tier: a chat's own face through in-memory fakes of its store and of D-ID's upload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from core import messages
from core.avatar.faces import (
    FaceCommand,
    Faces,
    ImageRefusedError,
    face_refusal,
    image_refusal,
    refusal,
)
from core.errors import BadInputError, TalkFailedError, UnavailableError
from core.types import ConversationKey, Face
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
    assert not await command.has_face(CHAT)
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


MB = 1024 * 1024


@pytest.mark.parametrize(
    ("max_bytes", "size"),
    [
        (10 * MB, "10 MB"),
        (5 * MB // 2, "2.5 MB"),
        (MB, "1 MB"),
        (MB - 1, "1023 KB"),
        (200 * 1024, "200 KB"),
        (1_101_005, "1.1 MB"),  # 1.05000019 MB: rounded to one decimal
    ],
    ids=["10 MB", "2.5 MB", "1 MB", "just under 1 MB", "200 KB", "1.05 MB"],
)
def test_a_photo_over_the_limit_is_refused_naming_the_limit_as_people_read_it(
    max_bytes: int, size: str
) -> None:
    faces = Faces(MemoryFaces(), MemoryUploader(), max_bytes=max_bytes)
    assert faces.max_bytes == max_bytes
    faces.check_size(max_bytes)  # up to the limit is fine
    faces.check_size(None)  # unknown: checked once downloaded
    with pytest.raises(BadInputError) as caught:
        faces.check_size(max_bytes + 1)
    assert caught.value.message == f"That photo is too large for the avatar: {size} at most."
    assert caught.value.detail == (
        f"face photo of {max_bytes + 1} bytes over FACE_MAX_BYTES={max_bytes}"
    )


async def test_a_png_is_uploaded_as_a_png_and_kept_with_its_upload_time(
    rig: tuple[Faces, MemoryFaces, MemoryUploader, Clock],
) -> None:
    faces, store, uploader, clock = rig
    photo = make_png(300, 300)
    face = await faces.set(TOPIC, photo)
    assert uploader.uploads == [(photo, "image/png", "face.png")]
    assert face == Face(photo, "image/png", "s3://uploads/1/face.png", clock.now)
    assert store.faces[("telegram", "1")] == face  # a chat's topics share it


@pytest.mark.parametrize(
    "photo",
    [b"", b"\xff\xd8", b"\x89PNG\r\n\x1a", b"GIF89a" + bytes(10)],
    ids=["empty", "short jpeg", "short png", "gif"],
)
async def test_anything_but_a_jpeg_or_png_is_refused_before_d_id(
    rig: tuple[Faces, MemoryFaces, MemoryUploader, Clock], photo: bytes
) -> None:
    faces, store, uploader, _ = rig
    with pytest.raises(BadInputError) as caught:
        await faces.set(CHAT, photo)
    assert caught.value.message == messages.FACE_REFUSALS["UnsupportedMimeTypeError"]
    assert caught.value.detail == f"face of {len(photo)} bytes"
    assert not uploader.uploads and not store.faces


async def test_an_upload_exactly_as_old_as_the_limit_is_made_again(
    rig: tuple[Faces, MemoryFaces, MemoryUploader, Clock],
) -> None:
    faces, _, uploader, clock = rig
    face = await faces.set(CHAT, make_jpeg())
    clock.now += timedelta(hours=24)
    assert await faces.source_url(CHAT) == "s3://uploads/2/face.jpg"
    assert uploader.uploads[1] == (face.image, "image/jpeg", "face.jpg")


async def test_a_face_never_uploaded_is_uploaded_before_its_talk(
    rig: tuple[Faces, MemoryFaces, MemoryUploader, Clock],
) -> None:
    faces, store, _, clock = rig
    store.faces[("telegram", "1")] = Face(make_jpeg(), "image/jpeg", None, clock.now)
    assert await faces.source_url(CHAT) == "s3://uploads/1/face.jpg"
    store.faces[("telegram", "1")] = Face(make_jpeg(), "image/jpeg", "s3://old", None)
    assert await faces.source_url(CHAT) == "s3://uploads/2/face.jpg"  # no time: stale


async def test_no_face_means_the_default_and_no_upload(
    rig: tuple[Faces, MemoryFaces, MemoryUploader, Clock],
) -> None:
    faces, _, uploader, _ = rig
    assert await faces.source_url(CHAT) is None
    assert not await faces.has_face(CHAT)
    assert not await faces.reset(CHAT)
    assert not uploader.uploads


class RacingFaces(MemoryFaces):
    """A store whose face changes between the read and the URL's replacement."""

    def __init__(self, after: Face | None) -> None:
        super().__init__()
        self.after = after

    async def replace_face_url(
        self, key: ConversationKey, old_url: str | None, new_url: str, uploaded_at: datetime
    ) -> bool:
        if self.after is None:
            self.faces.clear()
        else:
            self.faces[(key.platform, key.chat_id)] = self.after
        return await super().replace_face_url(key, old_url, new_url, uploaded_at)


@pytest.mark.parametrize("replaced", [True, False], ids=["replaced", "reset"])
async def test_a_face_changed_during_its_upload_again_gives_what_the_chat_has_now(
    replaced: bool,
) -> None:
    clock = Clock()
    newer = Face(make_png(), "image/png", "s3://newer", clock.now)
    store = RacingFaces(newer if replaced else None)
    store.faces[("telegram", "1")] = Face(make_jpeg(), "image/jpeg", "s3://old", clock.now)
    faces = Faces(store, MemoryUploader(), clock=clock)
    clock.now += timedelta(days=2)
    assert await faces.source_url(CHAT) == ("s3://newer" if replaced else None)
    store.after = newer if replaced else None
    store.faces[("telegram", "1")] = Face(make_jpeg(), "image/jpeg", "s3://old", clock.now)
    assert await faces.refresh(CHAT, "s3://old") is None  # not its face any more


async def test_a_lost_face_whose_upload_fails_leaves_the_talk_failed(
    rig: tuple[Faces, MemoryFaces, MemoryUploader, Clock],
) -> None:
    faces, _, uploader, _ = rig
    face = await faces.set(CHAT, make_jpeg())
    uploader.fail = UnavailableError("busy")
    assert await faces.after_failure(CHAT, face.url, "SourceError") is None


async def test_d_id_down_during_face_gets_its_own_line_and_a_missing_bot_none(
    rig: tuple[Faces, MemoryFaces, MemoryUploader, Clock],
) -> None:
    faces, _, uploader, _ = rig
    uploader.fail = UnavailableError("busy", detail="503")

    async def photo() -> bytes:
        return make_jpeg()

    assert await FaceCommand(faces).handle(CHAT, "", photo) == messages.FACE_UNAVAILABLE
    assert FaceCommand(faces).max_bytes == 10 * MB
    assert FaceCommand(None).max_bytes is None
    assert not await FaceCommand(None).has_face(CHAT)


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (400, "InvalidImageResolutionError", "InvalidImageResolutionError"),
        (400, "SomethingNew", "BadRequestError"),
        (415, "", "UnsupportedMimeTypeError"),
        (451, "ImageModerationError", "ImageModerationError"),
        (451, "CelebrityRecognizedError", "CelebrityRecognizedError"),
        (500, "InternalServerError", None),
        (404, "NotFoundError", None),
    ],
    ids=["known kind", "unknown kind", "415", "moderated", "celebrity", "500", "404"],
)
def test_d_id_s_refusal_of_a_photo_gets_its_kind_s_line(
    status: int, kind: str, expected: str | None
) -> None:
    refused = image_refusal(status, kind, "the detail")
    if expected is None:
        assert refused is None
        return
    assert refused is not None
    assert (refused.kind, refused.message, refused.detail) == (
        expected,
        messages.FACE_REFUSALS[expected],
        "the detail",
    )


def test_an_unknown_refusal_kind_says_the_photo_could_not_be_read() -> None:
    assert refusal("NoSuchKind") == messages.FACE_REFUSALS["BadRequestError"]
    assert ImageRefusedError("NoSuchKind").message == messages.FACE_REFUSALS["BadRequestError"]


def test_only_a_face_error_on_an_own_face_becomes_the_users_line() -> None:
    other = TalkFailedError("The avatar video couldn't be made this time.", kind="SourceError")
    assert face_refusal("s3://mine", other) is other
    error = TalkFailedError("x", kind="FaceError", detail="talk tlk_1 error: no face")
    turned = face_refusal("s3://mine", error)
    assert isinstance(turned, BadInputError) and turned.detail == "talk tlk_1 error: no face"


async def test_uploads_are_timed_in_utc_by_default() -> None:
    face = await Faces(MemoryFaces(), MemoryUploader()).set(CHAT, make_jpeg())
    assert face.uploaded_at is not None and face.uploaded_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - face.uploaded_at) < timedelta(minutes=1)
