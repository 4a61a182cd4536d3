"""Ports: the small roles the core depends on. Implementations live in core/ or adapters/."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from core.types import (
    Audio,
    AvatarFailed,
    AvatarJob,
    ChatMessage,
    ConversationKey,
    Face,
    InboxEntry,
    JobState,
    ReplyMode,
    TokenUsage,
    Transcription,
    VideoReady,
    VoiceAudio,
    VoiceNote,
)

if TYPE_CHECKING:  # core.quota implements Counters, so it imports this module at run time
    from core.avatar.streams import LiveStream
    from core.quota import Charge, Reservation


UsageSink = Callable[[TokenUsage], None]


class Transcriber(Protocol):
    """Turns audio into text."""

    async def transcribe(self, audio: Audio) -> Transcription:
        """Return what was said in `audio` and its language; a `UserFacingError` on bad input."""
        ...


class ChatModel(Protocol):
    """Streams an answer to a conversation."""

    def stream(
        self, messages: Sequence[ChatMessage], *, on_usage: UsageSink | None = None
    ) -> AsyncIterator[str]:
        """Yield pieces of the answer to `messages` (system prompt first) as they arrive.

        `on_usage` hears the tokens the call used, once, when the service reports them.
        """
        ...


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


class Speaker(Protocol):
    """Reads a text aloud (text-to-speech), in a voice for its language."""

    def speaks(self, language: str | None) -> bool:
        """Whether it has a voice for `language` (ISO 639-1; None: the default voice)."""
        ...

    async def speak(self, text: str, language: str | None = None) -> VoiceAudio:
        """Return `text` spoken, as OGG/Opus; a `UserFacingError` when it cannot be made."""
        ...


class HistoryStore(Protocol):
    """Per-conversation message history."""

    async def recent(self, key: ConversationKey, limit: int) -> list[ChatMessage]:
        """Return the last `limit` messages, oldest first."""
        ...

    async def append(self, key: ConversationKey, messages: Sequence[ChatMessage]) -> None:
        """Store messages at the end of the conversation, in one transaction."""
        ...

    async def clear(self, key: ConversationKey) -> None:
        """Forget the conversation."""
        ...


class PreferenceStore(Protocol):
    """What each chat chose; a chat's topics share it. None: never chosen, the default applies."""

    async def avatar_enabled(self, key: ConversationKey) -> bool | None:
        """Return the chat's avatar switch (`/avatar on|off`), or None when never set."""
        ...

    async def set_avatar_enabled(self, key: ConversationKey, enabled: bool) -> None:
        """Store the chat's avatar switch."""
        ...

    async def persona(self, key: ConversationKey) -> str | None:
        """Return the chat's persona (free text or a PERSONAS name), or None for the default."""
        ...

    async def set_persona(self, key: ConversationKey, persona: str | None) -> None:
        """Store the chat's persona; None goes back to the default."""
        ...

    async def reply_mode(self, key: ConversationKey) -> ReplyMode | None:
        """Return how the chat wants its answers (`/reply`), or None for the default."""
        ...

    async def set_reply_mode(self, key: ConversationKey, mode: ReplyMode | None) -> None:
        """Store how the chat wants its answers; None goes back to the default."""
        ...

    async def voice_id(self, key: ConversationKey) -> str | None:
        """Return the D-ID voice the chat chose (`/voice`), or None for the language's default."""
        ...

    async def set_voice_id(self, key: ConversationKey, voice_id: str | None) -> None:
        """Store the chat's D-ID voice; None goes back to the language's default."""
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
    ) -> AvatarJob:
        """Record a queued job, held by this process, before anything is sent to the renderer.

        The job keeps `reservation`, so whichever process sees the render fail can refund it,
        the voice it is spoken in and the face it shows (None: the renderer's defaults).
        """
        ...

    async def update(self, job: AvatarJob, state: JobState, **fields: str | None) -> AvatarJob:
        """Move a job to `state`, storing the given fields (talk_id, video_path, error…)."""
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


@runtime_checkable
class VoiceDelivery(Protocol):
    """Delivers voice answers to one platform (a platform's video delivery may be one too)."""

    async def deliver_voice(self, note: VoiceNote) -> None:
        """Send the voice note as a reply to the answer; raise if it could not be sent."""
        ...


Outcome = Literal["answered", "failed"]
RenderState = Literal["submitted", "delivered", "failed"]
Limit = Literal["messages", "renders"]


class Metrics(Protocol):
    """Counts and times what the bot does, for monitoring. Calls are cheap and never raise."""

    def message(self, platform: str) -> None:
        """Count a turn arriving from `platform`."""
        ...

    def first_text(self, platform: str, seconds: float) -> None:
        """Time the first piece of an answer, `seconds` after its turn arrived."""
        ...

    def answer(self, platform: str, outcome: Outcome, seconds: float) -> None:
        """Count a turn that ended `answered` or `failed`, `seconds` after it arrived."""
        ...

    def render(self, state: RenderState, seconds: float | None = None) -> None:
        """Count an avatar job reaching `state`; `seconds` from its submit to D-ID, when known."""
        ...

    def retry(self, service: str) -> None:
        """Count a call to `service` that failed in a way our client retries."""
        ...

    def refusal(self, limit: Limit) -> None:
        """Count a message or a video refused by a limit (`messages` or `renders`)."""
        ...


class NoMetrics:
    """Measures nothing: the default where no metrics are wanted."""

    def message(self, platform: str) -> None:
        """Ignore the message."""

    def first_text(self, platform: str, seconds: float) -> None:
        """Ignore the timing."""

    def answer(self, platform: str, outcome: Outcome, seconds: float) -> None:
        """Ignore the answer."""

    def render(self, state: RenderState, seconds: float | None = None) -> None:
        """Ignore the render."""

    def retry(self, service: str) -> None:
        """Ignore the retry."""

    def refusal(self, limit: Limit) -> None:
        """Ignore the refusal."""


class Inbox(Protocol):
    """Accepted messages, written down before they are acknowledged, answered once."""

    async def record(self, platform: str, message_key: str, payload: str) -> bool:
        """Write a message down; False when it was already recorded (a redelivery)."""
        ...

    async def record_many(self, platform: str, messages: Sequence[tuple[str, str]]) -> set[str]:
        """Write (key, payload) pairs down at once; return the keys that were not recorded yet."""
        ...

    async def answered(self, platform: str, message_key: str) -> None:
        """Mark a message answered: it is not replayed."""
        ...

    async def is_answered(self, platform: str, message_key: str) -> bool:
        """Whether the message was answered already."""
        ...

    async def claim_unanswered(self, platform: str) -> list[InboxEntry]:
        """Take the messages recorded but not answered that no running process holds."""
        ...

    async def renew(self) -> None:
        """Keep holding the messages this process recorded or took and has not answered."""
        ...

    async def release(self) -> None:
        """Stop holding them (this process stops): another may take them over at once."""
        ...

    async def last_key(self, platform: str) -> str | None:
        """Return the newest recorded key."""
        ...


class Counters(Protocol):
    """Named counters per period and scope."""

    async def add(self, period: str, scope: str, name: str, amount: int = 1) -> int:
        """Add `amount` and return the new count."""
        ...

    async def add_many(self, rows: list[tuple[str, str, str]]) -> list[int]:
        """Add one to each (period, scope, name); return the new counts."""
        ...

    async def add_within(self, charges: Sequence[Charge]) -> int | None:
        """Add every charge, or none when one would pass its limit, atomically.

        Atomic also across processes and across calls interleaving on the event loop. Returns
        None when added, else the index of a charge refused. A negative amount takes back,
        never below zero. Each counter appears once per call.
        """
        ...

    async def get(self, period: str, scope: str, name: str) -> int:
        """Return the count (0 when never counted)."""
        ...

    async def prune(self, before: str) -> None:
        """Forget periods that sort before `before`."""
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
