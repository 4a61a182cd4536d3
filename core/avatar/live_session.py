"""One page's live stream, from opening to its end: what the registry and a speaker share."""

from __future__ import annotations

import asyncio
import hashlib

from core.avatar.ports import LivePage
from core.avatar.streams import LiveStream
from core.types import ConversationKey


class LiveSession:
    """One page's stream: opening → offered → live, then idle (closed) or failed."""

    def __init__(self, page: LivePage, number: int, owner: str = "") -> None:
        self.page, self.number, self.owner = page, number, owner
        self.stream: LiveStream | None = None
        self.state = "opening"
        self.settled = asyncio.Event()  # live, or never going to be
        self.timer: asyncio.Task[None] | None = None
        self.signalling = asyncio.Lock()  # the SDP answer, then the candidates, in order

    @property
    def usable(self) -> bool:
        """Whether the stream is held at the service (opening, offered or live)."""
        return self.state in ("opening", "offered", "live")

    @property
    def live(self) -> bool:
        """Whether the page's connection is up: sentences can be said."""
        return self.state == "live"


def tag(key: ConversationKey) -> str:
    """Name the conversation in logs and task names by a short hash, never by its id."""
    return "#" + hashlib.sha256(key.chat_id.encode()).hexdigest()[:8]
