"""One answer said live: its sentences sent to the conversation's stream as the text streams in.

Sentences come from `SentenceStream` (complete, speech-ready, the same as the clip's script
would say), in order, each once the stream is live. Their pointers to the chat ("The code is in
the chat.") are in the language named when the first sentence is complete, as a clip's are: the
sentences so far are made again in it before the first is said. Each reserves its estimated
seconds against the daily budgets first and gives them back if D-ID refuses it. At
`max_seconds` of speech (AVATAR_MAX_SECONDS) the avatar ends as a clip's script does: "The rest
is in the chat." in the answer's language, counted within the cap, then nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

from core.avatar.answer_voice import AnswerVoices, Voicing
from core.avatar.live_session import LiveSession
from core.avatar.ports import AvatarStreams
from core.avatar.script import estimate_seconds, join_sentences, resolve_phrases
from core.avatar.stream import SentenceStream
from core.avatar.stream_budget import AnswerBudget
from core.avatar.streams import LiveStream, StreamError

log = logging.getLogger(__name__)

Outcome = Literal["spoken", "refused", "failed"]
# Told when the answer is done: its error, if any, and the seconds the avatar says.
Done = Callable[[LiveSession, StreamError | None, float], Awaitable[None]]


class LiveSpeaker:
    """Feeds an answer's pieces in; `run` (a named task of `LiveStreams`) says its sentences."""

    def __init__(
        self,
        client: AvatarStreams,
        session: LiveSession,
        *,
        budget: AnswerBudget | None,
        voices: AnswerVoices,
        question: str = "",
        max_seconds: float,
        connect_seconds: float,
        on_done: Done,
    ) -> None:
        self._client, self._session, self._budget, self._voices = client, session, budget, voices
        self._question = question  # tells a short answer's language, as for a clip
        self._max_seconds, self._connect_seconds, self._on_done = (
            max_seconds,
            connect_seconds,
            on_done,
        )
        self._sentences = SentenceStream()  # made again in the answer's language, once named
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._finished = asyncio.Event()
        self._text = ""  # the answer fed so far
        self._first = ""  # the answer as far as it came when its first sentence was complete
        self._flushed = False  # the answer is complete
        self._voicing: Voicing | None = None  # chosen at the first sentence, for the whole answer
        self._seconds = 0.0
        self._rest = ""  # "The rest is in the chat." in the answer's language
        self._held: list[str] = []  # sentences said only if the answer ends after them
        self._spoken: list[str] = []  # the answer's sentences said
        self._used = 0.0  # the estimated seconds of the sentences said and held
        self._capped = False
        self._cut_off = False  # the task ended before the answer did (the live avatar stopped)
        self.refusal: str | None = None  # the budget's line, when a limit stopped the avatar
        self.error: StreamError | None = None

    def feed(self, piece: str) -> None:
        """Add the next piece of the answer; complete sentences go to the stream in order."""
        self._text += piece
        self._queue_all(self._sentences.feed(piece))

    async def finish(self) -> Outcome:
        """Say the rest of the complete answer; wait until D-ID took every sentence.

        "failed": the live avatar did not say the answer, and a clip should.
        """
        self._queue_all(self._sentences.flush())
        self._flushed = True
        self._queue.put_nowait(None)
        await self._finished.wait()
        if self.error is not None or self._cut_off:
            return "failed"
        if self._capped and self._seconds == 0:
            return "failed"  # no room for its first sentence and the rest phrase: a clip cuts it
        return "refused" if self.refusal is not None else "spoken"

    def _queue_all(self, sentences: list[str]) -> None:
        if sentences and not self._first:
            self._first = self._text  # what tells the answer's language and voice
        for sentence in sentences:
            self._queue.put_nowait(sentence)

    async def run(self) -> None:
        """Say the sentences as they come, until the answer is finished (or the task cancelled)."""
        while (sentence := await self._queue.get()) is not None:
            if self._voicing is None:
                await self._choose()  # queues the sentences again, in the answer's language
            elif self._going:
                await self._next(sentence)
        for sentence in self._held:  # the answer ended: with them it fits the cap whole
            if self._going:
                await self._say(sentence)
        self._finished.set()
        await self._on_done(self._session, self.error, self._seconds)

    def ended(self, task: asyncio.Task[None]) -> None:
        """Hear that `run`'s task ended: an answer it did not finish (stopped) goes to a clip.

        A task cancelled before its first step never runs its body, so `run` cannot say this.
        """
        if not self._finished.is_set():
            self._cut_off = True
            self._finished.set()

    @property
    def _going(self) -> bool:
        """Whether the avatar still says the answer: no failure, limit or cap stopped it."""
        return self.error is None and self.refusal is None and not self._capped

    async def _next(self, sentence: str) -> None:
        """Say `sentence`, hold it, or end with the rest phrase: a clip's cut at the cap.

        A clip's script is the whole answer when it fits `max_seconds`, else the sentences that
        fit with the rest phrase after them (their summed estimates, and the joined text's),
        but for headings at their end, then the phrase. A heading is held until a sentence
        after it fits with the phrase (both said); a sentence that fits only without the phrase
        is held until the answer ends (said) or a next sentence passes the cap. Both fits only
        get harder as sentences come, so the held ones fit with the phrase only as headings.
        """
        self._used += estimate_seconds(sentence)  # summed in a clip's order, for its floats
        upto = [*self._spoken, *self._held, sentence]
        heading = sentence in self._sentences.headings
        if not heading and self._fits_with_rest(upto):
            held, self._held = self._held, []
            for said in [*held, sentence]:
                if self._going:
                    await self._say(said)
        elif estimate_seconds(join_sentences(upto)) <= self._max_seconds:
            self._held.append(sentence)
        else:
            self._capped, self._held = True, []
            if self._seconds > 0:  # else a clip says the first sentence, cut, and the phrase
                await self._say(self._rest)

    def _fits_with_rest(self, upto: list[str]) -> bool:
        """Tell whether a clip's cut keeps `upto`: the sentences so far, then the rest phrase."""
        if self._used > self._max_seconds - estimate_seconds(self._rest):
            return False
        return estimate_seconds(join_sentences([*upto, self._rest])) <= self._max_seconds

    async def _choose(self) -> None:
        """Name the answer's language and voice; make the sentences so far again in it.

        Nothing is said yet: the queue's sentences, their pointers in the script's language,
        are replaced by the same answer's in the named one, the end of the answer with them.
        """
        key = self._session.page.key
        self._voicing = await self._voices.choose(key, self._first, self._question)
        self._rest = resolve_phrases(self._first, self._voicing.language).rest
        self._sentences = SentenceStream(self._voicing.language)
        while not self._queue.empty():
            self._queue.get_nowait()
        again = self._sentences.feed(self._text)
        if self._flushed:
            again += self._sentences.flush()
        for sentence in again:
            self._queue.put_nowait(sentence)
        if self._flushed:
            self._queue.put_nowait(None)

    async def _say(self, sentence: str) -> None:
        assert self._voicing is not None  # chosen by `_choose` first
        seconds = estimate_seconds(sentence)
        stream = await self._stream()
        if stream is None:
            self.error = StreamError(None, "NotConnected", "the stream did not come up")
            return
        held = await self._budget.reserve(seconds) if self._budget is not None else None
        if isinstance(held, str):
            self.refusal = held
            return
        try:
            await self._client.speak(stream, sentence, self._voicing.voice)
        except StreamError as exc:
            log.warning("D-ID refused a sentence on stream %s: %s", stream.id, exc)
            # A sentence D-ID may be saying (its answer was lost) stays counted.
            if held is not None and self._budget is not None and not exc.unconfirmed:
                await self._budget.give_back(held)
            self.error = exc
            return
        self._seconds += seconds
        self._spoken.append(sentence)

    async def _stream(self) -> LiveStream | None:
        """Return the session's stream once it is live; None when it does not come up in time."""
        session = self._session
        if not session.live:
            try:
                await asyncio.wait_for(session.settled.wait(), self._connect_seconds)
            except TimeoutError:
                return None
        return session.stream  # None once the session ended
