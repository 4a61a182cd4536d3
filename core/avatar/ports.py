"""Ports of the avatar: the small `Protocol`s its renders, faces and live streams depend on.

Renders (D-ID) and their durable jobs, the budget they reserve, the platforms' video delivery, a
chat's face and its upload, and the live avatar's streams and pages. Implementations live in
core/avatar/, core/storage/ or adapters/.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from core.types import (
    AvatarFailed,
    AvatarJob,
    ConversationKey,
    Face,
    JobState,
    ScriptKind,
    VideoReady,
)

if TYPE_CHECKING:  # types only: the ports load neither the streams' httpx client nor aiosqlite
    from core.avatar.streams import LiveStream
    from core.limits import Reservation


class AvatarRenderer(Protocol):
    """Renders a talking-avatar video of a text (D-ID)."""

    async def submit(
        self, text: str, voice_id: str | None = None, source_url: str | None = None
    ) -> str:
        """Start a render of `text` spoken by `voice_id` with the face at `source_url`.

        None means the default voice or face. Returns the render's id.
        """
        ...

    async def wait(self, talk_id: str) -> str:
        """Wait until the render is done and return the URL of the video."""
        ...

    async def download(self, url: str) -> bytes:
        """Fetch the rendered video bytes."""
        ...


class JobStore(Protocol):
    """Durable avatar jobs."""

    async def create(
        self,
        key: ConversationKey,
        text: str,
        target: str,
        reservation: Reservation | None = None,
        *,
        voice_id: str | None = None,
        truncated: bool = False,
        source_url: str | None = None,
        script_kind: ScriptKind = "start",
    ) -> AvatarJob:
        """Record a queued job, held by this process, before anything is sent to the renderer.

        The job keeps `reservation`, so whichever process sees the render fail can refund it,
        the voice it is spoken in and the face it shows (None: the renderer's defaults).
        """
        ...

    async def update(self, job: AvatarJob, state: JobState, **fields: str | None) -> AvatarJob:
        """Move a job to `state`, storing the given fields (talk_id, video_path, error…)."""
        ...

    async def start_submit(self, job: AvatarJob) -> AvatarJob | None:
        """Mark a queued job as being sent to the renderer (submitted, no talk id yet), once.

        None when it is queued no more: another process took it since it was read. Marked
        before the renderer is called, so a job found so later (a crash, a lapsed lease) is
        known to have maybe been sent, and is never sent twice.
        """
        ...

    async def unfinished(self) -> list[AvatarJob]:
        """Jobs that are neither delivered nor failed, oldest first."""
        ...

    async def claim(self) -> list[AvatarJob]:
        """Take the unfinished jobs no live process holds (replicas: whose hold lapsed)."""
        ...

    async def renew(self) -> None:
        """Keep holding the unfinished jobs this process holds."""
        ...

    async def release(self) -> None:
        """Stop holding them (at a graceful stop) so another process can go on at once."""
        ...


class RenderBudget(Protocol):
    """The video budget renders reserve; D-ID bills no failed render, so its share comes back."""

    async def refund(self, job: AvatarJob) -> bool:
        """Give the job's reservation back, once however often asked; True when given now."""
        ...


class VideoDelivery(Protocol):
    """Delivers finished renders to one platform."""

    async def deliver_video(self, ready: VideoReady) -> None:
        """Send the video; raise if it could not be sent (the job is then retried)."""
        ...

    async def deliver_failure(self, failed: AvatarFailed) -> None:
        """Tell the user in one line that no video is coming."""
        ...


class FaceStore(Protocol):
    """Each chat's own avatar photo (`/face`), kept until `/face reset`; its topics share it."""

    async def face(self, key: ConversationKey) -> Face | None:
        """Return the chat's face, or None when it uses the default one."""
        ...

    async def face_upload(self, key: ConversationKey) -> Face | None:
        """Return the chat's face without its bytes (`image` empty): its URL and upload time.

        What a talk needs most of the time, without reading a photo of megabytes.
        """
        ...

    async def put_face(self, key: ConversationKey, face: Face) -> None:
        """Keep `face` as the chat's face, replacing any earlier one."""
        ...

    async def replace_face_url(
        self, key: ConversationKey, old_url: str | None, new_url: str, uploaded_at: datetime
    ) -> bool:
        """Store a new upload's URL for the chat's face if its URL is still `old_url`.

        False when the face was replaced or reset meanwhile (the new URL is then not its).
        """
        ...

    async def delete_face(self, key: ConversationKey) -> bool:
        """Forget the chat's face, bytes and all; False when it had none."""
        ...


class ImageUploader(Protocol):
    """Puts a photo where the avatar renderer can read it (D-ID's `POST /images`)."""

    async def upload_image(self, image: bytes, mime: str, filename: str) -> str:
        """Upload `image` and return the URL a render takes as its source."""
        ...


class AvatarStreams(Protocol):
    """The avatar's real-time streams (D-ID Agents Streams): opened, signalled, spoken, closed.

    Every call raises `core.avatar.streams.StreamError` when the service refuses or fails it.
    """

    async def create(self) -> LiveStream:
        """Open a stream; it comes with the service's SDP offer and ICE servers."""
        ...

    async def answer(self, stream: LiveStream, answer: dict[str, Any]) -> None:
        """Pass the page's SDP answer on."""
        ...

    async def ice(self, stream: LiveStream, candidate: dict[str, Any]) -> None:
        """Pass one of the page's ICE candidates on (an empty `candidate`: the last)."""
        ...

    async def speak(self, stream: LiveStream, text: str, voice_id: str) -> None:
        """Have the avatar say `text` on the stream, after what it is saying."""
        ...

    async def close(self, stream: LiveStream) -> None:
        """Close the stream (it stops being billed); one already gone is fine."""
        ...


class LivePage(Protocol):
    """A page showing a conversation's live avatar: where a stream's signalling goes.

    Hashable: the same page is the same key (one stream per page). Sending never raises once the
    page has gone.
    """

    @property
    def key(self) -> ConversationKey:
        """The conversation the page shows."""
        ...

    async def send_offer(
        self, stream: int, offer: dict[str, Any], ice_servers: tuple[dict[str, Any], ...]
    ) -> None:
        """Hand the page the service's SDP offer and ICE servers for stream number `stream`."""
        ...

    async def send_state(self, stream: int, state: str, line: str | None = None) -> None:
        """Tell the page where its stream is (opening, live, idle, closed, failed), and a line."""
        ...
