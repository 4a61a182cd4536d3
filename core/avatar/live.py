"""The live avatar: one real-time stream per page, which says its conversation's answers.

A page asks for a stream (`open`); it is opened at the streaming service with the server's key
(the key never reaches the page), the page gets the service's SDP offer and ICE servers through
its `LivePage`, and its answer and ICE candidates are relayed back. Media flow straight from
the service to the page. One stream per conversation speaks its answers (the newest page's);
at most `max_streams` are open at once, `max_per_owner` of them for one owner (a client address:
a fresh conversation per tab must not hold them all). A stream that does not connect within
`connect_seconds`, or fails, is closed and the page is told in one line; the answers' videos
then come as clips. A stream idle for `idle_seconds` (no turn) is closed and reopened by the
page with its next message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from core.avatar.answer_voice import AnswerVoices
from core.avatar.live_session import LiveSession, tag
from core.avatar.live_speaker import LiveSpeaker
from core.avatar.ports import AvatarStreams, LivePage
from core.avatar.stream_budget import StreamBudget
from core.avatar.streams import LiveStream, StreamError
from core.i18n import Line
from core.limits import user_scope
from core.types import ConversationKey

log = logging.getLogger(__name__)

AvatarMode = Literal["stream", "clip", "auto"]
NO_CONNECTION = Line("The live avatar couldn't connect — videos come as clips instead.")
ALL_IN_USE = Line("All live avatars are in use right now — videos come as clips instead.")
MOVED = Line("The live avatar moved to your other tab.")
CLOSE_TIMEOUT = 5.0
# A signalling step: one call of the streaming service with the page's value.
Step = tuple[Callable[[LiveStream, dict[str, Any]], Coroutine[Any, Any, None]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """WEB_AVATAR_MODE, WEB_STREAM_IDLE_SECONDS, DID_MAX_STREAMS and the speech cap."""

    mode: AvatarMode = "auto"
    idle_seconds: float = 60.0
    max_streams: int = 4
    max_per_owner: int = 1
    connect_seconds: float = 5.0
    max_seconds: float = 45.0


class LiveStreams:
    """The live sessions of every open page; owns their named tasks and closes them at stop."""

    def __init__(
        self,
        client: AvatarStreams,
        *,
        settings: LiveSettings,
        voices: AnswerVoices,
        budget: StreamBudget | None = None,
    ) -> None:
        self._client, self._settings, self._voices, self._budget = client, settings, voices, budget
        self._sessions: dict[LivePage, LiveSession] = {}
        self._numbers = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: set[asyncio.Task[None]] = set()  # closes under way (bounded in time)
        self._stopping = False

    @property
    def mode(self) -> AvatarMode:
        """How the answers' videos come: live (`stream`), as clips, or live when it connects."""
        return self._settings.mode

    @property
    def open_streams(self) -> int:
        """Streams held at the service now (opening, offered or live)."""
        return sum(1 for session in self._sessions.values() if session.usable)

    # -- what the page asks --------------------------------------------------------------------

    async def open(self, page: LivePage, owner: str = "") -> None:
        """Open the page's stream, unless it has one or no more may be opened.

        No more may be opened for anyone, or for `owner` (who the page is, such as its address;
        "" counts for no one).
        """
        old = self._sessions.get(page)
        if old is not None and old.usable:
            return  # one stream per page
        for other in list(self._sessions.values()):
            if other.page.key == page.key and other.usable:
                await self._end(other, "closed", MOVED)
        session = LiveSession(page, next(self._numbers), owner)
        self._sessions[page] = session
        if self._stopping or self.open_streams > self._settings.max_streams or self._over(owner):
            await self._end(session, "failed", ALL_IN_USE)
            return
        await page.send_state(session.number, "opening")
        self._spawn(self._create(session), f"live-open-{tag(page.key)}")

    def answer(self, page: LivePage, stream: int, answer: dict[str, Any]) -> None:
        """Relay the page's SDP answer to stream number `stream`, in order."""
        if (session := self._session(page, stream)) is not None:
            self._signal(session, [(self._client.answer, answer)])

    def ice(
        self, page: LivePage, stream: int, candidates: tuple[dict[str, Any], ...], *, done: bool
    ) -> None:
        """Relay the page's ICE candidates (`done`: it has no more), in order."""
        if (session := self._session(page, stream)) is not None:
            steps: list[Step] = [(self._client.ice, candidate) for candidate in candidates]
            if done:
                steps.append((self._client.ice, {"candidate": ""}))
            self._signal(session, steps)

    async def connection(self, page: LivePage, stream: int, *, connected: bool) -> None:
        """Hear that the page's WebRTC connection came up, or failed."""
        session = self._session(page, stream)
        if session is None:
            return
        if not connected:
            await self._end(session, "failed", NO_CONNECTION)
        elif session.state == "offered":
            session.state = "live"
            session.settled.set()
            await page.send_state(session.number, "live")
            self._restart_timer(session, self._settings.idle_seconds, None)

    async def close(self, page: LivePage, stream: int) -> None:
        """Close the page's stream at its asking (the avatar switched off, the page hidden)."""
        if (session := self._session(page, stream)) is not None:
            await self._end(session, "closed")

    async def detach(self, page: LivePage) -> None:
        """Forget a page that went away; its stream goes (a reload opens a new one)."""
        session = self._sessions.pop(page, None)
        if session is not None and session.usable:
            await self._end(session, "closed", notify=False)

    def _over(self, owner: str) -> bool:
        """Whether `owner` holds more streams than one owner may (its new one included)."""
        held = sum(1 for s in self._sessions.values() if s.usable and s.owner == owner)
        return bool(owner) and held > self._settings.max_per_owner

    def _session(self, page: LivePage, stream: int) -> LiveSession | None:
        """Return the page's session if `stream` names it and it is open (else it closed since)."""
        session = self._sessions.get(page)
        if session is None or session.number != stream or not session.usable:
            return None
        return session

    async def _create(self, session: LiveSession) -> None:
        try:
            stream = await self._client.create()
        except StreamError as exc:
            log.warning("D-ID refused a live stream for %s: %s", _where(session), exc)
            await self._end(session, "failed", exc.line)
            return
        if not session.usable:  # the page left while the service opened it
            await self._close_quietly(stream)
            return
        session.stream, session.state = stream, "offered"
        await session.page.send_offer(session.number, stream.offer, stream.ice_servers)
        self._restart_timer(session, self._settings.connect_seconds, NO_CONNECTION)

    def _signal(self, session: LiveSession, steps: list[Step]) -> None:
        """Relay to the service off the page's read loop, in the order the frames came."""
        name = f"live-signal-{tag(session.page.key)}-{session.number}"
        self._spawn(self._relay(session, steps), name)

    async def _relay(self, session: LiveSession, steps: list[Step]) -> None:
        # Each frame's task queues on the session's lock, which wakes waiters first come first.
        async with session.signalling:
            for call, value in steps:
                if session.stream is None:
                    return
                try:
                    await call(session.stream, value)
                except StreamError as exc:
                    log.warning("signalling a live stream failed: %s", exc)
                    await self._end(session, "failed", exc.line)
                    return

    # -- speaking ------------------------------------------------------------------------------

    def speaker(
        self, key: ConversationKey, turn: str, user: str, question: str = ""
    ) -> LiveSpeaker | None:
        """Return a speaker for an answer when a stream of the conversation is open (or opening).

        `question`, the message answered, tells a short answer's language.
        """
        # One usable stream per conversation: `open` ends the others.
        held = (s for s in self._sessions.values() if s.page.key == key and s.usable)
        if (session := next(held, None)) is None:
            return None
        if session.live and session.timer is not None:
            session.timer.cancel()  # a turn: not idle (the connect deadline stays)
        budget = self._budget.answer(user_scope(key, user)) if self._budget else None
        speaker = LiveSpeaker(
            self._client,
            session,
            budget=budget,
            voices=self._voices,
            question=question,
            max_seconds=self._settings.max_seconds,
            connect_seconds=self._settings.connect_seconds,
            on_done=self._answered,
        )
        self._spawn(speaker.run(), f"live-speak-{tag(key)}-{turn}").add_done_callback(speaker.ended)
        return speaker

    async def _answered(
        self, session: LiveSession, error: StreamError | None, seconds: float
    ) -> None:
        if error is not None:
            await self._end(session, "failed", error.line)
        elif session.live:  # idle from when the avatar stops talking
            self._restart_timer(session, self._settings.idle_seconds + seconds, None)

    # -- closing -------------------------------------------------------------------------------

    def _restart_timer(self, session: LiveSession, seconds: float, failure: str | None) -> None:
        """Close the session after `seconds`: as failed with `failure`, else as idle."""
        if session.timer is not None:
            session.timer.cancel()
        state = "failed" if failure else "idle"
        name = f"live-{state}-{tag(session.page.key)}-{session.number}"
        session.timer = self._spawn(self._later(session, seconds, state, failure), name)

    async def _later(
        self, session: LiveSession, seconds: float, state: str, line: str | None
    ) -> None:
        await asyncio.sleep(seconds)
        session.timer = None  # this task: not cancelled by the end it brings
        if session.usable:
            log.info("live stream of %s %s", _where(session), state)
            await self._end(session, state, line)

    async def _end(
        self, session: LiveSession, state: str, line: str | None = None, *, notify: bool = True
    ) -> None:
        """Close the session's stream at the service and tell the page (`state`, and a line)."""
        if not session.usable:
            return
        session.state = state
        session.settled.set()
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None
        stream, session.stream = session.stream, None
        if notify:
            await session.page.send_state(session.number, state, line)
        if stream is None:
            return
        if self._stopping:
            await self._close_quietly(stream)
        else:  # not on the page's read loop; awaited, not cancelled, at stop
            closing = asyncio.create_task(
                self._close_quietly(stream), name=f"live-close-{stream.id}"
            )
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def _close_quietly(self, stream: LiveStream) -> None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._client.close(stream)
        except (StreamError, TimeoutError) as exc:
            log.warning("closing live stream %s failed: %r", stream.id, exc)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def stop(self) -> None:
        """Cancel every live task and close every stream at the service (the bot is stopping)."""
        self._stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*list(self._closing), return_exceptions=True)
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            with contextlib.suppress(Exception):
                await self._end(session, "closed")


def _where(session: LiveSession) -> str:
    return f"{session.page.key.platform}:{tag(session.page.key)}"
