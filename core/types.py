"""Core value types: what goes into the core and what comes out of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal, get_args


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """One conversation: a private chat, a group, or one topic/thread inside a group."""

    platform: str
    chat_id: str
    thread_id: str = ""

    def __str__(self) -> str:
        suffix = f"/{self.thread_id}" if self.thread_id else ""
        return f"{self.platform}:{self.chat_id}{suffix}"


@dataclass(frozen=True, slots=True)
class Audio:
    """Audio bytes as received, with the MIME type and file name the platform gave."""

    data: bytes = field(repr=False)
    mime_type: str = "application/octet-stream"
    filename: str = "audio"


@dataclass(frozen=True, slots=True)
class Image:
    """A photo as received (JPEG, PNG, WebP or GIF bytes), for a vision model to look at."""

    data: bytes = field(repr=False)
    mime_type: str = "image/jpeg"


@dataclass(frozen=True, slots=True)
class Turn:
    """One incoming message: text, audio to transcribe first, or a photo with its caption.

    `locale`: the language the bot's own lines are said in (core/i18n.py: "en", "de", "pt_BR").
    """

    key: ConversationKey
    user_id: str
    text: str | None = None
    audio: Audio | None = None
    image: Image | None = None  # `text` is then the caption (the question), if any
    locale: str = "en"


# What a script of a long (truncated) answer says: its start, or the model's spoken summary.
ScriptKind = Literal["start", "summary"]
SCRIPT_KINDS: tuple[ScriptKind, ...] = get_args(ScriptKind)


@dataclass(frozen=True, slots=True)
class Script:
    """What an avatar video says: speech-ready text, its voice, and whether it cut the answer.

    `kind`: what a truncated script says, so the video's caption tells it right.
    """

    text: str
    voice_id: str | None = None
    truncated: bool = False
    kind: ScriptKind = "start"


@dataclass(frozen=True, slots=True)
class Transcription:
    """What a transcriber heard, and the language it heard it in (ISO 639-1, when known)."""

    text: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Transcript:
    """What Whisper heard in the turn's audio; `language` as in `Transcription`."""

    text: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer as it streams in; `text` is the whole answer so far."""

    delta: str
    text: str


@dataclass(frozen=True, slots=True)
class FinalText:
    """The complete answer, already stored in the history.

    `language`: the one Whisper heard when the turn was a voice message (ISO 639-1), else None.
    """

    text: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """The tokens one model call used, as the service reported them."""

    input_tokens: int
    output_tokens: int

    @property
    def total(self) -> int:
        """Input and output tokens together."""
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Failure:
    """Something went wrong; `message` is one short line meant for the user."""

    message: str


Event = Transcript | TextDelta | FinalText | Failure

# How a chat's answers come besides the text (/reply): a talking-avatar video, a voice note, or
# the text alone.
ReplyMode = Literal["video", "voice", "text"]
REPLY_MODES: tuple[ReplyMode, ...] = get_args(ReplyMode)


class JobState(StrEnum):
    """Lifecycle of an avatar render job."""

    QUEUED = "queued"
    SUBMITTED = "submitted"
    RENDERED = "rendered"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AvatarJob:
    """A durable avatar render: the answer text, where to deliver it, and how far it got.

    `reserved_*`: the video budget it holds (core/limits.py), given back if D-ID fails it.
    """

    id: int
    key: ConversationKey
    text: str
    target: str
    state: JobState
    talk_id: str | None = None
    video_path: str | None = None
    error: str | None = None
    reserved_day: str | None = None  # the UTC day (YYYY-MM-DD) the budget counts on
    reserved_scope: str | None = None  # whose budget: the user's quota scope
    reserved_ms: int = 0  # milliseconds of video reserved
    voice_id: str | None = None  # the voice that speaks it; None: the renderer's default
    truncated: bool = False  # the answer was longer than the video: the rest is in the text
    source_url: str | None = None  # the face it was asked with (/face); None: DID_SOURCE_URL
    script_kind: ScriptKind = "start"  # a truncated script says the start or a summary


@dataclass(frozen=True, slots=True)
class VideoReady:
    """A rendered avatar video, saved locally, ready for the adapter to send."""

    job: AvatarJob
    path: Path


@dataclass(frozen=True, slots=True)
class AvatarFailed:
    """A render that will not produce a video; `message` is one short line for the user."""

    job: AvatarJob
    message: str


@dataclass(frozen=True, slots=True)
class VoiceAudio:
    """Speech made by text-to-speech: OGG/Opus bytes and how many seconds they last."""

    data: bytes = field(repr=False)
    seconds: float


@dataclass(frozen=True, slots=True)
class VoiceNote:
    """A voice answer saved locally (OGG/Opus), ready for the adapter to send.

    `target` is where the text answer went (the voice note replies to it); `caption` a line
    that goes with it (the video could not be made, or the note says only the start).
    """

    key: ConversationKey
    target: str
    path: Path
    seconds: float
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """One line for the user about their avatar video: a quota reached, the service paused."""

    message: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One stored history entry; `image` rides along only in the prompt, never in history."""

    role: str
    content: str
    image: Image | None = None


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """A recorded message: the adapter's payload to answer it again after a restart."""

    id: int
    platform: str
    message_key: str
    payload: str


@dataclass(frozen=True, slots=True)
class Face:
    """A chat's own avatar photo (`/face`): its bytes and type, and D-ID's copy of it.

    `url` is where D-ID keeps the latest upload of it (deleted there 24-48 h later) and
    `uploaded_at` when that upload was made, in UTC; both None until it is uploaded.
    """

    image: bytes
    mime: str
    url: str | None = None
    uploaded_at: datetime | None = None
