"""Audio from a web client: the size limits, binary frames and base64 audio in JSON frames.

A large audio frame is decoded straight from its bytes; a large frame not read yet is measured
(`upload_size`) and its turn id found (`peek_turn`), so that it can be refused for its turn.
Pure functions without I/O.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any

from adapters.web import frames
from adapters.web.frames import AudioFrame, ProtocolError, new_turn_id
from core.i18n import Line

# Groq Whisper takes uploads up to 25 MB on the free tier.
MAX_AUDIO_BYTES = 25 * 1024 * 1024
MAX_AUDIO_BASE64 = 4 * -(-MAX_AUDIO_BYTES // 3)
# The largest frame accepted: the largest audio in base64 inside JSON, with room to spare.
MAX_FRAME_BYTES = MAX_AUDIO_BASE64 + 64 * 1024

# Frames larger than this count as uploads (audio): against the per-client audio budget and the
# bytes the server holds at once.
LARGE_FRAME_BYTES = 64 * 1024

# Where a turn id sits in the frames clients send, so that a large frame refused unread can
# still be answered for its turn.
_PEEK_TURN = re.compile(r'"turn"\s*:\s*"([A-Za-z0-9_-]{1,64})"')
# `"data": "` opening an audio frame's base64 (which holds no quote and no backslash).
_DATA = re.compile(rb'"data"\s*:\s*"')


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


def parse_binary(data: bytes) -> AudioFrame:
    """A binary frame is a whole audio recording; the server picks its turn id."""
    turn = new_turn_id()
    _check_audio_size(len(data), turn)
    if not data:
        raise ProtocolError(Line("That recording is empty."), turn=turn)
    return AudioFrame(turn, data)


def large_audio(raw: bytes) -> AudioFrame | None:
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
    turn = frames.turn(frame.get("turn"))
    return AudioFrame(turn, decoded(memoryview(raw)[start:end], turn), frames.mime(frame, turn))


def structure_size(raw: bytes) -> int:
    """The bytes of a frame less the base64 of its `"data"`: what parsing it builds objects of."""
    match = _DATA.search(raw)
    if match is None:
        return len(raw)
    end = raw.find(b'"', match.end())
    return len(raw) - (end - match.end()) if end >= 0 else len(raw)


def audio(frame: dict[str, Any], turn: str) -> AudioFrame:
    mime = frames.mime(frame, turn)
    encoded = frame.get("data")
    if not isinstance(encoded, str) or not encoded:
        raise ProtocolError('An audio message needs "data" (base64).', turn=turn)
    return AudioFrame(turn, decoded(encoded, turn), mime)


def decoded(encoded: str | memoryview, turn: str) -> bytes:
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
