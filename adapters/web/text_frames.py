"""A web client's JSON text frame parsed and checked: each kind to its frame, or one short line.

Audio frames are handed to audio_frames.py, the live avatar's `stream_*` frames to
live_protocol.py. Pure functions without I/O.
"""

from __future__ import annotations

import binascii
import json
from typing import Any

from adapters.web import audio_frames, frames, live_protocol
from adapters.web.audio_frames import LARGE_FRAME_BYTES
from adapters.web.frames import (
    AvatarFrame,
    ClientFrame,
    CommandFrame,
    FaceFrame,
    ImageFrame,
    ProtocolError,
    ResetFrame,
    TextFrame,
)
from core import messages
from core.avatar.faces import FACE_MAX_BYTES
from core.i18n import Line
from core.images import MAX_IMAGE_BYTES
from core.images import TOO_BIG as IMAGE_TOO_BIG

NOT_JSON = "Messages must be JSON objects."
TOO_DEEP = "Messages must be flat JSON objects (this one nests too deeply)."
# What a frame may hold besides its base64 "data": its text or caption at 12 bytes a character
# at most (an astral character as two \u escapes), and an SDP answer or ICE candidates. Parsing
# more would let a frame of `[{},{},…]` build objects 25 times its size, holding the GIL.
STRUCTURE_BYTES = 512 * 1024


def parse_text(raw: str | bytes, *, max_text_chars: int) -> ClientFrame:
    """Parse a text frame (as received: UTF-8 bytes); raise `ProtocolError` saying what is wrong."""
    if isinstance(raw, bytes) and len(raw) > LARGE_FRAME_BYTES:
        audio = audio_frames.large_audio(raw)
        if audio is not None:
            return audio
        if audio_frames.structure_size(raw) > 12 * max_text_chars + STRUCTURE_BYTES:
            turn = audio_frames.peek_turn(raw)
            raise ProtocolError(_too_long(max_text_chars), code="too_long", turn=turn)
    try:
        frame = json.loads(raw)
    except ValueError:  # UnicodeDecodeError too
        raise ProtocolError(NOT_JSON) from None
    except RecursionError:  # the decoder's own depth guard: [[[[…]]]]
        raise ProtocolError(TOO_DEEP) from None
    if not isinstance(frame, dict):
        raise ProtocolError(NOT_JSON)
    turn = frames.turn(frame.get("turn"))
    kind = frame.get("type")
    if kind == "text":
        return TextFrame(turn, _text(frame, turn, max_text_chars))
    if kind == "audio":
        return audio_frames.audio(frame, turn)
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


def _text(frame: dict[str, Any], turn: str, max_text_chars: int) -> str:
    text = frame.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ProtocolError('A text message needs a non-empty "text".', turn=turn)
    if len(text) > max_text_chars:
        raise ProtocolError(_too_long(max_text_chars), code="too_long", turn=turn)
    return text


def _too_long(max_text_chars: int) -> str:
    return Line(
        "That's too long for me — please keep it under {limit} characters.", limit=max_text_chars
    )


def _command(frame: dict[str, Any], turn: str, max_text_chars: int) -> CommandFrame:
    text = frame.get("text")
    if not isinstance(text, str) or not text.startswith("/") or len(text.strip()) < 2:
        raise ProtocolError('A command needs "text" such as "/help".', turn=turn)
    if len(text) > max_text_chars:
        raise ProtocolError(_too_long(max_text_chars), code="too_long", turn=turn)
    head, _, args = text.strip().partition(" ")
    return CommandFrame(turn, head[1:].lower(), args.strip())


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
    data = audio_frames.decoded(encoded, turn)
    if len(data) > MAX_IMAGE_BYTES:
        raise ProtocolError(IMAGE_TOO_BIG, code="too_large", turn=turn)
    return ImageFrame(turn, data, frames.mime(frame, turn), caption.strip())
