"""Frames from a web socket become core turns, run as named tasks; events go to the conversation."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Coroutine
from contextlib import aclosing
from typing import Any

from aiohttp import WSMsgType

from adapters.web import protocol
from adapters.web.delivery import Socket, WebDelivery
from adapters.web.identity import tag
from adapters.web.journal import Journal, Recorded
from adapters.web.limits import BUSY as AUDIO_BUSY
from adapters.web.limits import Limiter, WebLimits
from adapters.web.protocol import AudioFrame, AvatarFrame, ClientFrame, ProtocolError, TextFrame
from core.conversation import Conversations
from core.types import (
    ConversationKey,
    Failure,
    FinalText,
    Notice,
    TextDelta,
    Transcript,
)

log = logging.getLogger(__name__)

PLATFORM = "web"
# Turns (and resets) of one conversation waiting or running at once; more are refused.
MAX_PENDING = 8
# Frames larger than this are parsed off the event loop (base64 audio runs to ~34 MB).
_PARSE_IN_THREAD = 1024 * 1024
OOPS = "Something went wrong on my side — please try again."
BUSY = "One moment — I'm still answering your earlier messages."
NO_AVATAR = "Avatar videos aren't set up on this server."
LOST = "I restarted before I could answer your voice message — please send it again."


def conversation_key(conversation: str) -> ConversationKey:
    return ConversationKey(PLATFORM, conversation)


class WebChat:
    """Answers the web conversations; owns one named task per turn, cancelled by `aclose`."""

    def __init__(
        self,
        conversations: Conversations,
        delivery: WebDelivery,
        *,
        max_text_chars: int,
        journal: Journal | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        self._conversations, self._delivery, self._journal = conversations, delivery, journal
        self._max_text_chars = max_text_chars
        self.limiter = limiter or Limiter(WebLimits())
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: Counter[str] = Counter()
        self._closed = False

    async def serve(self, socket: Socket) -> None:
        """Read frames until the socket closes; a turn in progress never holds up reading."""
        async for message in socket.ws:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            text, data = message.type is WSMsgType.TEXT, message.data
            del message  # the frame is held once, by `data`, until parsed
            held = self._admit(socket, data, text=text)
            if isinstance(held, str):
                turn = protocol.peek_turn(data) if text else ""
                code = "busy" if held == AUDIO_BUSY else "rate_limited"
                await socket.send(protocol.error(turn, held, code))
                continue
            try:
                frame = await self._parse(data, text=text)
            except ProtocolError as exc:
                self.limiter.release(held)
                await socket.send(protocol.error(exc.turn, exc.message, exc.code))
                continue
            finally:
                del data
            await self._dispatch(socket, frame, held)

    def _admit(self, socket: Socket, data: bytes, *, text: bool) -> int | str:
        """The bytes to hold for the frame while it is answered, or the line refusing it."""
        refusal = self.limiter.admit_message(socket.client)
        if refusal is not None:
            return refusal
        if len(data) <= protocol.LARGE_FRAME_BYTES:
            return 0
        size = protocol.upload_size(data, text=text)
        if size > protocol.MAX_AUDIO_BYTES:
            return 0  # refused as too large once parsed (parsing stops at the size)
        return self.limiter.admit_audio(socket.client, size) or size

    async def aclose(self) -> None:
        """Cancel every turn in progress (a cancelled turn stores nothing); start no more."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def running(self) -> int:
        """How many turns are waiting or running."""
        return len(self._tasks)

    async def _parse(self, raw: bytes, *, text: bool) -> ClientFrame:
        if not text:
            return protocol.parse_binary(raw)
        if len(raw) > _PARSE_IN_THREAD:
            return await asyncio.to_thread(
                protocol.parse_text, raw, max_text_chars=self._max_text_chars
            )
        return protocol.parse_text(raw, max_text_chars=self._max_text_chars)

    async def _dispatch(self, socket: Socket, frame: ClientFrame, held: int) -> None:
        conversation = socket.conversation
        if isinstance(frame, AvatarFrame):
            self.limiter.release(held)
            await self._avatar(socket, frame)
            return
        if self._pending[conversation] >= MAX_PENDING:
            self.limiter.release(held)
            await socket.send(protocol.error(frame.turn, BUSY, "busy"))
            return
        work: Coroutine[Any, Any, None]
        if isinstance(frame, TextFrame | AudioFrame):
            recorded = Recorded.of(conversation, frame, socket.user)
            if not await self._record(socket, recorded):
                self.limiter.release(held)
                return
            work = self._answer(recorded)
        else:
            self.limiter.release(held)
            held = 0
            work = self._reset(conversation_key(conversation), frame.turn)
        self._spawn(work, conversation, frame.turn, held)

    async def _record(self, socket: Socket, recorded: Recorded) -> bool:
        """Write the turn down before answering it; False for a repeat or when that failed."""
        if self._journal is None:
            return True
        try:
            # False: the page sent this turn before (it resends after a reconnect).
            return await self._journal.record(recorded)
        except Exception:
            log.exception("recording web turn %s failed", recorded.turn_id)
            await socket.send(protocol.error(recorded.turn_id, OOPS, "failed"))
            return False

    async def replay(self) -> int:
        """Answer the messages recorded but not answered before the last stop."""
        if self._journal is None:
            return 0
        entries = await self._journal.unanswered()
        for recorded in entries:
            work = self._lost(recorded) if recorded.lost else self._answer(recorded)
            self._spawn(work, recorded.conversation, recorded.turn_id)
        return len(entries)

    async def drain(self, grace: float) -> None:
        """Give the turns in progress `grace` seconds before `aclose` cancels them."""
        if self._tasks and grace > 0:
            await asyncio.wait(list(self._tasks), timeout=grace)

    def _spawn(
        self, work: Coroutine[Any, Any, None], conversation: str, turn: str, held: int = 0
    ) -> None:
        if self._closed:
            work.close()
            self.limiter.release(held)
            return
        # Tasks start in creation order and queue on the core's per-conversation lock in that
        # order, so the turns of one conversation are answered in the order they were sent.
        task = asyncio.create_task(work, name=f"web-turn-{tag(conversation)[1:]}-{turn}")
        self._tasks.add(task)
        self._pending[conversation] += 1

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self.limiter.release(held)  # the turn's audio is no longer held
            self._pending[conversation] -= 1
            if self._pending[conversation] <= 0:
                del self._pending[conversation]

        task.add_done_callback(done)

    async def _answer(self, recorded: Recorded) -> None:
        turn, turn_id = recorded.turn(conversation_key(recorded.conversation)), recorded.turn_id
        conversation = recorded.conversation
        try:
            async with aclosing(self._conversations.handle(turn)) as events:
                async for event in events:
                    if isinstance(event, Transcript):
                        await self._send(conversation, protocol.transcript(turn_id, event.text))
                    elif isinstance(event, TextDelta):
                        await self._send(conversation, protocol.delta(turn_id, event.delta))
                    elif isinstance(event, FinalText):
                        await self._send(conversation, protocol.final(turn_id, event.text))
                        await self._render(turn.key, event, turn_id, recorded.user)
                    elif isinstance(event, Failure):
                        message = protocol.error(turn_id, event.message, "failed")
                        await self._send(conversation, message)
            if self._journal is not None:
                await self._journal.answered(recorded)
        except Exception:
            log.exception("web turn %s in web:%s failed", turn_id, tag(conversation))
            await self._send(conversation, protocol.error(turn_id, OOPS, "failed"))

    async def _lost(self, recorded: Recorded) -> None:
        """A voice message whose recording is gone: say so, and let it go."""
        await self._send(recorded.conversation, protocol.error(recorded.turn_id, LOST, "failed"))
        if self._journal is not None:
            await self._journal.answered(recorded)

    async def _render(
        self, key: ConversationKey, answer: FinalText, turn_id: str, user: str
    ) -> None:
        target = protocol.dump_target(turn_id)
        # Video quotas count per client address where known: ids are free to get, IPs are not.
        job = await self._conversations.render_avatar(
            key, answer.text, target, user_id=user, language=answer.language
        )
        if isinstance(job, Notice):
            await self._send(key.chat_id, protocol.error(turn_id, job.message, "video_refused"))
        elif job is not None:
            await self._send(key.chat_id, protocol.status(turn_id, "rendering", job=job.id))

    async def _reset(self, key: ConversationKey, turn_id: str) -> None:
        try:
            await self._conversations.reset(key)
        except Exception:
            log.exception("web reset of web:%s failed", tag(key.chat_id))
            await self._send(key.chat_id, protocol.error(turn_id, OOPS, "failed"))
            return
        await self._send(key.chat_id, protocol.status(turn_id, "reset"))

    async def _avatar(self, socket: Socket, frame: AvatarFrame) -> None:
        # The switch applies at once, also to an answer that is still streaming.
        if not self._conversations.avatar_available:
            await socket.send(protocol.error(frame.turn, NO_AVATAR, "unavailable"))
            return
        key = conversation_key(socket.conversation)
        try:
            await self._conversations.set_avatar(key, frame.on)
        except Exception:
            log.exception("web avatar switch of web:%s failed", tag(socket.conversation))
            await socket.send(protocol.error(frame.turn, OOPS, "failed"))
            return
        await self._send(socket.conversation, protocol.status(frame.turn, "avatar", on=frame.on))

    async def _send(self, conversation: str, message: protocol.Message) -> None:
        await self._delivery.broadcast(conversation, message)
