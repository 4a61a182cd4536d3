"""A chat's own face through D-ID: `POST /images`, its refusals, talks from it, uploads again.

Our D-ID client and the real job runner on a real SQLite store, against the local fake D-ID.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest

from bot.storage import Storage, open_storage
from core import messages
from core.avatar.did import DIDClient
from core.avatar.did_polling import PollSchedule
from core.avatar.faces import REFUSALS, FaceCommand, Faces, ImageRefusedError
from core.avatar.jobs import AvatarJobs
from core.errors import BadInputError
from core.types import AvatarFailed, ConversationKey, JobState, Script, VideoReady
from tests.fakes.did import FakeDID
from tests.fakes.images import make_jpeg, make_png

KEY = ConversationKey("terminal", "chat-1")
DEFAULT_FACE = "https://example.com/face.jpg"


class Delivery:
    """A platform's delivery (the VideoDelivery port): records what the user is sent."""

    def __init__(self) -> None:
        self.videos: list[VideoReady] = []
        self.failures: list[AvatarFailed] = []
        self._changed = asyncio.Event()

    async def deliver_video(self, ready: VideoReady) -> None:
        self.videos.append(ready)
        self._changed.set()

    async def deliver_failure(self, failed: AvatarFailed) -> None:
        self.failures.append(failed)
        self._changed.set()

    async def ended(self) -> None:
        async with asyncio.timeout(5):
            while not self.videos and not self.failures:
                self._changed.clear()
                await self._changed.wait()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    did: FakeDID
    client: DIDClient
    faces: Faces
    jobs: AvatarJobs
    storage: Storage
    delivery: Delivery
    clock: Clock

    async def start(self) -> None:
        await self.jobs.start({"terminal": self.delivery})

    def sources(self) -> list[str]:
        return [talk.request["source_url"] for talk in self.did.talks.values()]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    storage = await open_storage(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        async with FakeDID(render_seconds=0.02) as did, httpx.AsyncClient(timeout=5) as http:
            client = DIDClient(
                http,
                api_key=did.api_key,
                base_url=did.base_url,
                source_url=DEFAULT_FACE,
                voice_id="en-US-JennyNeural",
                schedule=PollSchedule(first=0.01, interval=0.01, timeout=2.0),
                backoff=0,
            )
            clock = Clock()
            faces = Faces(storage.faces, client, clock=clock)
            jobs = AvatarJobs(
                storage.jobs, client, tmp_path / "media", delivery_backoff=0, faces=faces
            )
            try:
                yield Rig(did, client, faces, jobs, storage, Delivery(), clock)
            finally:
                await jobs.aclose()
    finally:
        await storage.close()


async def test_upload_sends_the_photo_as_multipart_image_and_returns_did_url(rig: Rig) -> None:
    photo = make_png(400, 400)
    url = await rig.client.upload_image(photo, "image/png", "face.png")
    (call,) = rig.did.calls("/images", "POST")
    assert call.headers["content-type"].startswith("multipart/form-data")
    assert call.headers["authorization"] == f"Basic {rig.did.api_key}"
    (image,) = rig.did.images.values()
    assert image.url == url and url.startswith("s3://d-id-images-prod/")
    assert (image.data, image.mime) == (photo, "image/png")
    assert url.endswith("/face.png")


@pytest.mark.parametrize(
    ("photo", "mime", "kind"),
    [
        (make_png(100, 100), "image/png", "InvalidImageResolutionError"),
        (make_png(400, 400, pad=11 * 1024 * 1024), "image/png", "InvalidFileSizeError"),
        (b"GIF89a" + bytes(64), "image/gif", "UnsupportedMimeTypeError"),
    ],
    ids=["too small", "over 10 MB", "not jpeg or png"],
)
async def test_did_refusals_of_a_photo_come_back_as_one_line(
    rig: Rig, photo: bytes, mime: str, kind: str
) -> None:
    with pytest.raises(ImageRefusedError) as caught:
        await rig.client.upload_image(photo, mime, "face.img")
    assert caught.value.kind == kind
    assert caught.value.message == REFUSALS[kind]
    assert "\n" not in caught.value.message
    assert kind in caught.value.detail  # the log keeps D-ID's own words
    assert not rig.did.images


async def test_a_too_small_photo_set_with_face_keeps_the_default(rig: Rig) -> None:
    with pytest.raises(BadInputError) as caught:
        await rig.faces.set(KEY, make_jpeg(120, 90))
    assert caught.value.message == REFUSALS["InvalidImageResolutionError"]
    assert await rig.storage.faces.face(KEY) is None


async def test_a_huge_photo_is_refused_before_it_reaches_did(rig: Rig) -> None:
    with pytest.raises(BadInputError) as caught:
        await rig.faces.set(KEY, make_png(400, 400, pad=11 * 1024 * 1024))
    assert caught.value.message == "That photo is too large for the avatar: 10 MB at most."
    assert not rig.did.calls("/images")


async def test_talks_show_the_chat_face_and_reset_goes_back_to_the_default(rig: Rig) -> None:
    await rig.start()
    face = await rig.faces.set(KEY, make_jpeg())
    job = await rig.jobs.submit(KEY, Script("Hello there."), "")
    assert job.source_url == face.url
    await rig.delivery.ended()
    assert rig.delivery.videos and rig.sources() == [face.url]

    assert await rig.faces.reset(KEY)
    assert await rig.storage.faces.face(KEY) is None  # the photo is deleted with it
    rig.delivery.videos.clear()
    await rig.jobs.submit(KEY, Script("And again."), "")
    await rig.delivery.ended()
    assert rig.sources() == [face.url, DEFAULT_FACE]


async def test_a_queued_video_keeps_the_face_it_was_asked_with(rig: Rig) -> None:
    first = await rig.faces.set(KEY, make_png(300, 300))
    await rig.jobs.submit(KEY, Script("Hello there."), "")  # recorded; runs once started
    second = await rig.faces.set(KEY, make_png(320, 320))
    assert first.url != second.url
    await rig.start()
    await rig.delivery.ended()
    assert rig.sources() == [first.url]


async def test_a_photo_without_a_face_fails_its_video_with_a_line_saying_so(rig: Rig) -> None:
    await rig.start()
    await rig.faces.set(KEY, make_png(400, 400, face=False))  # D-ID accepts the upload
    await rig.jobs.submit(KEY, Script("Hello there."), "")
    await rig.delivery.ended()
    (failed,) = rig.delivery.failures
    assert failed.message == REFUSALS["FaceError"]
    (talk,) = rig.did.talks.values()
    assert rig.did.talk_json(talk)["error"]["kind"] == "FaceError"


async def test_an_upload_did_lost_is_made_again_and_the_video_still_comes(rig: Rig) -> None:
    await rig.start()
    face = await rig.faces.set(KEY, make_jpeg())
    rig.did.expire_images()  # D-ID deleted its copy early
    await rig.jobs.submit(KEY, Script("Hello there."), "")
    await rig.delivery.ended()
    assert rig.delivery.videos and not rig.delivery.failures
    first, second = rig.sources()
    assert first == face.url and second != face.url
    assert len(rig.did.calls("/images", "POST")) == 2
    stored = await rig.storage.faces.face(KEY)
    assert stored is not None and stored.url == second
    assert not await rig.storage.jobs.unfinished()  # delivered


async def test_a_lost_upload_is_made_again_once_only(rig: Rig) -> None:
    await rig.start()
    rig.did.keep_images = False  # D-ID loses every upload at once
    await rig.faces.set(KEY, make_jpeg())
    await rig.jobs.submit(KEY, Script("Hello there."), "")
    await rig.delivery.ended()
    (failed,) = rig.delivery.failures
    assert failed.message == "The avatar video couldn't be made this time."
    assert len(rig.did.talks) == 2 and len(rig.did.calls("/images", "POST")) == 2
    assert not await rig.storage.jobs.unfinished()


async def test_an_upload_older_than_a_day_is_made_again_before_a_talk(rig: Rig) -> None:
    await rig.start()
    face = await rig.faces.set(KEY, make_jpeg())
    rig.clock.now += timedelta(hours=23)
    await rig.jobs.submit(KEY, Script("Hello there."), "")
    await rig.delivery.ended()
    assert rig.sources() == [face.url]
    rig.delivery.videos.clear()
    rig.clock.now += timedelta(hours=2)  # past D-ID's shortest keep
    job = await rig.jobs.submit(KEY, Script("And again."), "")
    await rig.delivery.ended()
    assert job.source_url not in (None, face.url)
    assert rig.sources()[-1] == job.source_url
    assert len(rig.did.calls("/images", "POST")) == 2


async def test_a_job_remembers_its_face_across_a_restart(rig: Rig) -> None:
    face = await rig.faces.set(KEY, make_jpeg())
    job = await rig.jobs.submit(KEY, Script("Hello there."), "")
    (stored,) = await rig.storage.jobs.unfinished()
    assert stored.id == job.id and stored.source_url == face.url
    assert stored.state is JobState.QUEUED


async def test_the_fake_images_endpoint_speaks_d_id_wire_format(rig: Rig) -> None:
    auth = {"Authorization": f"Basic {rig.did.api_key}"}
    url = f"{rig.did.base_url}/images"
    photo = make_png(300, 300)
    async with httpx.AsyncClient() as raw:
        created = await raw.post(url, headers=auth, files={"image": ("a.png", photo, "image/png")})
        assert created.status_code == 201
        body = created.json()
        assert set(body) == {"id", "url"} and body["id"].startswith("img_")
        missing = await raw.post(url, headers=auth, files={"file": ("a.png", photo, "image/png")})
        assert (missing.status_code, missing.json()["kind"]) == (400, "BadRequestError")
        named = await raw.post(url, headers=auth, files={"image": ("a b?.png", photo, "image/png")})
        assert (named.status_code, named.json()["kind"]) == (400, "BadRequestError")
        anonymous = await raw.post(url, files={"image": ("a.png", photo, "image/png")})
        assert (anonymous.status_code, anonymous.json()["kind"]) == (401, "AuthorizationError")


async def test_a_busy_did_is_retried_then_the_upload_goes_through(rig: Rig) -> None:
    rig.did.fail_next("POST /images", 503)
    rig.did.fail_next("POST /images", 429)
    face = await rig.faces.set(KEY, make_jpeg())
    assert len(rig.did.calls("/images", "POST")) == 3
    assert face.url in rig.did.images


async def test_a_did_that_keeps_failing_gets_one_line_and_keeps_the_old_face(rig: Rig) -> None:
    await rig.faces.set(KEY, make_jpeg())
    before = await rig.storage.faces.face(KEY)
    rig.did.fail_next("POST /images", 503, times=3)
    line = await FaceCommand(rig.faces).handle(KEY, "", partial(_bytes, make_png(300, 300)))
    assert line == messages.FACE_UNAVAILABLE
    assert await rig.storage.faces.face(KEY) == before


async def test_out_of_credits_at_upload_says_so(rig: Rig) -> None:
    rig.did.fail_next("POST /images", 402)
    line = await FaceCommand(rig.faces).handle(KEY, "", partial(_bytes, make_jpeg()))
    assert line == "The avatar service is out of credits, so no video for now."


async def _bytes(data: bytes) -> bytes:
    return data
