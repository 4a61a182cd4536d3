"""The live avatar over a web socket: the page's `stream_*` frames to the core, and back.

The core's `LiveStreams` (core/avatar/live.py) decides everything; this module only carries its
signalling over the tab's WebSocket (docs/websocket.md, "The live avatar").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.web import live_protocol
from adapters.web.delivery import Socket
from adapters.web.live_protocol import StreamFrame
from adapters.web.platform import conversation_key
from core.avatar.live import LiveStreams
from core.types import ConversationKey


@dataclass(frozen=True, slots=True)
class SocketPage:
    """A tab as the core's `LivePage`: equal (and hashed) by its socket, one stream per tab."""

    socket: Socket

    @property
    def key(self) -> ConversationKey:
        return conversation_key(self.socket.conversation)

    async def send_offer(
        self, stream: int, offer: dict[str, Any], ice_servers: tuple[dict[str, Any], ...]
    ) -> None:
        await self.socket.send(live_protocol.offer(stream, offer, ice_servers))

    async def send_state(self, stream: int, state: str, line: str | None = None) -> None:
        await self.socket.send(live_protocol.stream_state(stream, state, line))


async def relay(live: LiveStreams, socket: Socket, frame: StreamFrame) -> None:
    """Hand one `stream_*` frame of the tab to the core."""
    page = SocketPage(socket)
    if frame.kind == "stream_open":
        await live.open(page, owner=socket.client)
    elif frame.kind == "stream_answer" and frame.answer is not None:
        live.answer(page, frame.stream, frame.answer)
    elif frame.kind == "stream_ice":
        live.ice(page, frame.stream, frame.candidates, done=frame.done)
    elif frame.kind == "stream_state":
        await live.connection(page, frame.stream, connected=frame.state == "connected")
    elif frame.kind == "stream_close":
        await live.close(page, frame.stream)
