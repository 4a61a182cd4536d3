"""D-ID's real-time streaming API on httpx: a WebRTC stream the avatar speaks sentences into.

D-ID marks `POST /talks/streams` deprecated in its reference
(https://docs.d-id.com/reference/createtalkstream) and documents clips streams for premium
presenters only; the current way to stream a photo avatar is **Agents Streams**
(https://docs.d-id.com/reference/agents-streams-overview): an agent whose presenter is a `talk`
(a source image) is created once (D-ID Studio or `POST /agents`), and each live session is

    POST   /agents/{agent_id}/streams                      → {id, offer, ice_servers, session_id}
    POST   /agents/{agent_id}/streams/{stream_id}/sdp      {session_id, answer}
    POST   /agents/{agent_id}/streams/{stream_id}/ice      {session_id, candidate, sdpMid, …}
    POST   /agents/{agent_id}/streams/{stream_id}          {session_id, script} → speaks it
    DELETE /agents/{agent_id}/streams/{stream_id}          {session_id}

(the wire shapes of D-ID's own client, github.com/de-id/agents-sdk, src/api/streams). The
`session_id` (a load-balancer cookie string) must come back in every body so that the request
reaches the server holding the stream. Media flow between D-ID and the browser; this client
only signals, so the D-ID key never leaves the server.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from core.i18n import Line

log = logging.getLogger(__name__)

# Speaking is retried this often on 429 and 5xx (each sentence is short: a late one is useless).
SPEAK_ATTEMPTS = 2
RETRY_AFTER_CAP = 2.0
# Faults before a request left (httpx's names): D-ID cannot have seen it.
NOT_SENT = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout", "ProxyError"})
# A gateway's faults: it got no (valid) answer while D-ID may go on with the request.
GATEWAY_FAULTS = frozenset({502, 504})


@dataclass(frozen=True, slots=True)
class LiveStream:
    """One open stream: its id, the sticky session to send back, D-ID's offer and ICE servers."""

    id: str
    session_id: str
    offer: dict[str, Any]
    ice_servers: tuple[dict[str, Any], ...] = ()


class StreamError(Exception):
    """D-ID refused or failed a streaming call; `line` is one short line for the user."""

    def __init__(self, status: int | None, kind: str, detail: str) -> None:
        super().__init__(f"{status} {kind} {detail}".strip())
        self.status, self.kind, self.detail = status, kind, detail

    @property
    def unconfirmed(self) -> bool:
        """Whether D-ID may have carried the call out all the same.

        A timeout, a dropped answer, a gateway's 502/504: a sentence D-ID may be saying is
        neither sent again nor given back.
        """
        if self.status is None:
            return self.kind not in NOT_SENT
        return self.status in GATEWAY_FAULTS

    @property
    def line(self) -> str:
        """What the page says in one line (the clips take over)."""
        if self.status == 402:
            return Line("The live avatar is out of D-ID credits — videos come as clips instead.")
        if self.status == 429:
            return Line("The live avatar is busy right now — videos come as clips instead.")
        if self.status in (401, 403):
            return Line(
                "The live avatar isn't allowed for this server — videos come as clips instead."
            )
        return Line("The live avatar couldn't start — videos come as clips instead.")


class DidStreamsClient:
    """Opens, signals, speaks into and closes D-ID agent streams (`DID_AGENT_ID`)."""

    def __init__(
        self, http: httpx.AsyncClient, *, api_key: str, base_url: str, agent_id: str
    ) -> None:
        # The key is sent as D-ID shows it (`user:password`, first half base64), like did.py.
        self._auth = {"Authorization": f"Basic {api_key}"}
        self._http = http
        self._base = f"{base_url.rstrip('/')}/agents/{agent_id}/streams"

    async def create(self) -> LiveStream:
        """Open a stream; D-ID answers with its SDP offer and the ICE servers to use."""
        body = await self._call("POST", self._base, {"stream_warmup": False})
        try:
            servers = tuple(body.get("ice_servers") or ())
            return LiveStream(
                str(body["id"]), str(body["session_id"]), dict(body["offer"]), servers
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StreamError(None, "BadResponse", f"create answered {body!r:.200}") from exc

    async def answer(self, stream: LiveStream, answer: dict[str, Any]) -> None:
        """Pass the browser's SDP answer on."""
        body = {"session_id": stream.session_id, "answer": answer}
        await self._call("POST", f"{self._base}/{stream.id}/sdp", body)

    async def ice(self, stream: LiveStream, candidate: dict[str, Any]) -> None:
        """Pass one of the browser's ICE candidates on (an empty `candidate`: the last)."""
        body = {
            "session_id": stream.session_id,
            "candidate": candidate.get("candidate"),
            "sdpMid": candidate.get("sdpMid"),
            "sdpMLineIndex": candidate.get("sdpMLineIndex"),
        }
        await self._call("POST", f"{self._base}/{stream.id}/ice", body)

    async def speak(self, stream: LiveStream, text: str, voice_id: str) -> None:
        """Have the avatar say `text` on the stream (queued after what it is saying)."""
        body = {
            "session_id": stream.session_id,
            "script": {
                "type": "text",
                "input": text,
                "provider": {"type": "microsoft", "voice_id": voice_id},
            },
        }
        url = f"{self._base}/{stream.id}"
        for attempt in range(1, SPEAK_ATTEMPTS + 1):
            try:
                await self._call("POST", url, body)
                return
            except StreamError as exc:
                retryable = exc.status is None or exc.status == 429 or exc.status >= 500
                # D-ID queues what it is told to say: a sentence it may have is not sent again.
                if not retryable or exc.unconfirmed or attempt == SPEAK_ATTEMPTS:
                    raise
                log.info("speaking on stream %s failed (%s), trying again", stream.id, exc)
                await asyncio.sleep(0.2 * attempt)

    async def close(self, stream: LiveStream) -> None:
        """Close the stream (D-ID stops billing it); a stream already gone is fine."""
        try:
            await self._call(
                "DELETE", f"{self._base}/{stream.id}", {"session_id": stream.session_id}
            )
        except StreamError as exc:
            if exc.status != 404:
                raise

    async def _call(self, method: str, url: str, body: dict[str, Any]) -> Any:
        try:
            response = await self._http.request(method, url, json=body, headers=self._auth)
        except httpx.HTTPError as exc:
            raise StreamError(None, type(exc).__name__, str(exc)) from exc
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                return {}
        raise _error(response)


def _error(response: httpx.Response) -> StreamError:
    """D-ID's error body: `{kind, description}`, or `{message}` from its gateway (403, 504)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    kind = str(body.get("kind") or "")
    detail = str(body.get("description") or body.get("message") or response.text[:200])
    return StreamError(response.status_code, kind, detail)
