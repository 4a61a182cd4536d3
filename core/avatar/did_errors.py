"""D-ID's error answers: the faults worth another try, and the one line a refusal gives the user.

`Retryable` carries a 429, a 5xx, a timeout or a transport error, with the `retry-after` D-ID
sent (at most a minute) and whether D-ID may have carried the request out all the same;
`refusal` turns any other 4xx into one line: 401/403 a bad
DID_API_KEY, 402 out of credits, a refused photo by its kind, 451 moderation.
"""

from __future__ import annotations

from typing import Any

import httpx

from core.avatar.faces import image_refusal
from core.errors import ConfigurationError, OutOfCreditsError, ServiceError, UserFacingError
from core.i18n import Line

FAILED = Line("The avatar video couldn't be made this time.")


# The gateway's own faults: it got no (valid) answer in time while D-ID may still carry the
# request out (a 504 "Endpoint request timed out" on `POST /talks`:
# docs.d-id.com/discuss/659e4aa1a2d5c1004e231a56). A 429, 500 or 503 is D-ID's own refusal.
UNCONFIRMED_STATUSES = frozenset({502, 504})


class Retryable(Exception):
    """A fault worth another try, with the wait D-ID asked for (if it did).

    `unconfirmed`: the request reached D-ID, which may have carried it out (a read timeout,
    a dropped answer, a gateway's 502/504); a 429, 5xx refusal or a failed connect did nothing.
    """

    def __init__(
        self, detail: str, retry_after: float | None = None, *, unconfirmed: bool = False
    ) -> None:
        super().__init__(detail)
        self.retry_after, self.unconfirmed = retry_after, unconfirmed


def retry_after(response: httpx.Response) -> float | None:
    """Return the answer's `retry-after` in seconds, at most a minute; None without a number."""
    try:
        return min(float(response.headers["retry-after"]), 60.0)
    except (KeyError, ValueError):
        return None


def describe(response: httpx.Response) -> str:
    """Return the answer's status with D-ID's `kind` and words, for the log."""
    try:
        body: Any = response.json()
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"
    if isinstance(body, dict):
        kind = body.get("kind", "")
        return f"{response.status_code} {kind} {body.get('description') or body.get('message', '')}"
    return f"{response.status_code} {body!r}"[:300]


def refusal(method: str, path: str, response: httpx.Response) -> UserFacingError:
    """Return the error, with its one line for the user, of D-ID's refusal of a request."""
    detail = f"D-ID {method} {path}: {describe(response)}"
    status = response.status_code
    if status in (401, 403):
        return ConfigurationError(FAILED, detail=f"D-ID refused DID_API_KEY: {detail}")
    if status == 402:
        return OutOfCreditsError(Line("The avatar service is out of credits, so no video for now."))
    if path == "/images" and (refused := image_refusal(status, _kind(response), detail)):
        return refused
    if status == 451:
        return ServiceError(Line("The avatar service declined to say this answer."), detail=detail)
    return ServiceError(FAILED, detail=detail)


def _kind(response: httpx.Response) -> str:
    kind = json_object(response).get("kind")
    return kind if isinstance(kind, str) else ""


def json_object(response: httpx.Response) -> dict[str, Any]:
    """Return the answer's body as a JSON object; empty when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
