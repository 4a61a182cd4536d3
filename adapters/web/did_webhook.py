"""The web server's end of D-ID's webhook: POST `<DID_WEBHOOK_URL path>/{token}`.

D-ID documents no retry policy, so every callback we will not act on still gets an answer that
ends it: 200 when it is genuine but nothing waits for it (a talk already finished, or another
replica's), 404 for a wrong token (as if nothing were there), 400 for a body that is not a
talk object. Never a 500: whatever happens is logged in one line.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from core.avatar.webhook import WEBHOOK_BODY_MAX, DIDWebhook, Verdict

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ANSWERS = {
    Verdict.ACCEPTED: (200, "ok"),
    Verdict.IGNORED: (200, "ignored"),
    Verdict.FORGED: (404, "not found"),
    Verdict.MALFORMED: (400, "not a talk"),
}


def did_webhook_route(webhook: DIDWebhook) -> tuple[str, str, Handler]:
    """The (method, path, handler) to serve on the web server."""

    async def handle(request: web.Request) -> web.Response:
        try:
            body = await _read_capped(request, WEBHOOK_BODY_MAX)
            verdict = Verdict.MALFORMED if body is None else webhook.receive(_token(request), body)
        except Exception as exc:  # a broken upload: answer, never a traceback
            log.warning("D-ID webhook: could not read the callback: %r", exc)
            verdict = Verdict.MALFORMED
        if verdict is Verdict.FORGED:
            log.warning("D-ID webhook: ignored a callback with a wrong token")
        elif verdict is not Verdict.ACCEPTED:
            log.info("D-ID webhook: %s callback", verdict.value)
        status, text = _ANSWERS[verdict]
        return web.Response(status=status, text=text)

    return ("POST", webhook.route_path, handle)


def _token(request: web.Request) -> str:
    return request.match_info.get("token", "")


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None once it is known to be over `limit` bytes (not read further)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    while chunk := await request.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
