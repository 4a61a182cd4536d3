"""The live avatar's messages on the web chat's WebSocket: parsed and built, without I/O.

docs/websocket.md ("The live avatar") describes them for client authors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Message = dict[str, Any]


class ProtocolError(ValueError):
    """A live-avatar frame that cannot be used (text_frames.py turns it into its own error)."""

    def __init__(self, message: str, *, turn: str = "") -> None:
        super().__init__(message)
        self.message, self.turn = message, turn


STREAM_KINDS = ("stream_open", "stream_answer", "stream_ice", "stream_state", "stream_close")
# What one stream_ice frame may carry (a browser gathers a few per network interface).
MAX_CANDIDATES = 32
MAX_SDP_CHARS = 64 * 1024
MAX_CANDIDATE_CHARS = 1024
PAGE_STATES = ("connected", "failed")


@dataclass(frozen=True, slots=True)
class StreamFrame:
    """A live-avatar frame from the page; `stream` names the stream it is about (0: none yet)."""

    turn: str
    kind: str
    stream: int = 0
    answer: dict[str, str] | None = None
    candidates: tuple[dict[str, Any], ...] = ()
    done: bool = False
    state: str = ""


def parse_stream(kind: str, frame: dict[str, Any], turn: str) -> StreamFrame:
    """Check a `stream_*` frame; raise `ProtocolError` saying what is wrong."""
    stream = frame.get("stream", 0)
    if not isinstance(stream, int) or isinstance(stream, bool) or stream < 0:
        raise ProtocolError('"stream" must be the number of a stream.', turn=turn)
    if kind == "stream_answer":
        return StreamFrame(turn, kind, stream, answer=_answer(frame.get("answer"), turn))
    if kind == "stream_ice":
        done = frame.get("done", False)
        if not isinstance(done, bool):
            raise ProtocolError('"done" must be true or false.', turn=turn)
        return StreamFrame(turn, kind, stream, candidates=_candidates(frame, turn), done=done)
    if kind == "stream_state":
        state = frame.get("state")
        if state not in PAGE_STATES:
            raise ProtocolError('"state" must be "connected" or "failed".', turn=turn)
        return StreamFrame(turn, kind, stream, state=str(state))
    return StreamFrame(turn, kind, stream)


def _answer(value: Any, turn: str) -> dict[str, str]:
    if (
        not isinstance(value, dict)
        or value.get("type") != "answer"
        or not isinstance(value.get("sdp"), str)
        or not 0 < len(value["sdp"]) <= MAX_SDP_CHARS
    ):
        raise ProtocolError(
            '"answer" must be an SDP answer: {"type": "answer", "sdp": …}.', turn=turn
        )
    return {"type": "answer", "sdp": value["sdp"]}


def _candidates(frame: dict[str, Any], turn: str) -> tuple[dict[str, Any], ...]:
    value = frame.get("candidates", [])
    if not isinstance(value, list) or len(value) > MAX_CANDIDATES:
        raise ProtocolError(f'"candidates" must be a list of at most {MAX_CANDIDATES}.', turn=turn)
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise ProtocolError("Each ICE candidate must be an object.", turn=turn)
        line, mid, index = item.get("candidate"), item.get("sdpMid"), item.get("sdpMLineIndex")
        if not isinstance(line, str) or len(line) > MAX_CANDIDATE_CHARS or not line:
            raise ProtocolError('An ICE candidate needs its "candidate" line.', turn=turn)
        if mid is not None and not isinstance(mid, str):
            raise ProtocolError('"sdpMid" must be a string.', turn=turn)
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise ProtocolError('"sdpMLineIndex" must be a number.', turn=turn)
        out.append({"candidate": line, "sdpMid": mid, "sdpMLineIndex": index})
    return tuple(out)


# -- server → client -------------------------------------------------------------------------


def offer(
    stream: int, sdp_offer: dict[str, Any], ice_servers: tuple[dict[str, Any], ...]
) -> Message:
    """D-ID's SDP offer and ICE servers for the page's RTCPeerConnection."""
    return {
        "type": "stream_offer",
        "turn": "",
        "stream": stream,
        "offer": sdp_offer,
        "ice_servers": list(ice_servers),
    }


def stream_state(stream: int, state: str, message: str | None = None) -> Message:
    """Where the live avatar is: opening, live, idle, closed, failed; `message`: a line to show."""
    out: Message = {"type": "stream", "turn": "", "stream": stream, "state": state}
    return out | {"message": message} if message else out
