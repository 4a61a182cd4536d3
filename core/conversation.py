"""The conversation engine: a turn goes in, transcript, streamed answer and failures come out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing

from core import messages
from core.avatar.jobs import AvatarJobs
from core.avatar.speech import SpeechWriter
from core.errors import BadInputError, ServiceError, UserFacingError
from core.i18n import Line, Number
from core.limits import AnswerHold, user_scope
from core.locks import KeyedLocks
from core.personas import Personas
from core.ports import ChatModel, HistoryStore, Metrics, NoMetrics, PreferenceStore, Transcriber
from core.prompts import ConversationSettings, Prompts
from core.quota import Quotas
from core.types import (
    AvatarJob,
    ChatMessage,
    ConversationKey,
    Event,
    Failure,
    FinalText,
    Notice,
    ReplyMode,
    Script,
    TextDelta,
    TokenUsage,
    Transcript,
    Turn,
)
from core.usage import LLM_TOKENS, Usage

log = logging.getLogger(__name__)

_OOPS = Line(messages.OOPS)


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
        personas: Personas | None = None,
        usage: Usage | None = None,
        vision: ChatModel | None = None,
    ) -> None:
        self._settings, self._history, self._preferences = settings, history, preferences
        self._transcriber, self._jobs = transcriber, jobs
        self._quotas, self._usage = quotas, usage
        self._speech = speech or SpeechWriter()
        self.personas = personas or Personas(settings.system_prompt)
        self._prompts = Prompts(settings, history, preferences, self.personas, model, vision)
        self._metrics = metrics or NoMetrics()
        self.locks = KeyedLocks()

    async def handle(self, turn: Turn) -> AsyncGenerator[Event, None]:
        """Answer one turn: yield the transcript, text deltas, then the final text or a failure."""
        arrived = time.monotonic()
        self._metrics.message(turn.key.platform)
        held = await self._admit(turn)
        if isinstance(held, Failure):
            yield held
            return
        answered = False
        try:
            async with aclosing(self._in_turn(turn, arrived)) as events:  # a stop frees the lock
                async for event in events:
                    answered = answered or isinstance(event, TextDelta | FinalText)
                    yield event
        finally:
            # Nothing the model said reached the user (it failed, or the input was refused).
            if held is not None and not answered and self._quotas is not None:
                await self._quotas.give_back_answer(held)

    async def _admit(self, turn: Turn) -> AnswerHold | Failure | None:
        """Pass the user's message rate, then hold one of today's model answers."""
        if self._quotas is None:
            return None
        refusal = await self._quotas.admit_message(user_scope(turn.key, turn.user_id))
        if refusal is None:
            held = await self._quotas.hold_answer()
            if not isinstance(held, str):
                return held
            refusal = held
        await self._quotas.note("refusals")
        self._metrics.refusal("messages")
        return Failure(refusal)

    async def _in_turn(self, turn: Turn, arrived: float) -> AsyncGenerator[Event, None]:
        """Run the turn in its conversation's order; a failure becomes one line for the user."""
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
        model, asked, question = self._prompts.for_input(text, turn.image)
        prompt = await self._prompts.messages(turn.key, asked)
        answer, used = "", list[TokenUsage]()
        async for piece in model.stream(prompt, on_usage=used.append):
            answer += piece
            yield TextDelta(piece, answer)
        answer = answer.strip()
        if not answer:
            await self._record_tokens(turn, used)
            raise ServiceError(Line("I couldn't come up with an answer — try asking another way."))
        # Groq reports the tokens with the last chunk; counted beside the history write.
        await asyncio.gather(
            self._history.append(turn.key, [question, ChatMessage("assistant", answer)]),
            self._record_tokens(turn, used),
        )
        yield FinalText(answer, language)

    async def _record_tokens(self, turn: Turn, used: list[TokenUsage]) -> None:
        """Count the tokens a call used for the user's /usage; counting never fails a turn."""
        if self._usage is None or not used:
            return
        try:
            await self._usage.record(
                user_scope(turn.key, turn.user_id), LLM_TOKENS, sum(u.total for u in used)
            )
        except Exception:
            log.exception("counting the tokens of a turn in %s failed", turn.key)

    async def reset(self, key: ConversationKey) -> None:
        """Forget the conversation's history (waits for a turn in progress to finish)."""
        async with self.locks.hold(key):
            await self._history.clear(key)

    @property
    def vision_available(self) -> bool:
        """Whether photos are answered (VISION_MODEL is set)."""
        return self._prompts.vision_available

    @property
    def video_paused(self) -> bool:
        """Whether avatar renders are paused now (D-ID out of credits, refusing our key, down)."""
        return self._jobs is not None and self._jobs.paused

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
        """Turn avatar videos on or off for the chat; survives a restart.

        Switching them on in a chat that chose `/reply text` makes its answers videos again.
        """
        await self._preferences.set_avatar_enabled(key, enabled)
        if enabled and await self._preferences.reply_mode(key) == "text":
            await self._preferences.set_reply_mode(key, "video")

    @property
    def default_reply_mode(self) -> ReplyMode:
        """How answers come where a chat never chose: video when D-ID is set up, else text."""
        return "video" if self._jobs is not None else "text"

    async def reply_mode(self, key: ConversationKey) -> ReplyMode:
        """How the chat's answers come (/reply): its choice, else the default.

        Text, not video, while the chat's avatar switch is off.
        """
        mode = await self._preferences.reply_mode(key) or self.default_reply_mode
        if mode == "video" and not await self.avatar_enabled(key):
            return "text"
        return mode

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
        if self._jobs is None or await self.reply_mode(key) != "video":
            return None
        return await self.render_video(key, text, target, user_id, language)

    async def render_video(
        self,
        key: ConversationKey,
        text: str,
        target: str,
        user_id: str = "",
        language: str | None = None,
    ) -> AvatarJob | Notice | None:
        """`render_avatar` for a chat whose reply mode is known to be video (not read again)."""
        if self._jobs is None:
            return None
        paused = self._jobs.pause_notice(key)
        if paused is not None:
            return Notice(paused) if paused else None
        asked = await self._prompts.question(key, text, language)
        speech = await self._speech.write(text, language, asked)
        if not speech.text:
            return None
        # The chat's own voice (/voice) speaks every answer, over the language's default.
        voice = await self._preferences.voice_id(key) or speech.voice_id
        script = Script(speech.text, voice, speech.truncated, speech.kind)
        if self._quotas is None:
            return await self._jobs.submit(key, script, target)
        scope = user_scope(key, user_id)
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
        """Today's usage in one line, for admins: videos, their seconds and D-ID credits.

        With MESSAGES_DAILY_LIMIT_TOTAL set, a second line: the model answers against it.
        """
        today = await self._quotas.today() if self._quotas is not None else {}
        rendering = self._jobs.running if self._jobs is not None else 0
        line = Line(
            messages.STATS,
            messages=today.get("messages", 0),
            renders=today.get("renders", 0),
            seconds=Number(today.get("render_ms", 0) / 1000, "#,##0.0"),
            credits=today.get("render_credits", 0),
            errors=today.get("errors", 0),
            refusals=today.get("refusals", 0),
            rendering=rendering,
        )
        limit = self._quotas.answers_limit if self._quotas is not None else None
        if limit is None:
            return line
        return Line(messages.STATS_ANSWERS, stats=line, answered=today["answers"], limit=limit)
