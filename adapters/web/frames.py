"""The frames a web client sends on /ws, as types, and the fields every frame shares.

Each kind's dataclass, the `ClientFrame` union and the `ProtocolError` a bad frame raises; the
turn id and MIME type checks the parsers share (text_frames.py, audio_frames.py), and the `since`
query parameter. Pure functions without I/O. docs/websocket.md describes the protocol for client
authors.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from adapters.web import live_protocol

MAX_MIME_CHARS = 100

TURN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ProtocolError(Exception):
    """A frame that cannot be used; `message` is one short line for the user."""

    def __init__(self, message: str, *, code: str = "bad_frame", turn: str = "") -> None:
        super().__init__(message)
        self.message, self.code, self.turn = message, code, turn


@dataclass(frozen=True, slots=True)
class TextFrame:
    turn: str
    text: str


@dataclass(frozen=True, slots=True)
class AudioFrame:
    turn: str
    data: bytes = field(repr=False)
    mime: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class ImageFrame:
    turn: str
    data: bytes = field(repr=False)
    mime: str = "image/jpeg"
    text: str = ""  # the caption: the question about the photo


@dataclass(frozen=True, slots=True)
class ResetFrame:
    turn: str


@dataclass(frozen=True, slots=True)
class AvatarFrame:
    turn: str
    on: bool


@dataclass(frozen=True, slots=True)
class FaceFrame:
    """`/face` on the web: a photo for the avatar's face (`data`), or back to the default."""

    turn: str
    data: bytes | None = field(default=None, repr=False)
    reset: bool = False


@dataclass(frozen=True, slots=True)
class CommandFrame:
    """A chat command typed in the page: `/name args`."""

    turn: str
    name: str
    args: str = ""


# The live avatar's frames (`stream_*`) are parsed in live_protocol.py.
ClientFrame = (
    TextFrame
    | AudioFrame
    | ImageFrame
    | ResetFrame
    | AvatarFrame
    | FaceFrame
    | CommandFrame
    | live_protocol.StreamFrame
)


def new_turn_id() -> str:
    """A turn id for frames that came without one."""
    return "s" + secrets.token_hex(6)


def job_cursor(value: str | None) -> int | None:
    """The `since` query parameter: a job id (0 or more), or None when absent or malformed."""
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def turn(value: Any) -> str:
    if value is None:
        return new_turn_id()
    if isinstance(value, str) and TURN.fullmatch(value):
        return value
    raise ProtocolError('"turn" must be 1–64 letters, digits, "-" or "_".')


def mime(frame: dict[str, Any], turn: str) -> str:
    mime = frame.get("mime", "application/octet-stream")
    if not isinstance(mime, str) or not mime or len(mime) > MAX_MIME_CHARS:
        raise ProtocolError('"mime" must be a MIME type such as "audio/webm".', turn=turn)
    return mime
