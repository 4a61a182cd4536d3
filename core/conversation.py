"""The conversation engine: a turn goes in, transcript, streamed answer and failures come out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from core.avatar.jobs import AvatarJobs
from core.avatar.speech import SpeechWriter
from core.errors import BadInputError, ServiceError, UserFacingError
from core.i18n import Line
from core.ports import ChatModel, HistoryStore, Metrics, NoMetrics, PreferenceStore, Transcriber
from core.quota import Quotas
from core.types import (
    AvatarJob,
    ChatMessage,
    ConversationKey,
    Event,
    Failure,
    FinalText,
    Notice,
    Script,
    TextDelta,
    Transcript,
    Turn,
)

log = logging.getLogger(__name__)

_OOPS = Line("Something went wrong on my side — please try again.")


@dataclass(frozen=True, slots=True)
class ConversationSettings:
    """How the engine talks: persona, history window, input limit, avatar default."""

    system_prompt: str
    history_limit: int = 20
    max_text_chars: int = 4000
    avatar_default: bool = True


class KeyedLocks:
    """One lock per conversation, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[ConversationKey, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: ConversationKey) -> AsyncIterator[None]:
        """Hold the conversation's lock; turns of one conversation run one after another."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class Conversations:
    """Answers turns with history, in order per conversation and concurrently across them."""

    def __init__(
        self,
        *,
        settings: ConversationSettings,
        history: HistoryStore,
        preferences: PreferenceStore,
        model: ChatModel,
        transcriber: Transcriber | None,
        jobs: AvatarJobs | None,
        quotas: Quotas | None = None,
        metrics: Metrics | None = None,
        speech: SpeechWriter | None = None,
    ) -> None:
        self._settings, self._history, self._preferences = settings, history, preferences
        self._model, self._transcriber, self._jobs = model, transcriber, jobs
        self._quotas = quotas
        self._speech = speech or SpeechWriter()
        self._metrics = metrics or NoMetrics()
        self.locks = KeyedLocks()

    async def handle(self, turn: Turn) -> AsyncGenerator[Event, None]:
        """Answer one turn: yield the transcript, text deltas, then the final text or a failure."""
        arrived = time.monotonic()
        self._metrics.message(turn.key.platform)
        if self._quotas is not None:
            refusal = await self._quotas.admit_message(_user_scope(turn.key, turn.user_id))
            if refusal is not None:
                await self._quotas.note("refusals")
                self._metrics.refusal("messages")
                yield Failure(refusal)
                return
        async with self.locks.hold(turn.key):
            try:
                async for event in self._timed(turn, arrived):
                    yield event
            except UserFacingError as exc:
                log.info("turn in %s failed: %s", turn.key, exc.detail)
                if isinstance(exc, ServiceError):
                    await self._note("errors")
                yield self._failed(turn, arrived, exc.message)
            except Exception:
                log.exception("turn in %s crashed", turn.key)
                await self._note("errors")
                yield self._failed(turn, arrived, _OOPS)

    async def _note(self, name: str) -> None:
        if self._quotas is not None:
            await self._quotas.note(name)

    def _failed(self, turn: Turn, arrived: float, message: str) -> Failure:
        self._metrics.answer(turn.key.platform, "failed", time.monotonic() - arrived)
        return Failure(message)

    async def _timed(self, turn: Turn, arrived: float) -> AsyncGenerator[Event, None]:
        """`_answer`, timed from the turn's arrival to its first text and to its final text."""
        platform, first = turn.key.platform, True
        async for event in self._answer(turn):
            if isinstance(event, TextDelta) and first:
                first = False
                self._metrics.first_text(platform, time.monotonic() - arrived)
            elif isinstance(event, FinalText):
                self._metrics.answer(platform, "answered", time.monotonic() - arrived)
            yield event

    async def _answer(self, turn: Turn) -> AsyncGenerator[Event, None]:
        text, language = turn.text, None
        if turn.audio is not None:
            if self._transcriber is None:
                raise BadInputError(Line("I can only read text here."))
            heard = await self._transcriber.transcribe(turn.audio)
            text, language = heard.text, heard.language
            yield Transcript(text, language)
        question = self._checked(text)
        past = await self._history.recent(turn.key, self._settings.history_limit)
        prompt = [ChatMessage("system", self._settings.system_prompt), *past, question]
        answer = ""
        async for piece in self._model.stream(prompt):
            answer += piece
            yield TextDelta(piece, answer)
        answer = answer.strip()
        if not answer:
            raise ServiceError(Line("I couldn't come up with an answer — try asking another way."))
        await self._history.append(turn.key, [question, ChatMessage("assistant", answer)])
        yield FinalText(answer, language)

    def _checked(self, text: str | None) -> ChatMessage:
        text = (text or "").strip()
        if not text:
            raise BadInputError(Line("Send me a message or a voice note and I'll answer."))
        limit = self._settings.max_text_chars
        if len(text) > limit:
            too_long = "That's too long for me — please keep it under {limit} characters."
            raise BadInputError(Line(too_long, limit=limit))
        return ChatMessage("user", text)

    async def reset(self, key: ConversationKey) -> None:
        """Forget the conversation's history (waits for a turn in progress to finish)."""
        async with self.locks.hold(key):
            await self._history.clear(key)

    @property
    def avatar_available(self) -> bool:
        """Whether avatar videos can be made at all (a D-ID key is configured and enabled)."""
        return self._jobs is not None

    async def avatar_enabled(self, key: ConversationKey) -> bool:
        """Return the chat's avatar switch, falling back to the configured default."""
        if self._jobs is None:
            return False
        chosen = await self._preferences.avatar_enabled(key)
        return self._settings.avatar_default if chosen is None else chosen

    async def set_avatar(self, key: ConversationKey, enabled: bool) -> None:
        """Turn avatar videos on or off for the chat; survives a restart."""
        await self._preferences.set_avatar_enabled(key, enabled)

    async def render_avatar(
        self,
        key: ConversationKey,
        text: str,
        target: str,
        user_id: str = "",
        language: str | None = None,
    ) -> AvatarJob | Notice | None:
        """Start a durable avatar job for an answer already delivered, if the chat wants one.

        The video says the answer's spoken script (`SpeechWriter`: speech-ready, capped, in a
        voice for its language; `language` is the one Whisper heard in a voice turn), and its
        estimated seconds are reserved against the daily video budgets before D-ID is asked.
        Returns a `Notice` for the user when a quota is used up or renders are paused, and None
        when no video is wanted (or the pause was already explained in this conversation).
        """
        if self._jobs is None or not await self.avatar_enabled(key):
            return None
        paused = self._jobs.pause_notice(key)
        if paused is not None:
            return Notice(paused) if paused else None
        speech = await self._speech.write(text, language)
        if not speech.text:
            return None
        script = Script(speech.text, speech.voice_id, speech.truncated)
        if self._quotas is None:
            return await self._jobs.submit(key, script, target)
        scope = _user_scope(key, user_id)
        reservation = await self._quotas.reserve_render(scope, speech.seconds)
        if isinstance(reservation, str):
            await self._quotas.note("refusals")
            self._metrics.refusal("renders")
            return Notice(reservation)
        try:
            return await self._jobs.submit(key, script, target, reservation)
        except Exception:
            await self._quotas.release(reservation)  # no job was recorded to hold it
            raise

    async def stats(self) -> str:
        """Today's usage in one line, for admins: videos, their seconds and D-ID credits."""
        today = await self._quotas.today() if self._quotas is not None else {}
        rendering = self._jobs.running if self._jobs is not None else 0
        seconds = today.get("render_ms", 0) / 1000
        return (
            f"Today (UTC): {today.get('messages', 0)} messages, {today.get('renders', 0)} videos "
            f"of {seconds:.1f} s in all (≈ {today.get('render_credits', 0)} D-ID credits), "
            f"{today.get('errors', 0)} errors, {today.get('refusals', 0)} refused over limits; "
            f"{rendering} videos rendering now."
        )


def _user_scope(key: ConversationKey, user_id: str) -> str:
    return f"{key.platform}:{user_id or key.chat_id}"
