"""The web chat's WebSocket protocol: client frames parsed and checked, server messages built.

Pure functions without I/O. docs/websocket.md describes the protocol for client authors.
"""

from __future__ import annotations

import binascii
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from adapters.web import live_protocol
from core import messages
from core.avatar.faces import FACE_MAX_BYTES
from core.i18n import Line
from core.images import MAX_IMAGE_BYTES
from core.images import TOO_BIG as IMAGE_TOO_BIG

# Groq Whisper takes uploads up to 25 MB on the free tier.
MAX_AUDIO_BYTES = 25 * 1024 * 1024
MAX_AUDIO_BASE64 = 4 * -(-MAX_AUDIO_BYTES // 3)
# The largest frame accepted: the largest audio in base64 inside JSON, with room to spare.
MAX_FRAME_BYTES = MAX_AUDIO_BASE64 + 64 * 1024
MAX_MIME_CHARS = 100

# Frames larger than this count as uploads (audio): against the per-client audio budget and the
# bytes the server holds at once.
LARGE_FRAME_BYTES = 64 * 1024

_TURN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Where a turn id sits in the frames clients send, so that a large frame refused unread can
# still be answered for its turn.
_PEEK_TURN = re.compile(r'"turn"\s*:\s*"([A-Za-z0-9_-]{1,64})"')
# `"data": "` opening an audio frame's base64 (which holds no quote and no backslash).
_DATA = re.compile(rb'"data"\s*:\s*"')
NOT_JSON = "Messages must be JSON objects."
TOO_DEEP = "Messages must be flat JSON objects (this one nests too deeply)."

Message = dict[str, Any]


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


def peek_turn(raw: str | bytes) -> str:
    """The turn id near the start or the end of a frame not parsed yet ("" when none)."""
    for part in (raw[:512], raw[-512:]):
        text = part.decode(errors="replace") if isinstance(part, bytes) else part
        if match := _PEEK_TURN.search(text):
            return match[1]
    return ""


def upload_size(frame: str | bytes, *, text: bool) -> int:
    """The bytes a frame will hold once decoded: a text frame's base64 shrinks by a quarter."""
    return len(frame) * 3 // 4 if text else len(frame)


def job_cursor(value: str | None) -> int | None:
    """The `since` query parameter: a job id (0 or more), or None when absent or malformed."""
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def parse_text(raw: str | bytes, *, max_text_chars: int) -> ClientFrame:
    """Parse a text frame (as received: UTF-8 bytes); raise `ProtocolError` saying what is wrong."""
    if isinstance(raw, bytes) and len(raw) > LARGE_FRAME_BYTES:
        audio = _large_audio(raw)
        if audio is not None:
            return audio
    try:
        frame = json.loads(raw)
    except ValueError:  # UnicodeDecodeError too
        raise ProtocolError(NOT_JSON) from None
    except RecursionError:  # the decoder's own depth guard: [[[[…]]]]
        raise ProtocolError(TOO_DEEP) from None
    if not isinstance(frame, dict):
        raise ProtocolError(NOT_JSON)
    turn = _turn(frame.get("turn"))
    kind = frame.get("type")
    if kind == "text":
        return TextFrame(turn, _text(frame, turn, max_text_chars))
    if kind == "audio":
        return _audio(frame, turn)
    if kind == "image":
        return _image(frame, turn, max_text_chars)
    if kind == "reset":
        return ResetFrame(turn)
    if kind == "command":
        return _command(frame, turn, max_text_chars)
    if kind == "avatar":
        on = frame.get("on")
        if not isinstance(on, bool):
            raise ProtocolError('An avatar message needs "on": true or false.', turn=turn)
        return AvatarFrame(turn, on)
    if kind == "face":
        return _face(frame, turn)
    if not isinstance(kind, str):
        raise ProtocolError('Every message needs a "type".', turn=turn)
    if kind in live_protocol.STREAM_KINDS:
        try:
            return live_protocol.parse_stream(kind, frame, turn)
        except live_protocol.ProtocolError as exc:
            raise ProtocolError(exc.message, turn=turn) from None
    raise ProtocolError(f'Unknown message type "{kind[:40]}".', turn=turn)


def parse_binary(data: bytes) -> AudioFrame:
    """A binary frame is a whole audio recording; the server picks its turn id."""
    turn = new_turn_id()
    _check_audio_size(len(data), turn)
    if not data:
        raise ProtocolError(Line("That recording is empty."), turn=turn)
    return AudioFrame(turn, data)


def _turn(value: Any) -> str:
    if value is None:
        return new_turn_id()
    if isinstance(value, str) and _TURN.fullmatch(value):
        return value
    raise ProtocolError('"turn" must be 1–64 letters, digits, "-" or "_".')


def _text(frame: dict[str, Any], turn: str, max_text_chars: int) -> str:
    text = frame.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ProtocolError('A text message needs a non-empty "text".', turn=turn)
    if len(text) > max_text_chars:
        raise ProtocolError(
            Line(
                "That's too long for me — please keep it under {limit} characters.",
                limit=max_text_chars,
            ),
            code="too_long",
            turn=turn,
        )
    return text


def _command(frame: dict[str, Any], turn: str, max_text_chars: int) -> CommandFrame:
    text = frame.get("text")
    if not isinstance(text, str) or not text.startswith("/") or len(text.strip()) < 2:
        raise ProtocolError('A command needs "text" such as "/help".', turn=turn)
    if len(text) > max_text_chars:
        raise ProtocolError(
            Line(
                "That's too long for me — please keep it under {limit} characters.",
                limit=max_text_chars,
            ),
            code="too_long",
            turn=turn,
        )
    head, _, args = text.strip().partition(" ")
    return CommandFrame(turn, head[1:].lower(), args.strip())


def _large_audio(raw: bytes) -> AudioFrame | None:
    """An audio frame decoded straight from the frame's bytes, or None when it is not plain.

    json.loads would first make a string of the whole frame (34 MB) and then one of its base64:
    here the frame less its base64 is parsed, and the base64 is decoded where it lies. Since
    base64 holds no quote or backslash, the frame with it emptied has the same structure.
    """
    match = _DATA.search(raw)
    start = match.end() if match else 0
    end = raw.find(b'"', start) if match else -1
    if end <= start:
        return None
    try:
        frame = json.loads(raw[:start] + raw[end:])
    except (ValueError, RecursionError):
        return None
    if not isinstance(frame, dict) or frame.get("type") != "audio" or frame.get("data") != "":
        return None  # not an audio frame, or one "data" hid another: the general path decides
    turn = _turn(frame.get("turn"))
    return AudioFrame(turn, _decoded(memoryview(raw)[start:end], turn), _mime(frame, turn))


def _audio(frame: dict[str, Any], turn: str) -> AudioFrame:
    mime = _mime(frame, turn)
    encoded = frame.get("data")
    if not isinstance(encoded, str) or not encoded:
        raise ProtocolError('An audio message needs "data" (base64).', turn=turn)
    return AudioFrame(turn, _decoded(encoded, turn), mime)


def _face(frame: dict[str, Any], turn: str) -> FaceFrame:
    if frame.get("reset") is True:
        return FaceFrame(turn, reset=True)
    encoded = frame.get("data")
    if not isinstance(encoded, str) or not encoded:
        raise ProtocolError('A face message needs "data" (a JPEG or PNG in base64).', turn=turn)
    if len(encoded) * 3 // 4 > FACE_MAX_BYTES + 3:  # checked before decoding anything
        too_large = Line(messages.FACE_TOO_LARGE, size="10 MB")
        raise ProtocolError(too_large, code="too_large", turn=turn)
    try:
        data = binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("The photo data is not valid base64.", turn=turn) from None
    return FaceFrame(turn, data)


def _image(frame: dict[str, Any], turn: str, max_text_chars: int) -> ImageFrame:
    """A photo with an optional caption ("text"); bounded by what a vision request carries."""
    encoded, caption = frame.get("data"), frame.get("text", "")
    if not isinstance(encoded, str) or not encoded:
        raise ProtocolError('An image message needs "data" (base64).', turn=turn)
    if not isinstance(caption, str):
        raise ProtocolError('"text" must be a string.', turn=turn)
    if len(caption) > max_text_chars:
        _text({"text": caption}, turn, max_text_chars)  # the line that says the limit
    if len(encoded) * 3 // 4 > MAX_IMAGE_BYTES + 2:  # before decoding anything
        raise ProtocolError(IMAGE_TOO_BIG, code="too_large", turn=turn)
    data = _decoded(encoded, turn)
    if len(data) > MAX_IMAGE_BYTES:
        raise ProtocolError(IMAGE_TOO_BIG, code="too_large", turn=turn)
    return ImageFrame(turn, data, _mime(frame, turn), caption.strip())


def _mime(frame: dict[str, Any], turn: str) -> str:
    mime = frame.get("mime", "application/octet-stream")
    if not isinstance(mime, str) or not mime or len(mime) > MAX_MIME_CHARS:
        raise ProtocolError('"mime" must be a MIME type such as "audio/webm".', turn=turn)
    return mime


def _decoded(encoded: str | memoryview, turn: str) -> bytes:
    """Decode base64 once, in place (b64decode would first copy a str to ASCII bytes)."""
    if len(encoded) > MAX_AUDIO_BASE64 + 4:  # checked before decoding anything
        _check_audio_size(len(encoded) * 3 // 4, turn)
    try:
        data = binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("The audio data is not valid base64.", turn=turn) from None
    _check_audio_size(len(data), turn)
    return data


def _check_audio_size(size: int, turn: str) -> None:
    if size > MAX_AUDIO_BYTES:
        limit = MAX_AUDIO_BYTES // (1024 * 1024)
        raise ProtocolError(
            Line("That recording is too large for me (the limit is {limit} MB).", limit=limit),
            code="too_large",
            turn=turn,
        )


# -- server → client -------------------------------------------------------------------------


def ready(
    conversation: str,
    *,
    avatar: bool,
    avatar_available: bool,
    avatar_mode: str = "clip",
    photos: bool = False,
) -> Message:
    """The first message on a socket: the connection is accepted; `avatar_mode` says how the
    avatar shows answers, `photos` whether images are answered."""
    return status(
        "",
        "ready",
        conversation=conversation,
        avatar=avatar,
        avatar_available=avatar_available,
        avatar_mode=avatar_mode,
        photos=photos,
    )


def status(turn: str, state: str, **fields: Any) -> Message:
    return {"type": "status", "turn": turn, "state": state, **fields}


def transcript(turn: str, text: str) -> Message:
    return {"type": "transcript", "turn": turn, "text": text}


def delta(turn: str, text: str) -> Message:
    return {"type": "delta", "turn": turn, "text": text}


def final(turn: str, text: str) -> Message:
    return {"type": "final", "turn": turn, "text": text}


def command(turn: str, text: str) -> Message:
    """What a command answered: one line (or a few) to show as the bot's."""
    return {"type": "command", "turn": turn, "text": text}


def video(turn: str, job: int, conversation: str, note: str | None = None) -> Message:
    """A rendered video; `url` is relative to the page (and to /ws); `note`: a line under it."""
    message = {"type": "video", "turn": turn, "job": job, "url": media_url(job, conversation)}
    return message | {"note": note} if note else message


def face(turn: str, message: str, *, own: bool) -> Message:
    """The answer to a `face` frame: one line, and whether the chat now shows its own face."""
    return {"type": "face", "turn": turn, "message": message, "face": own}


def voice(turn: str, url: str, seconds: float, note: str | None = None) -> Message:
    """A voice answer of the turn's answer; `url` as a video's, `note`: a line under it."""
    message = {"type": "voice", "turn": turn, "url": url, "seconds": round(seconds, 1)}
    return message | {"note": note} if note else message


def voice_url(name: str, conversation: str) -> str:
    return f"media/voice/{name}.ogg?conversation={conversation}"


def error(turn: str, message: str, code: str, **fields: Any) -> Message:
    return {"type": "error", "turn": turn, "code": code, "message": message, **fields}


def media_url(job: int, conversation: str) -> str:
    return f"media/{job}.mp4?conversation={conversation}"


def dump_target(turn: str) -> str:
    """What the avatar job keeps to find the turn again when its video is ready."""
    return json.dumps({"turn": turn})


def load_target(target: str) -> str:
    """The turn id stored by `dump_target` ("" when the target is not ours)."""
    try:
        turn = json.loads(target).get("turn")
    except (ValueError, AttributeError):
        return ""
    return turn if isinstance(turn, str) and _TURN.fullmatch(turn) else ""
