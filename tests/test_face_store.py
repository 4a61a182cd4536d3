"""The face store (`chat_faces`, migration 0009) on SQLite and PostgreSQL: the same behaviour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.storage import Storage
from core.types import ConversationKey, Face
from tests.fakes.images import make_jpeg, make_png

CHAT = ConversationKey("telegram", "42")
TOPIC = ConversationKey("telegram", "42", "7")
OTHER = ConversationKey("discord", "42")
AT = datetime(2026, 12, 1, 12, 0, 0, 123000, tzinfo=UTC)


async def test_a_face_is_kept_per_chat_with_its_url_and_upload_time(storage: Storage) -> None:
    faces = storage.faces
    assert await faces.face(CHAT) is None
    face = Face(make_jpeg(), "image/jpeg", "s3://d-id-images-prod/u/img_1/face.jpg", AT)
    await faces.put_face(CHAT, face)
    assert await faces.face(CHAT) == face
    assert await faces.face(TOPIC) == face  # a chat's topics share its face
    assert await faces.face(OTHER) is None
    upload = await faces.face_upload(CHAT)  # all but the bytes
    assert upload == Face(b"", "image/jpeg", face.url, AT)
    assert await faces.face_upload(OTHER) is None


async def test_a_new_face_replaces_the_old_one(storage: Storage) -> None:
    faces = storage.faces
    await faces.put_face(CHAT, Face(make_jpeg(), "image/jpeg", "s3://a", AT))
    newer = Face(make_png(), "image/png", "s3://b", AT + timedelta(hours=1))
    await faces.put_face(CHAT, newer)
    assert await faces.face(CHAT) == newer


async def test_a_new_upload_url_is_stored_only_over_the_url_it_replaces(storage: Storage) -> None:
    faces = storage.faces
    await faces.put_face(CHAT, Face(make_jpeg(), "image/jpeg", "s3://a", AT))
    later = AT + timedelta(days=1)
    assert not await faces.replace_face_url(CHAT, "s3://other", "s3://b", later)
    assert await faces.replace_face_url(CHAT, "s3://a", "s3://b", later)
    stored = await faces.face(CHAT)
    assert stored is not None and (stored.url, stored.uploaded_at) == ("s3://b", later)
    assert not await faces.replace_face_url(OTHER, None, "s3://c", later)


async def test_reset_deletes_the_photo(storage: Storage) -> None:
    faces = storage.faces
    await faces.put_face(CHAT, Face(make_jpeg(), "image/jpeg", None, None))
    assert await faces.delete_face(TOPIC)
    assert await faces.face(CHAT) is None
    assert not await faces.delete_face(CHAT)


@pytest.mark.parametrize(
    ("image", "mime"),
    [(b"", "image/jpeg"), (make_jpeg(), "image/gif"), (bytes(10 * 1024 * 1024 + 1), "image/png")],
    ids=["empty", "not jpeg or png", "over 10 MB"],
)
async def test_the_table_refuses_what_d_id_would(storage: Storage, image: bytes, mime: str) -> None:
    with pytest.raises(Exception, match="(?i)check"):
        await storage.faces.put_face(CHAT, Face(image, mime))


async def test_a_job_keeps_the_face_it_was_asked_with(storage: Storage) -> None:
    job = await storage.jobs.create(CHAT, "Hi", "", source_url="s3://d-id-images-prod/u/img_1/f")
    assert job.source_url == "s3://d-id-images-prod/u/img_1/f"
    moved = await storage.jobs.update(job, job.state, source_url="s3://again")
    assert moved.source_url == "s3://again"
    (again,) = await storage.jobs.unfinished()
    assert again.source_url == "s3://again"
    plain = await storage.jobs.create(CHAT, "Hi", "")
    assert plain.source_url is None


async def test_upload_times_are_kept_in_utc_and_a_naive_one_is_taken_as_utc(
    storage: Storage,
) -> None:
    faces = storage.faces
    paris = AT.astimezone(timezone(timedelta(hours=1)))
    await faces.put_face(CHAT, Face(make_jpeg(), "image/jpeg", "s3://a", paris))
    for stored in (await faces.face(CHAT), await faces.face_upload(CHAT)):
        assert stored is not None and stored.uploaded_at is not None
        assert (stored.uploaded_at, stored.uploaded_at.utcoffset()) == (AT, timedelta(0))
    naive = datetime(2026, 12, 2, 8, 30)
    assert await faces.replace_face_url(CHAT, "s3://a", "s3://b", naive)
    upload = await faces.face_upload(CHAT)
    assert upload is not None and upload.uploaded_at == naive.replace(tzinfo=UTC)


async def test_a_face_never_uploaded_has_no_url_or_time_until_its_first_upload(
    storage: Storage,
) -> None:
    faces = storage.faces
    image = make_png()
    await faces.put_face(CHAT, Face(image, "image/png"))
    assert await faces.face(CHAT) == Face(image, "image/png", None, None)
    assert await faces.face_upload(TOPIC) == Face(b"", "image/png", None, None)
    assert not await faces.replace_face_url(CHAT, "s3://stale", "s3://b", AT)
    assert await faces.replace_face_url(CHAT, None, "s3://b", AT)  # the first upload
    assert await faces.face(CHAT) == Face(image, "image/png", "s3://b", AT)
    assert not await faces.replace_face_url(CHAT, None, "s3://c", AT)  # it has one now
