"""Frames from a web socket become core turns, run as named tasks; events go to the conversation."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections import Counter
from collections.abc import Coroutine
from contextlib import aclosing
from typing import Any

from aiohttp import WSMsgType

from adapters.web import protocol
from adapters.web.delivery import Socket, WebDelivery
from adapters.web.protocol import AudioFrame, AvatarFrame, ClientFrame, ProtocolError, TextFrame
from core.conversation import Conversations
from core.ports import Inbox
from core.types import (
    Audio,
    ConversationKey,
    Failure,
    FinalText,
    Notice,
    TextDelta,
    Transcript,
    Turn,
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


def _inbox_key(conversation: str, turn: str) -> str:
    return f"{conversation}/{turn}"


def _turn(conversation: str, frame: TextFrame | AudioFrame) -> Turn:
    key = conversation_key(conversation)
    if isinstance(frame, TextFrame):
        return Turn(key, conversation, text=frame.text)
    return Turn(key, conversation, audio=Audio(frame.data, frame.mime, "voice"))


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
        inbox: Inbox | None = None,
    ) -> None:
        self._conversations, self._delivery, self._inbox = conversations, delivery, inbox
        self._max_text_chars = max_text_chars
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: Counter[str] = Counter()
        self._closed = False

    async def serve(self, socket: Socket) -> None:
        """Read frames until the socket closes; a turn in progress never holds up reading."""
        async for message in socket.ws:
            try:
                if message.type is WSMsgType.TEXT:
                    frame = await self._parse(message.data)
                elif message.type is WSMsgType.BINARY:
                    frame = protocol.parse_binary(message.data)
                else:
                    continue
            except ProtocolError as exc:
                await socket.send(protocol.error(exc.turn, exc.message, exc.code))
                continue
            await self._dispatch(socket, frame)

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

    async def _parse(self, raw: str) -> ClientFrame:
        if len(raw) > _PARSE_IN_THREAD:
            return await asyncio.to_thread(
                protocol.parse_text, raw, max_text_chars=self._max_text_chars
            )
        return protocol.parse_text(raw, max_text_chars=self._max_text_chars)

    async def _dispatch(self, socket: Socket, frame: ClientFrame) -> None:
        conversation = socket.conversation
        if isinstance(frame, AvatarFrame):
            await self._avatar(socket, frame)
            return
        if self._pending[conversation] >= MAX_PENDING:
            await socket.send(protocol.error(frame.turn, BUSY, "busy"))
            return
        key = conversation_key(conversation)
        work: Coroutine[Any, Any, None]
        if isinstance(frame, TextFrame | AudioFrame):
            if not await self._record(conversation, frame):
                return  # the page sent this turn before (it resends after a reconnect)
            work = self._answer(_turn(conversation, frame), frame.turn)
        else:
            work = self._reset(key, frame.turn)
        self._spawn(work, conversation, frame.turn)

    async def _record(self, conversation: str, frame: TextFrame | AudioFrame) -> bool:
        """Write the message to the inbox before answering it; False for a repeat."""
        if self._inbox is None:
            return True
        payload: dict[str, str] = {"conversation": conversation, "turn": frame.turn}
        if isinstance(frame, TextFrame):
            payload["text"] = frame.text
        else:
            payload |= {"mime": frame.mime, "audio": base64.b64encode(frame.data).decode()}
        return await self._inbox.record(
            PLATFORM, _inbox_key(conversation, frame.turn), json.dumps(payload)
        )

    async def replay(self) -> int:
        """Answer the messages recorded but not answered before the last stop."""
        if self._inbox is None:
            return 0
        entries = await self._inbox.claim_unanswered(PLATFORM)
        for entry in entries:
            data = json.loads(entry.payload)
            frame: TextFrame | AudioFrame
            if "text" in data:
                frame = TextFrame(turn=data["turn"], text=data["text"])
            else:
                frame = AudioFrame(
                    turn=data["turn"], mime=data["mime"], data=base64.b64decode(data["audio"])
                )
            conversation = data["conversation"]
            self._spawn(
                self._answer(_turn(conversation, frame), frame.turn), conversation, frame.turn
            )
        return len(entries)

    async def drain(self, grace: float) -> None:
        """Give the turns in progress `grace` seconds before `aclose` cancels them."""
        if self._tasks and grace > 0:
            await asyncio.wait(list(self._tasks), timeout=grace)

    def _spawn(self, work: Coroutine[Any, Any, None], conversation: str, turn: str) -> None:
        if self._closed:
            work.close()
            return
        # Tasks start in creation order and queue on the core's per-conversation lock in that
        # order, so the turns of one conversation are answered in the order they were sent.
        task = asyncio.create_task(work, name=f"web-turn-{conversation[:16]}-{turn}")
        self._tasks.add(task)
        self._pending[conversation] += 1

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._pending[conversation] -= 1
            if self._pending[conversation] <= 0:
                del self._pending[conversation]

        task.add_done_callback(done)

    async def _answer(self, turn: Turn, turn_id: str) -> None:
        conversation = turn.key.chat_id
        try:
            async with aclosing(self._conversations.handle(turn)) as events:
                async for event in events:
                    if isinstance(event, Transcript):
                        await self._send(conversation, protocol.transcript(turn_id, event.text))
                    elif isinstance(event, TextDelta):
                        await self._send(conversation, protocol.delta(turn_id, event.delta))
                    elif isinstance(event, FinalText):
                        await self._send(conversation, protocol.final(turn_id, event.text))
                        await self._render(turn.key, event.text, turn_id)
                    elif isinstance(event, Failure):
                        message = protocol.error(turn_id, event.message, "failed")
                        await self._send(conversation, message)
            if self._inbox is not None:
                await self._inbox.answered(PLATFORM, _inbox_key(conversation, turn_id))
        except Exception:
            log.exception("web turn %s in %s failed", turn_id, turn.key)
            await self._send(conversation, protocol.error(turn_id, OOPS, "failed"))

    async def _render(self, key: ConversationKey, text: str, turn_id: str) -> None:
        target = protocol.dump_target(turn_id)
        job = await self._conversations.render_avatar(key, text, target, user_id=key.chat_id)
        if isinstance(job, Notice):
            await self._send(key.chat_id, protocol.error(turn_id, job.message, "video_refused"))
        elif job is not None:
            await self._send(key.chat_id, protocol.status(turn_id, "rendering", job=job.id))

    async def _reset(self, key: ConversationKey, turn_id: str) -> None:
        try:
            await self._conversations.reset(key)
        except Exception:
            log.exception("web reset of %s failed", key)
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
            log.exception("web avatar switch of %s failed", key)
            await socket.send(protocol.error(frame.turn, OOPS, "failed"))
            return
        await self._send(socket.conversation, protocol.status(frame.turn, "avatar", on=frame.on))

    async def _send(self, conversation: str, message: protocol.Message) -> None:
        await self._delivery.broadcast(conversation, message)
