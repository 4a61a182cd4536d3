"""A chat's own avatar face (`/face`): checked, uploaded to D-ID, kept, uploaded again when stale.

D-ID renders a talk from a photo at a URL. `POST /images` (multipart field `image`, JPEG or
PNG, at most 10 MB) stores one for 24-48 hours and answers `{"id", "url"}`
(https://docs.d-id.com/reference/upload-an-image; limits in https://www.d-id.com/faqs/). So the
photo's bytes are kept with the chat, and a talk asked more than `max_age` after the last upload
(by default the shorter end of D-ID's 24-48 h) uploads them again first; a talk D-ID fails with
`SourceError` ("could not load source image") gets one more upload and one more try.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from core import messages
from core.avatar.ports import FaceStore, ImageUploader
from core.errors import BadInputError, TalkFailedError, UnavailableError, UserFacingError
from core.i18n import Line
from core.types import ConversationKey, Face

log = logging.getLogger(__name__)

# D-ID's own limit for an image ("the image size is limited to 10 MB", d-id.com/faqs).
FACE_MAX_BYTES = 10 * 1024 * 1024
# D-ID keeps an uploaded image 24-48 h: an upload older than this is made again before a talk.
FACE_URL_MAX_AGE = timedelta(hours=24)
MIMES = {"image/jpeg": "face.jpg", "image/png": "face.png"}

REFUSALS = messages.FACE_REFUSALS
_UNREADABLE = "BadRequestError"  # the kind whose line an unknown refusal gets
_JPEG, _PNG = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"


class ImageRefusedError(BadInputError):
    """D-ID refused a photo (too small, too large, not an image, moderated): `kind` says why."""

    def __init__(self, kind: str, *, detail: str = "") -> None:
        super().__init__(refusal(kind), detail=detail)
        self.kind = kind


def refusal(kind: str) -> Line:
    """Return the one line for D-ID's refusal `kind` (an unknown kind: it could not read it)."""
    text = REFUSALS.get(kind) or REFUSALS[_UNREADABLE]
    return Line(text)


def image_refusal(status: int, kind: str, detail: str) -> ImageRefusedError | None:
    """Return the one-line refusal for D-ID's answer to `POST /images`, None if it is none."""
    if status == 415:
        kind = "UnsupportedMimeTypeError"
    if status in (400, 415, 451):
        return ImageRefusedError(kind if kind in REFUSALS else "BadRequestError", detail=detail)
    return None


def face_refusal(source_url: str | None, exc: TalkFailedError) -> UserFacingError:
    """D-ID's FaceError on a chat's own face is the user's to fix: say how, in one line."""
    if exc.kind == "FaceError" and source_url is not None:
        return BadInputError(refusal("FaceError"), detail=exc.detail)
    return exc


def sniff_image(data: bytes) -> str | None:
    """Return the MIME type of a JPEG or PNG by its first bytes, None for anything else."""
    if data.startswith(_JPEG):
        return "image/jpeg"
    if data.startswith(_PNG):
        return "image/png"
    return None


def _amount(size: int) -> str:
    """Write a size as people read it: "10 MB", "2.5 MB", "200 KB"."""
    if size >= 1024 * 1024:
        return f"{round(size / (1024 * 1024), 1):g} MB"
    return f"{size // 1024} KB"


def _now() -> datetime:
    return datetime.now(UTC)


class Faces:
    """Each chat's own avatar face: `/face` sets it, `/face reset` deletes it, talks use it."""

    def __init__(
        self,
        store: FaceStore,
        uploader: ImageUploader,
        *,
        max_bytes: int = FACE_MAX_BYTES,
        max_age: timedelta = FACE_URL_MAX_AGE,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._store, self._uploader = store, uploader
        self._max_bytes, self._max_age, self._clock = max_bytes, max_age, clock

    @property
    def max_bytes(self) -> int:
        """The largest photo accepted (`FACE_MAX_BYTES`), checked before any download."""
        return self._max_bytes

    def check_size(self, size: int | None) -> None:
        """Refuse a photo of `size` bytes before it is fetched, when it is known to be too big."""
        if size is not None and size > self._max_bytes:
            raise BadInputError(
                Line(messages.FACE_TOO_LARGE, size=_amount(self._max_bytes)),
                detail=f"face photo of {size} bytes over FACE_MAX_BYTES={self._max_bytes}",
            )

    async def set(self, key: ConversationKey, image: bytes) -> Face:
        """Make `image` the chat's face: checked, uploaded to D-ID, then kept.

        Raises `BadInputError` (one line) for a photo that is empty, too large, not JPEG/PNG,
        or refused by D-ID; nothing is kept then, and the earlier face stays.
        """
        self.check_size(len(image))
        mime = sniff_image(image)
        if mime is None:
            refused = refusal("UnsupportedMimeTypeError")
            raise BadInputError(refused, detail=f"face of {len(image)} bytes")
        url = await self._uploader.upload_image(image, mime, MIMES[mime])
        face = Face(image, mime, url, self._clock())
        await self._store.put_face(key, face)
        log.info("%s has its own avatar face now (%d bytes, %s)", key, len(image), mime)
        return face

    async def reset(self, key: ConversationKey) -> bool:
        """Go back to the default face; the photo is deleted. False when there was none."""
        return await self._store.delete_face(key)

    async def has_face(self, key: ConversationKey) -> bool:
        """Whether the chat shows its own face."""
        return await self._store.face_upload(key) is not None

    async def source_url(self, key: ConversationKey) -> str | None:
        """Return the URL of the chat's face for a talk asked now; None for the default face.

        An upload older than `max_age` is made again first. If that fails (D-ID busy), the
        last URL is used all the same: it may still be there, and a `SourceError` retries.
        """
        upload = await self._store.face_upload(key)  # no photo read for a fresh upload
        if upload is None:
            return None
        uploaded = upload.uploaded_at
        if upload.url is not None and uploaded is not None:
            if self._clock() - uploaded < self._max_age:
                return upload.url
        face = await self._store.face(key)
        if face is None:  # reset meanwhile
            return None
        try:
            url = await self._upload_again(key, face)
        except UserFacingError as exc:
            log.warning("could not upload %s's face again, using the last URL: %s", key, exc.detail)
            return face.url
        if url is None:  # replaced or reset meanwhile: whatever the chat has now
            current = await self._store.face(key)
            return None if current is None else current.url
        return url

    async def after_failure(
        self, key: ConversationKey, source_url: str | None, kind: str
    ) -> str | None:
        """Return a new URL for a talk D-ID failed as it could not load `source_url`, else None.

        Only a `SourceError` ("could not load source image") on the chat's own face is
        retried; an upload that fails here leaves the talk failed.
        """
        if kind != "SourceError" or source_url is None:
            return None
        try:
            return await self.refresh(key, source_url)
        except UserFacingError as exc:
            log.warning("%s's face could not be uploaded again: %s", key, exc.detail)
            return None

    async def refresh(self, key: ConversationKey, stale_url: str) -> str | None:
        """Upload the chat's face again after D-ID lost `stale_url`; None if it is not its face.

        A face replaced or reset since the talk was asked is not uploaded for it: a queued
        video keeps the face it was asked with, or fails.
        """
        face = await self._store.face(key)
        if face is None or face.url != stale_url:
            return None
        return await self._upload_again(key, face)

    async def _upload_again(self, key: ConversationKey, face: Face) -> str | None:
        url = await self._uploader.upload_image(face.image, face.mime, MIMES[face.mime])
        if not await self._store.replace_face_url(key, face.url, url, self._clock()):
            return None  # replaced or reset meanwhile
        log.info("uploaded %s's face again", key)
        return url


# What `/face` answers, one line each (core/messages.py).
NO_PHOTO = messages.FACE_HOW
FACE_SET = messages.FACE_SET
FACE_RESET = messages.FACE_RESET
NO_FACE_TO_RESET = messages.FACE_NONE_TO_RESET
Photo = Callable[[], Awaitable[bytes]]


class FaceCommand:
    """`/face` with a photo, `/face reset`, or `/face` alone: always one line back."""

    def __init__(self, faces: Faces | None) -> None:
        self._faces = faces

    @property
    def max_bytes(self) -> int | None:
        """The largest photo accepted, for platforms that check before downloading."""
        return None if self._faces is None else self._faces.max_bytes

    async def has_face(self, key: ConversationKey) -> bool:
        """Whether the chat shows its own face (never without avatar videos)."""
        return self._faces is not None and await self._faces.has_face(key)

    async def handle(
        self, key: ConversationKey, argument: str, photo: Photo | None, size: int | None = None
    ) -> str:
        """Carry out `/face <argument>`; `photo` downloads the photo, `size` its known bytes.

        A photo too large by `size` is declined before `photo` is called; refusals and failures
        of the download or of D-ID come back as their one line.
        """
        if self._faces is None:
            return Line(messages.AVATAR_UNAVAILABLE)
        argument = argument.strip().lower()
        if argument == "reset":
            return Line(FACE_RESET if await self._faces.reset(key) else NO_FACE_TO_RESET)
        if photo is None:
            return Line(NO_PHOTO)
        try:
            self._faces.check_size(size)
            await self._faces.set(key, await photo())
        except UnavailableError as exc:  # D-ID kept failing (429, 5xx, timeouts) through retries
            log.warning("/face in %s: D-ID unavailable: %s", key, exc.detail)
            return Line(messages.FACE_UNAVAILABLE)
        except UserFacingError as exc:
            log.info("/face in %s declined: %s", key, exc.detail)
            return exc.message
        return Line(FACE_SET)
