"""In-memory fakes of the core's ports, for the fast unit tier (tests/unit/).

Each keeps what it was given in plain lists and dicts and behaves as the port's contract says
(the store contract tests in tests/test_stores.py hold the real stores to the same contract).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from core.avatar.streams import LiveStream, StreamError
from core.errors import BadInputError, ServiceError, UserFacingError
from core.limits import Charge
from core.ports import UsageSink
from core.turn_ports import NoVideo
from core.types import (
    Audio,
    AvatarJob,
    ChatMessage,
    ConversationKey,
    Face,
    InboxEntry,
    ReplyMode,
    TokenUsage,
    Transcription,
    VoiceAudio,
    VoiceNote,
)

V = TypeVar("V")


class MemoryHistory:
    """HistoryStore: messages per conversation, in order."""

    def __init__(self) -> None:
        self.messages: dict[ConversationKey, list[ChatMessage]] = {}

    async def recent(self, key: ConversationKey, limit: int) -> list[ChatMessage]:
        return self.messages.get(key, [])[-limit:] if limit > 0 else []

    async def append(self, key: ConversationKey, messages: Sequence[ChatMessage]) -> None:
        self.messages.setdefault(key, []).extend(messages)

    async def clear(self, key: ConversationKey) -> None:
        self.messages.pop(key, None)


class MemoryPreferences:
    """PreferenceStore: each chat's choices (a chat's topics share them)."""

    def __init__(self) -> None:
        self.avatar: dict[tuple[str, str], bool] = {}
        self.personas: dict[tuple[str, str], str] = {}
        self.reply_modes: dict[tuple[str, str], ReplyMode] = {}
        self.voices: dict[tuple[str, str], str] = {}

    async def avatar_enabled(self, key: ConversationKey) -> bool | None:
        return self.avatar.get((key.platform, key.chat_id))

    async def set_avatar_enabled(self, key: ConversationKey, enabled: bool) -> None:
        self.avatar[(key.platform, key.chat_id)] = enabled

    async def persona(self, key: ConversationKey) -> str | None:
        return self.personas.get((key.platform, key.chat_id))

    async def set_persona(self, key: ConversationKey, persona: str | None) -> None:
        _put(self.personas, key, persona)

    async def reply_mode(self, key: ConversationKey) -> ReplyMode | None:
        return self.reply_modes.get((key.platform, key.chat_id))

    async def set_reply_mode(self, key: ConversationKey, mode: ReplyMode | None) -> None:
        _put(self.reply_modes, key, mode)

    async def voice_id(self, key: ConversationKey) -> str | None:
        return self.voices.get((key.platform, key.chat_id))

    async def set_voice_id(self, key: ConversationKey, voice_id: str | None) -> None:
        _put(self.voices, key, voice_id)


def _put(values: dict[tuple[str, str], V], key: ConversationKey, value: V | None) -> None:
    """Keep `value` for the chat of `key`; None forgets it."""
    if value is None:
        values.pop((key.platform, key.chat_id), None)
    else:
        values[(key.platform, key.chat_id)] = value


Reply = str | Callable[[Sequence[ChatMessage]], str]


class ScriptedModel:
    """ChatModel: streams `reply` word by word; `fail_next` raises a service error instead."""

    def __init__(self, reply: Reply = "Hello there.") -> None:
        self.reply = reply
        self.prompts: list[list[ChatMessage]] = []
        self.fail_next: ServiceError | None = None
        self.gate: asyncio.Event | None = None  # when set, each answer waits for it

    async def stream(
        self, messages: Sequence[ChatMessage], *, on_usage: UsageSink | None = None
    ) -> AsyncIterator[str]:
        self.prompts.append(list(messages))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        text = self.reply if isinstance(self.reply, str) else self.reply(messages)
        for index, word in enumerate(text.split(" ")):
            yield word if index == 0 else " " + word
        if on_usage is not None:  # a word a token, as the fake Groq counts them
            asked = sum(len(message.content.split()) for message in messages)
            on_usage(TokenUsage(asked, len(text.split())))


class ScriptedTranscriber:
    """Transcriber: hears what `heard` maps the audio's bytes to."""

    def __init__(self, heard: dict[bytes, Transcription] | None = None) -> None:
        self.heard = heard or {}
        self.calls: list[Audio] = []

    async def transcribe(self, audio: Audio) -> Transcription:
        self.calls.append(audio)
        if audio.data not in self.heard:
            raise BadInputError("I couldn't read that audio file — is it a voice recording?")
        return self.heard[audio.data]


@dataclass
class _Row:
    entry: InboxEntry
    answered: bool = False
    held: bool = True


class MemoryInbox:
    """Inbox: recorded messages, answered once; `claim_unanswered` takes the ones not held."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], _Row] = {}
        self._ids = 0

    async def record(self, platform: str, message_key: str, payload: str) -> bool:
        return bool(await self.record_many(platform, [(message_key, payload)]))

    async def record_many(self, platform: str, messages: Sequence[tuple[str, str]]) -> set[str]:
        new: set[str] = set()
        for key, payload in messages:
            if (platform, key) not in self.rows:
                self._ids += 1
                self.rows[(platform, key)] = _Row(InboxEntry(self._ids, platform, key, payload))
                new.add(key)
        return new

    async def answered(self, platform: str, message_key: str) -> None:
        if row := self.rows.get((platform, message_key)):
            row.answered = True

    async def is_answered(self, platform: str, message_key: str) -> bool:
        row = self.rows.get((platform, message_key))
        return row is not None and row.answered

    async def claim_unanswered(self, platform: str) -> list[InboxEntry]:
        found = [
            row
            for (where, _), row in sorted(self.rows.items(), key=lambda item: item[1].entry.id)
            if where == platform and not row.answered and not row.held
        ]
        for row in found:
            row.held = True
        return [row.entry for row in found]

    async def renew(self) -> None:
        """Nothing lapses in memory."""

    async def release(self) -> None:
        for row in self.rows.values():
            row.held = False

    async def last_key(self, platform: str) -> str | None:
        keys = [row.entry for (where, _), row in self.rows.items() if where == platform]
        return max(keys, key=lambda entry: entry.id).message_key if keys else None

    def unanswered(self, platform: str) -> list[str]:
        return [k for (p, k), row in self.rows.items() if p == platform and not row.answered]


class MemoryCounters:
    """Counters: per (period, scope, name); `add_within` is all-or-nothing."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], int] = {}

    async def add(self, period: str, scope: str, name: str, amount: int = 1) -> int:
        key = (period, scope, name)
        self.counts[key] = max(0, self.counts.get(key, 0) + amount)
        return self.counts[key]

    async def add_many(self, rows: list[tuple[str, str, str]]) -> list[int]:
        return [await self.add(*row) for row in rows]

    async def add_within(self, charges: Sequence[Charge]) -> int | None:
        for index, charge in enumerate(charges):
            now = self.counts.get((charge.period, charge.scope, charge.name), 0)
            if (
                charge.limit is not None
                and charge.amount > 0
                and now + charge.amount > charge.limit
            ):
                return index
        for charge in charges:
            await self.add(charge.period, charge.scope, charge.name, charge.amount)
        return None

    async def get(self, period: str, scope: str, name: str) -> int:
        return self.counts.get((period, scope, name), 0)

    async def prune(self, before: str) -> None:
        for key in [key for key in self.counts if key[0] < before]:
            del self.counts[key]


class ScriptedSpeaker:
    """Speaker: English and Arabic, an OGG-looking note per text; `error` makes it raise."""

    def __init__(self) -> None:
        self.read: list[tuple[str, str | None]] = []
        self.error: Exception | None = None

    def speaks(self, language: str | None) -> bool:
        return language in (None, "en", "ar")

    async def speak(self, text: str, language: str | None = None) -> VoiceAudio:
        if self.error is not None:
            raise self.error
        self.read.append((text, language))
        return VoiceAudio(b"OggS" + text.encode(), seconds=len(text) / 15)


class MemoryVoiceDelivery:
    """VoiceDelivery: keeps the notes it was given; `fail` makes the next ones raise."""

    def __init__(self) -> None:
        self.notes: list[VoiceNote] = []
        self.fail: list[Exception] = []

    async def deliver_voice(self, note: VoiceNote) -> None:
        if self.fail:
            raise self.fail.pop(0)
        self.notes.append(note)


@dataclass
class RecordingView:
    """View: records what it was asked to show; `fail` names the steps that raise."""

    shown: list[tuple[str, str]] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)  # step → how many more times it raises
    target: str | NoVideo = "answer-1"

    def _step(self, step: str, text: str) -> None:
        if self.fail.get(step, 0) > 0:
            self.fail[step] -= 1
            raise ConnectionError(f"{step} refused")
        self.shown.append((step, text))

    async def transcript(self, text: str) -> None:
        self._step("transcript", text)

    async def partial(self, text: str) -> None:
        self._step("partial", text)

    async def final(self, text: str) -> str | NoVideo:
        self._step("final", text)
        return self.target

    async def plain(self, text: str) -> str | NoVideo:
        self._step("plain", text)
        return self.target

    async def failure(self, message: str) -> None:
        self._step("failure", message)

    async def notice(self, message: str) -> None:
        self._step("notice", message)

    async def rendering(self, job: AvatarJob) -> None:
        self._step("rendering", str(job.id))

    def steps(self, step: str) -> list[str]:
        return [text for name, text in self.shown if name == step]


class MemoryPlatform:
    """Platform: payloads are `chat|user|text` (text `audio:<bytes>` is a voice message).

    Text starting with `/` is a command the platform carries out itself (noted in `commands`).
    """

    name = "memory"

    def __init__(self) -> None:
        self.views: dict[str, RecordingView] = {}
        self.decline: dict[str, str] = {}  # message key → the line declining it
        self.decode_gate: dict[str, asyncio.Event] = {}  # message key → decode waits for it
        self.commands: list[str] = []  # the commands carried out, in order

    def key(self, entry: InboxEntry) -> ConversationKey:
        return ConversationKey(self.name, entry.payload.split("|")[0])

    async def turn(self, entry: InboxEntry) -> Any:
        from core.turn_ports import Declined
        from core.types import Turn

        if gate := self.decode_gate.get(entry.message_key):
            await gate.wait()
        if line := self.decline.get(entry.message_key):
            raise Declined(line)
        chat, user, text = entry.payload.split("|", 2)
        key = ConversationKey(self.name, chat)
        if text.startswith("/"):
            self.commands.append(text)
            return None
        if text.startswith("audio:"):
            audio = Audio(text.removeprefix("audio:").encode(), "audio/ogg", "voice.ogg")
            return Turn(key, user, audio=audio)
        return Turn(key, user, text=text)

    def view(self, entry: InboxEntry) -> RecordingView:
        return self.views.setdefault(entry.message_key, RecordingView())


class MemoryFaces:
    """FaceStore: each chat's face (a chat's topics share it)."""

    def __init__(self) -> None:
        self.faces: dict[tuple[str, str], Face] = {}
        self.photo_reads = 0  # reads of a face with its bytes

    async def face(self, key: ConversationKey) -> Face | None:
        self.photo_reads += 1
        return self.faces.get((key.platform, key.chat_id))

    async def face_upload(self, key: ConversationKey) -> Face | None:
        face = self.faces.get((key.platform, key.chat_id))
        return None if face is None else replace(face, image=b"")

    async def put_face(self, key: ConversationKey, face: Face) -> None:
        self.faces[(key.platform, key.chat_id)] = face

    async def replace_face_url(
        self, key: ConversationKey, old_url: str | None, new_url: str, uploaded_at: datetime
    ) -> bool:
        face = self.faces.get((key.platform, key.chat_id))
        if face is None or face.url != old_url:
            return False
        self.faces[(key.platform, key.chat_id)] = replace(
            face, url=new_url, uploaded_at=uploaded_at
        )
        return True

    async def delete_face(self, key: ConversationKey) -> bool:
        return self.faces.pop((key.platform, key.chat_id), None) is not None


class MemoryUploader:
    """ImageUploader: numbered URLs for what it is given; `fail` makes the next uploads fail."""

    def __init__(self) -> None:
        self.uploads: list[tuple[bytes, str, str]] = []
        self.fail: UserFacingError | None = None

    async def upload_image(self, image: bytes, mime: str, filename: str) -> str:
        if self.fail is not None:
            raise self.fail
        self.uploads.append((image, mime, filename))
        return f"s3://uploads/{len(self.uploads)}/{filename}"


class MemoryAvatarStreams:
    """AvatarStreams: streams as records; `refuse` holds the errors the next calls raise.

    `refuse["create"]` (or "speak", …) lists StreamErrors raised by the next calls of that name,
    as D-ID answers a refused call (tests/fakes/did_streams.py plays the wire itself).
    """

    def __init__(self) -> None:
        self.created: list[LiveStream] = []
        self.signals: list[tuple[str, str, dict[str, Any]]] = []  # (call, stream id, value)
        self.spoken: list[tuple[str, str, str]] = []  # (stream id, text, voice)
        self.closed: list[str] = []
        self.refuse: dict[str, list[StreamError]] = {}

    def _refused(self, call: str) -> None:
        if self.refuse.get(call):
            raise self.refuse[call].pop(0)

    @property
    def open(self) -> list[str]:
        """The ids of the streams created and not closed."""
        return [s.id for s in self.created if s.id not in self.closed]

    async def create(self) -> LiveStream:
        self._refused("create")
        number = len(self.created) + 1
        offer = {"type": "offer", "sdp": f"v=0 stream {number}"}
        stream = LiveStream(f"strm_{number}", f"AWSALB={number}", offer, ({"urls": "stun:x"},))
        self.created.append(stream)
        return stream

    async def answer(self, stream: LiveStream, answer: dict[str, Any]) -> None:
        self._refused("answer")
        self.signals.append(("answer", stream.id, answer))

    async def ice(self, stream: LiveStream, candidate: dict[str, Any]) -> None:
        self._refused("ice")
        self.signals.append(("ice", stream.id, candidate))

    async def speak(self, stream: LiveStream, text: str, voice_id: str) -> None:
        self._refused("speak")
        if stream.id in self.closed:
            raise StreamError(404, "NotFoundError", "stream closed")
        self.spoken.append((stream.id, text, voice_id))

    async def close(self, stream: LiveStream) -> None:
        self._refused("close")
        self.closed.append(stream.id)


@dataclass(eq=False)
class MemoryLivePage:
    """LivePage: one page of a conversation, hashed by identity; records what it was sent."""

    key: ConversationKey
    offers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    states: list[tuple[int, str, str | None]] = field(default_factory=list)

    async def send_offer(
        self, stream: int, offer: dict[str, Any], ice_servers: tuple[dict[str, Any], ...]
    ) -> None:
        self.offers.append((stream, offer))

    async def send_state(self, stream: int, state: str, line: str | None = None) -> None:
        self.states.append((stream, state, line))

    @property
    def state(self) -> str:
        """The last state the page was told ("" before any)."""
        return self.states[-1][1] if self.states else ""


@dataclass
class SpokenRecordingView(RecordingView):
    """SpokenView: a RecordingView that also records that the live avatar said the answer."""

    async def spoken(self) -> None:
        self._step("spoken", "")
