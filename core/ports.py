"""Ports: the small roles the core depends on. Implementations live in core/ or adapters/."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from core.types import (
    Audio,
    AvatarFailed,
    AvatarJob,
    ChatMessage,
    ConversationKey,
    JobState,
    VideoReady,
)


class Transcriber(Protocol):
    """Turns audio into text."""

    async def transcribe(self, audio: Audio) -> str:
        """Return what was said in `audio`; raise a `UserFacingError` for bad input."""
        ...


class ChatModel(Protocol):
    """Streams an answer to a conversation."""

    def stream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        """Yield pieces of the answer to `messages` (system prompt first) as they arrive."""
        ...


class AvatarRenderer(Protocol):
    """Renders a talking-avatar video of a text (D-ID)."""

    async def submit(self, text: str) -> str:
        """Start a render and return its id."""
        ...

    async def wait(self, talk_id: str) -> str:
        """Wait until the render is done and return the URL of the video."""
        ...

    async def download(self, url: str) -> bytes:
        """Fetch the rendered video bytes."""
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
    """Per-chat switches such as `/avatar on|off`."""

    async def avatar_enabled(self, key: ConversationKey) -> bool | None:
        """Return the chat's avatar switch, or None when the chat never set it."""
        ...

    async def set_avatar_enabled(self, key: ConversationKey, enabled: bool) -> None:
        """Store the chat's avatar switch."""
        ...


class JobStore(Protocol):
    """Durable avatar jobs."""

    async def create(self, key: ConversationKey, text: str, target: str) -> AvatarJob:
        """Record a queued job before anything is sent to the renderer."""
        ...

    async def update(self, job: AvatarJob, state: JobState, **fields: str | None) -> AvatarJob:
        """Move a job to `state`, storing the given fields (talk_id, video_path, error)."""
        ...

    async def unfinished(self) -> list[AvatarJob]:
        """Jobs that are neither delivered nor failed, oldest first."""
        ...


class VideoDelivery(Protocol):
    """Delivers finished renders to one platform."""

    async def deliver_video(self, ready: VideoReady) -> None:
        """Send the video; raise if it could not be sent (the job is then retried)."""
        ...

    async def deliver_failure(self, failed: AvatarFailed) -> None:
        """Tell the user in one line that no video is coming."""
        ...
