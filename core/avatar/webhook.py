"""D-ID's webhook: a callback URL per talk, and the waits its callbacks wake.

D-ID POSTs the final talk object (the body `GET /talks/{id}` returns: `id`, `status`,
`result_url` or `error`, and the `user_data` we sent, which D-ID echoes "to the talk response
and webhook": docs.d-id.com/reference/createtalkstream, /reference/talks-overview) to the
`webhook` URL of `POST /talks` when the talk is done or failed. D-ID documents no signature
header and no retry policy, so the URL itself is the credential, and a lost callback is
caught by polling, which goes on (sparsely) while a webhook is configured.

The token in the URL is an HMAC of a per-talk nonce (sent as `user_data`) under a secret
derived from DID_API_KEY: nothing is stored, so every replica and a restarted process accept
the same callbacks, and a token cannot be made without the key. The nonce binds a callback to
its talk: a valid token with another talk's id wakes nothing.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# A final talk object is a few KiB (user_data at most 1000 characters): refuse anything bigger.
WEBHOOK_BODY_MAX = 64 * 1024
# D-ID's talk objects nest 3 levels (config.logo.position); deeper is not D-ID.
WEBHOOK_MAX_DEPTH = 16
FINAL_STATUSES = frozenset({"done", "error", "rejected"})
_SECRET_LABEL = b"avatarbot/did-webhook/v1"


class Verdict(enum.Enum):
    """What became of one callback; the HTTP handler answers by it."""

    ACCEPTED = "accepted"  # woke the wait of its talk
    IGNORED = "ignored"  # genuine, but nothing here waits for it (finished, or another replica's)
    FORGED = "forged"  # the token does not match the talk
    MALFORMED = "malformed"  # not a talk object: not JSON, not an object, too big or too deep


@dataclass(slots=True, eq=False)
class Waiter:
    """The wait of one talk for its callback; `nonce` is None until the talk's is known."""

    nonce: str | None
    talk: dict[str, Any] | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def next(self, timeout: float) -> dict[str, Any] | None:  # noqa: ASYNC109
        """Return the final talk its callback brought, or None if none came within `timeout` s."""
        try:
            await asyncio.wait_for(self.arrived.wait(), max(timeout, 0.0))
        except TimeoutError:
            return None
        talk, self.talk = self.talk, None
        self.arrived.clear()
        if talk is None or (self.nonce is not None and talk.get("user_data") != self.nonce):
            return None  # arrived before the nonce was known, and it is not this talk's
        return talk


class DIDWebhook:
    """Makes per-talk webhook URLs under `url` and routes their callbacks to waiting talks."""

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url.rstrip("/")
        self._secret = hmac.new(api_key.encode(), _SECRET_LABEL, hashlib.sha256).digest()
        self._waiters: dict[str, Waiter] = {}
        # Set once the web server serves `route_path`; until then talks are submitted without it.
        self.listening = False

    @property
    def route_path(self) -> str:
        """The aiohttp route the web server serves: the URL's path and a `{token}` segment."""
        return urlsplit(self.url).path.rstrip("/") + "/{token}"

    def new_nonce(self) -> str:
        """Return a fresh nonce for one talk (sent as its `user_data`)."""
        return secrets.token_urlsafe(18)

    def token(self, nonce: str) -> str:
        """Return the unguessable path segment for the talk with `nonce`."""
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()

    def url_for(self, nonce: str) -> str:
        """Return the `webhook` URL to send with the talk."""
        return f"{self.url}/{self.token(nonce)}"

    def expect(self, talk_id: str, nonce: str | None) -> Waiter:
        """Start waiting for the talk's callback; `forget` it when the wait ends."""
        waiter = Waiter(nonce)
        self._waiters[talk_id] = waiter
        return waiter

    def forget(self, talk_id: str, waiter: Waiter) -> None:
        """Stop waiting: later callbacks for the talk are ignored."""
        if self._waiters.get(talk_id) is waiter:
            del self._waiters[talk_id]

    def receive(self, token: str, body: bytes) -> Verdict:
        """Check one callback and wake the wait of its talk."""
        talk = parse_talk(body)
        if talk is None:
            return Verdict.MALFORMED
        nonce, talk_id = talk.get("user_data"), talk.get("id")
        if not isinstance(nonce, str) or not hmac.compare_digest(
            self.token(nonce).encode(), token.encode()
        ):
            return Verdict.FORGED
        waiter = self._waiters.get(talk_id) if isinstance(talk_id, str) else None
        if waiter is not None and waiter.nonce not in (None, nonce):
            return Verdict.FORGED
        if waiter is None or talk.get("status") not in FINAL_STATUSES:
            return Verdict.IGNORED
        waiter.talk = talk
        waiter.arrived.set()
        return Verdict.ACCEPTED


def parse_talk(body: bytes) -> dict[str, Any] | None:
    """Return the JSON object in `body`; None if too big, not an object or nested too deep."""
    if len(body) > WEBHOOK_BODY_MAX:
        return None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(value, dict) or _depth(value) > WEBHOOK_MAX_DEPTH:
        return None
    return value


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > WEBHOOK_MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest
