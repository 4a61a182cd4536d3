"""Frames from a web socket: admitted within the limits, then handed to the core's turn runner.

Turns and resets go through the inbox, so the runner keeps them in the order they were sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path

from aiohttp import WSMsgType

from adapters.web import audio_frames, messages, text_frames
from adapters.web.delivery import Socket, WebDelivery
from adapters.web.frames import AvatarFrame, ClientFrame, FaceFrame, ProtocolError
from adapters.web.identity import tag
from adapters.web.limits import BUSY as AUDIO_BUSY
from adapters.web.limits import Limiter, WebLimits
from adapters.web.live_page import relay
from adapters.web.live_protocol import StreamFrame
from adapters.web.platform import OOPS, Entered, WebPlatform, conversation_key, message_key
from core.avatar.faces import FaceCommand
from core.avatar.live import LiveStreams
from core.commands import ChatCommands
from core.conversation import Conversations
from core.i18n import Line
from core.ports import Inbox
from core.turns import TurnRunner

log = logging.getLogger(__name__)

# Turns (and resets) of one conversation waiting or running at once; more are refused.
MAX_PENDING = 8
# Frames larger than this are parsed off the event loop (base64 audio runs to ~34 MB).
_PARSE_IN_THREAD = 1024 * 1024
BUSY = Line("One moment — I'm still answering your earlier messages.")
NO_AVATAR = Line("Avatar videos aren't set up on this server.")
NO_LIVE = Line("The live avatar isn't set up on this server: videos come as clips.")


class WebChat:
    """Takes the web conversations' frames: turns and resets go to the runner, switches apply.

    Counts what each conversation has waiting or running, and the audio bytes each turn holds
    until the runner is done with it.
    """

    def __init__(
        self,
        conversations: Conversations,
        commands: ChatCommands,
        runner: TurnRunner,
        delivery: WebDelivery,
        *,
        media_dir: Path,
        inbox: Inbox,
        max_text_chars: int,
        limiter: Limiter | None = None,
        faces: FaceCommand | None = None,
        live: LiveStreams | None = None,
    ) -> None:
        self._conversations, self._runner, self._delivery = conversations, runner, delivery
        self._faces = faces or FaceCommand(None)
        self.live = live
        self.platform = WebPlatform(
            conversations,
            commands,
            delivery,
            media_dir,
            inbox,
            on_finished=self._finished,
            live=live,
        )
        self._max_text_chars = max_text_chars
        self.limiter = limiter or Limiter(WebLimits())
        self._held: dict[str, tuple[str, int]] = {}  # message key → (conversation, audio bytes)
        self._pending: Counter[str] = Counter()

    async def serve(self, socket: Socket) -> None:
        """Read frames until the socket closes; a turn in progress never holds up reading."""
        async for message in socket.ws:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            text, data = message.type is WSMsgType.TEXT, message.data
            del message  # the frame is held once, by `data`, until parsed
            held = self._admit(socket, data, text=text)
            if isinstance(held, str):
                turn = audio_frames.peek_turn(data) if text else ""
                code = "busy" if held == AUDIO_BUSY else "rate_limited"
                await socket.send(messages.error(turn, held, code))
                continue
            try:
                frame = await self._parse(data, text=text)
            except ProtocolError as exc:
                self.limiter.release(held)
                await socket.send(messages.error(exc.turn, exc.message, exc.code))
                continue
            finally:
                del data
            await self._dispatch(socket, frame, held)
            del frame  # a recording is in its file by now: not held while the socket idles

    def _admit(self, socket: Socket, data: bytes, *, text: bool) -> int | str:
        """The bytes to hold for the frame while it is answered, or the line refusing it."""
        refusal = self.limiter.admit_message(socket.client)
        if refusal is not None:
            return refusal
        if len(data) <= audio_frames.LARGE_FRAME_BYTES:
            return 0
        size = audio_frames.upload_size(data, text=text)
        if size > audio_frames.MAX_AUDIO_BYTES:
            return 0  # refused as too large once parsed (parsing stops at the size)
        return self.limiter.admit_audio(socket.client, size) or size

    @property
    def running(self) -> int:
        """How many turns and resets are waiting or running."""
        return len(self._held)

    async def _parse(self, raw: bytes, *, text: bool) -> ClientFrame:
        if not text:
            return audio_frames.parse_binary(raw)
        if len(raw) > _PARSE_IN_THREAD:
            return await asyncio.to_thread(
                text_frames.parse_text, raw, max_text_chars=self._max_text_chars
            )
        return text_frames.parse_text(raw, max_text_chars=self._max_text_chars)

    async def _dispatch(self, socket: Socket, frame: ClientFrame, held: int) -> None:
        conversation = socket.conversation
        if isinstance(frame, AvatarFrame):
            self.limiter.release(held)
            await self._avatar(socket, frame)
        elif isinstance(frame, FaceFrame):
            self.limiter.release(held)
            refusal = None if frame.data is None else self.limiter.admit_face(socket.client)
            if refusal is None:
                await self._face(socket, frame)
            else:
                await socket.send(messages.error(frame.turn, refusal, "rate_limited"))
        elif isinstance(frame, StreamFrame):
            self.limiter.release(held)
            await self._stream(socket, frame)
        elif self._pending[conversation] >= MAX_PENDING:
            self.limiter.release(held)
            await socket.send(messages.error(frame.turn, BUSY, "busy"))
        else:
            await self._accept(socket, frame, held)

    async def _accept(self, socket: Socket, frame: Entered, held: int) -> None:
        """Record the turn through the runner, which answers it; a repeat is not answered twice."""
        turn, key = frame.turn, message_key(socket.conversation, frame.turn)
        if key in self._held:  # the page sent it again while it is still being answered
            self.limiter.release(held)
            return
        self._held[key] = (socket.conversation, held)
        self._pending[socket.conversation] += 1
        try:
            payload = await self.platform.payload(
                socket.conversation, frame, socket.user, socket.lines.locale
            )
            if not await self._runner.accept(self.platform, key, payload):
                self._finished(key)  # recorded before: the page resent it after a reconnect
                await self.platform.repeated(key, payload)
        except Exception:
            log.exception("recording web turn %s failed", turn)
            self._finished(key)
            await socket.send(messages.error(turn, OOPS, "failed"))

    def _finished(self, key: str) -> None:
        """The runner is done with the turn (or never took it): its count and audio are free."""
        conversation, held = self._held.pop(key, ("", 0))
        if not conversation:
            return  # replayed after a restart, or freed already
        self.limiter.release(held)
        self._pending[conversation] -= 1
        if self._pending[conversation] <= 0:
            del self._pending[conversation]

    async def _avatar(self, socket: Socket, frame: AvatarFrame) -> None:
        # The switch applies at once, also to an answer that is still streaming.
        if not self._conversations.avatar_available:
            await socket.send(messages.error(frame.turn, NO_AVATAR, "unavailable"))
            return
        key = conversation_key(socket.conversation)
        try:
            await self._conversations.set_avatar(key, frame.on)
        except Exception:
            log.exception("web avatar switch of web:%s failed", tag(socket.conversation))
            await socket.send(messages.error(frame.turn, OOPS, "failed"))
            return
        await self._send(socket.conversation, messages.status(frame.turn, "avatar", on=frame.on))

    async def _face(self, socket: Socket, frame: FaceFrame) -> None:
        """`/face` on the web: the photo becomes this conversation's avatar face, or reset."""
        key = conversation_key(socket.conversation)
        data = frame.data

        async def photo() -> bytes:
            return data or b""

        try:
            line = await self._faces.handle(
                key,
                "reset" if frame.reset else "",
                photo if data is not None else None,
                None if data is None else len(data),
            )
            own = await self._faces.has_face(key)
        except Exception:
            log.exception("web /face of web:%s failed", tag(socket.conversation))
            await socket.send(messages.error(frame.turn, OOPS, "failed"))
            return
        await self._send(socket.conversation, messages.face(frame.turn, line, own=own))

    async def _stream(self, socket: Socket, frame: StreamFrame) -> None:
        if self.live is None:
            await socket.send(messages.error(frame.turn, NO_LIVE, "unavailable"))
            return
        try:
            await relay(self.live, socket, frame)
        except Exception:
            log.exception("a live-avatar frame of web:%s failed", tag(socket.conversation))
            await socket.send(messages.error(frame.turn, OOPS, "failed"))

    async def _send(self, conversation: str, message: messages.Message) -> None:
        await self._delivery.broadcast(conversation, message)
