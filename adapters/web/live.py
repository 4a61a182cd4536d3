"""The live avatar of the web chat: D-ID streams signalled over the page's WebSocket.

The page asks for a stream (`stream_open`); the server opens it at D-ID with its key (the key
never reaches the browser), hands the page D-ID's SDP offer and ICE servers, and relays the
page's answer and ICE candidates back. Media flow straight from D-ID to the browser. One
stream per conversation speaks its answers (the newest tab's); at most `max_streams` are open
at once. A stream that does not connect within `connect_seconds`, or fails, is closed and the
page is told in one line; the answers' videos then come as clips. A stream idle for
`idle_seconds` (no turn) is closed and reopened by the page with its next message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from adapters.web import live_protocol
from adapters.web.delivery import Socket
from adapters.web.identity import tag
from adapters.web.live_protocol import StreamFrame
from adapters.web.speaker import Speaker
from core.avatar.speech import Voices
from core.avatar.stream_budget import StreamBudget
from core.avatar.streams import DidStreamsClient, LiveStream, StreamError
from core.i18n import Line

log = logging.getLogger(__name__)

AvatarMode = Literal["stream", "clip", "auto"]
NO_CONNECTION = Line("The live avatar couldn't connect — videos come as clips instead.")
ALL_IN_USE = Line("All live avatars are in use right now — videos come as clips instead.")
MOVED = Line("The live avatar moved to your other tab.")
CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """WEB_AVATAR_MODE, WEB_STREAM_IDLE_SECONDS, DID_MAX_STREAMS and the speech cap."""

    mode: AvatarMode = "auto"
    idle_seconds: float = 60.0
    max_streams: int = 4
    connect_seconds: float = 5.0
    max_seconds: float = 45.0


class LiveSession:
    """One page's stream: opening → offered → live, then idle (closed) or failed."""

    def __init__(self, socket: Socket, number: int) -> None:
        self.socket, self.number = socket, number
        self.stream: LiveStream | None = None
        self.state = "opening"
        self.settled = asyncio.Event()  # live, or never going to be
        self.timer: asyncio.Task[None] | None = None
        self.signalling = asyncio.Lock()  # the SDP answer, then the candidates, in order

    @property
    def usable(self) -> bool:
        return self.state in ("opening", "offered", "live")

    @property
    def live(self) -> bool:
        return self.state == "live"


class LiveStreams:
    """The live sessions of every open page; owns their named tasks and closes them at stop."""

    def __init__(
        self,
        client: DidStreamsClient,
        *,
        settings: LiveSettings,
        voices: Voices,
        budget: StreamBudget | None = None,
    ) -> None:
        self._client, self._settings, self._voices, self._budget = client, settings, voices, budget
        self._sessions: dict[Socket, LiveSession] = {}
        self._numbers = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: set[asyncio.Task[None]] = set()  # DELETEs under way (bounded in time)
        self._stopping = False

    @property
    def mode(self) -> AvatarMode:
        return self._settings.mode

    @property
    def open_streams(self) -> int:
        """Streams held at D-ID now (opening, offered or live)."""
        return sum(1 for session in self._sessions.values() if session.usable)

    # -- frames from the page ------------------------------------------------------------------

    async def handle(self, socket: Socket, frame: StreamFrame) -> None:
        """Act on one `stream_*` frame of the page."""
        session = self._sessions.get(socket)
        if frame.kind == "stream_open":
            await self._open(socket)
        elif session is None or frame.stream != session.number or not session.usable:
            return  # about a stream closed since: nothing to do
        elif frame.kind == "stream_answer" and frame.answer is not None:
            self._signal(session, [(self._client.answer, frame.answer)])
        elif frame.kind == "stream_ice":
            steps = [(self._client.ice, candidate) for candidate in frame.candidates]
            if frame.done:
                steps.append((self._client.ice, {"candidate": ""}))
            self._signal(session, steps)
        elif frame.kind == "stream_state":
            await self._page_state(session, frame.state)
        elif frame.kind == "stream_close":
            await self._end(session, "closed")

    async def _open(self, socket: Socket) -> None:
        old = self._sessions.get(socket)
        if old is not None and old.usable:
            return  # one stream per page
        for other in list(self._sessions.values()):
            if other.socket.conversation == socket.conversation and other.usable:
                await self._end(other, "closed", MOVED)
        session = LiveSession(socket, next(self._numbers))
        self._sessions[socket] = session
        if self._stopping or self.open_streams > self._settings.max_streams:
            await self._end(session, "failed", ALL_IN_USE)
            return
        await socket.send(live_protocol.stream_state(session.number, "opening"))
        self._spawn(self._create(session), f"live-open-{tag(socket.conversation)}")

    async def _create(self, session: LiveSession) -> None:
        try:
            stream = await self._client.create()
        except StreamError as exc:
            log.warning(
                "D-ID refused a live stream for web:%s: %s", tag(session.socket.conversation), exc
            )
            await self._end(session, "failed", exc.line)
            return
        if not session.usable:  # the page left while D-ID opened it
            await self._close_quietly(stream)
            return
        session.stream, session.state = stream, "offered"
        await session.socket.send(
            live_protocol.offer(session.number, stream.offer, stream.ice_servers)
        )
        self._restart_timer(session, self._settings.connect_seconds, NO_CONNECTION)

    def _signal(self, session: LiveSession, steps: list[tuple[Any, dict[str, Any]]]) -> None:
        """Relay to D-ID off the socket's read loop, in the order the frames came."""
        name = f"live-signal-{tag(session.socket.conversation)}-{session.number}"
        self._spawn(self._relay(session, steps), name)

    async def _relay(self, session: LiveSession, steps: list[tuple[Any, dict[str, Any]]]) -> None:
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

    async def _page_state(self, session: LiveSession, state: str) -> None:
        if state == "failed":
            await self._end(session, "failed", NO_CONNECTION)
        elif session.state == "offered":
            session.state = "live"
            session.settled.set()
            await session.socket.send(live_protocol.stream_state(session.number, "live"))
            self._restart_timer(session, self._settings.idle_seconds, None)

    async def detach(self, socket: Socket) -> None:
        """The page's socket closed: its stream goes (a reload opens a new one)."""
        session = self._sessions.pop(socket, None)
        if session is not None and session.usable:
            await self._end(session, "closed", notify=False)

    # -- speaking ------------------------------------------------------------------------------

    def speaker(self, conversation: str, turn: str, user: str) -> Speaker | None:
        """A speaker for one answer, when a stream of the conversation is open (or opening)."""
        session = self._speaking_session(conversation)
        if session is None:
            return None
        if session.live and session.timer is not None:
            session.timer.cancel()  # a turn: not idle (the connect deadline stays)
        budget = self._budget.answer(f"web:{user or conversation}") if self._budget else None
        speaker = Speaker(
            self._client,
            session,
            budget=budget,
            voices=self._voices,
            max_seconds=self._settings.max_seconds,
            connect_seconds=self._settings.connect_seconds,
            on_done=self._answered,
        )
        self._spawn(speaker.run(), f"live-speak-{tag(conversation)}-{turn}")
        return speaker

    def _speaking_session(self, conversation: str) -> LiveSession | None:
        found = [s for s in self._sessions.values() if s.socket.conversation == conversation]
        usable = [s for s in found if s.usable]
        return max(usable, key=lambda s: s.number) if usable else None

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
        name = f"live-{state}-{tag(session.socket.conversation)}-{session.number}"
        session.timer = self._spawn(self._later(session, seconds, state, failure), name)

    async def _later(
        self, session: LiveSession, seconds: float, state: str, line: str | None
    ) -> None:
        await asyncio.sleep(seconds)
        session.timer = None  # this task: not cancelled by the end it brings
        if session.usable:
            log.info("live stream of web:%s %s", tag(session.socket.conversation), state)
            await self._end(session, state, line)

    async def _end(
        self, session: LiveSession, state: str, line: str | None = None, *, notify: bool = True
    ) -> None:
        """Close the session's stream at D-ID and tell the page (`state`, and a line)."""
        if not session.usable:
            return
        session.state = state
        session.settled.set()
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None
        stream, session.stream = session.stream, None
        if notify:
            await session.socket.send(live_protocol.stream_state(session.number, state, line))
        if stream is None:
            return
        if self._stopping:
            await self._close_quietly(stream)
        else:  # not on the socket's read loop; awaited, not cancelled, at stop
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
        """Cancel every live task and close every stream at D-ID (the server is stopping)."""
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
