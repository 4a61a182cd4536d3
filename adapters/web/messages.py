"""The messages the server sends a web client on /ws, built as JSON-ready dicts.

Also the target an avatar job keeps to find its turn again. Pure functions without I/O;
docs/websocket.md describes them for client authors.
"""

from __future__ import annotations

import json
from typing import Any

from adapters.web.frames import TURN

Message = dict[str, Any]


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


def video(turn: str, job: int, signature: str, note: str | None = None) -> Message:
    """A rendered video; `url` is relative to the page (and to /ws); `note`: a line under it."""
    message = {"type": "video", "turn": turn, "job": job, "url": media_url(job, signature)}
    return message | {"note": note} if note else message


def face(turn: str, message: str, *, own: bool) -> Message:
    """The answer to a `face` frame: one line, and whether the chat now shows its own face."""
    return {"type": "face", "turn": turn, "message": message, "face": own}


def voice(turn: str, url: str, seconds: float, note: str | None = None) -> Message:
    """A voice answer of the turn's answer; `url` as a video's, `note`: a line under it."""
    message = {"type": "voice", "turn": turn, "url": url, "seconds": round(seconds, 1)}
    return message | {"note": note} if note else message


def voice_url(name: str, signature: str) -> str:
    return f"media/voice/{name}.ogg?sig={signature}"


def error(turn: str, message: str, code: str, **fields: Any) -> Message:
    return {"type": "error", "turn": turn, "code": code, "message": message, **fields}


def media_url(job: int, signature: str) -> str:
    return f"media/{job}.mp4?sig={signature}"


def dump_target(turn: str) -> str:
    """What the avatar job keeps to find the turn again when its video is ready."""
    return json.dumps({"turn": turn})


def load_target(target: str) -> str:
    """The turn id stored by `dump_target` ("" when the target is not ours)."""
    try:
        turn = json.loads(target).get("turn")
    except (ValueError, AttributeError):
        return ""
    return turn if isinstance(turn, str) and TURN.fullmatch(turn) else ""
