"""Ports of the conversation core: the small `Protocol`s it depends on, named by role.

Speech in and out, the chat model, history, preferences, the inbox, counters, voice delivery and
metrics. Implementations live in core/ or adapters/; the avatar's ports (renders, jobs, faces,
video delivery, the live avatar) are in core/avatar/ports.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Literal, Protocol, runtime_checkable

from core.limits import Charge
from core.types import (
    Audio,
    ChatMessage,
    ConversationKey,
    InboxEntry,
    ReplyMode,
    TokenUsage,
    Transcription,
    VoiceAudio,
    VoiceNote,
)

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
