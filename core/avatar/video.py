"""Fetching a rendered video from D-ID's `result_url`: D-ID's hosts only, capped, an MP4.

The URL comes from D-ID's answer (or a webhook callback), so it is checked before anything is
sent to it: https on D-ID's result hosts, or exactly the configured API base (the local fake in
tests). Nothing outside those, no credentials in the URL, no redirects (httpx follows none).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from core.errors import ServiceError
from core.i18n import Line

FAILED = Line("The avatar video couldn't be made this time.")
# Where D-ID's result URLs point: presigned URLs on its talks bucket (docs.d-id.com/reference/
# talks-overview shows `https://d-id-talks-prod.s3.us-west-2.amazonaws.com/...`), also reachable
# through S3's global endpoint, and D-ID's own CDN names under d-id.com. Exact bucket hosts, not
# `.amazonaws.com`: anyone can make a bucket there.
RESULT_HOSTS = frozenset(
    {"d-id-talks-prod.s3.us-west-2.amazonaws.com", "d-id-talks-prod.s3.amazonaws.com"}
)
RESULT_HOST_SUFFIXES = (".d-id.com",)
# D-ID renders at most 5 minutes of video: a few tens of MB at its bitrates.
MAX_VIDEO_BYTES = 100 * 1024 * 1024


async def fetch_video(
    http: httpx.AsyncClient, url: str, *, base_url: str, max_bytes: int = MAX_VIDEO_BYTES
) -> bytes:
    """Download the MP4 at `url` if it is one of D-ID's result URLs; else a `ServiceError`."""
    if problem := refusal(url, base_url):
        raise ServiceError(FAILED, detail=f"video download refused: {problem}: {url[:200]}")
    try:
        async with http.stream("GET", url) as response:
            if response.status_code != 200:
                await response.aread()
                raise ServiceError(FAILED, detail=f"video download: {_describe(response)}")
            video = await _read_capped(response, max_bytes)
    except httpx.HTTPError as exc:
        raise ServiceError(FAILED, detail=f"video download failed: {exc!r}") from exc
    if video[4:8] != b"ftyp":  # an MP4 opens with its `ftyp` box
        raise ServiceError(FAILED, detail=f"video download: not an MP4: {video[:16]!r}")
    return video


def refusal(url: str, base_url: str) -> str | None:
    """Say why `url` is not one of D-ID's result URLs; None when it is."""
    try:
        parts, base = urlsplit(url), urlsplit(base_url)
        port, base_port = parts.port, base.port
    except ValueError:
        return "not a URL"
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL"
    if (parts.scheme, host, port) == (base.scheme, base.hostname, base_port):
        return None  # the configured API root (the local fake in tests)
    if parts.scheme != "https":
        return f"{parts.scheme or 'no'} scheme, not https"
    if port not in (None, 443):
        return f"port {port}"
    if host in RESULT_HOSTS or host.endswith(RESULT_HOST_SUFFIXES):
        return None
    return f"host {host!r} is not D-ID's"


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """Read the body, stopping as soon as it outgrows `max_bytes` (the connection is dropped)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ServiceError(FAILED, detail=f"video download: {declared} bytes, over {max_bytes}")
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ServiceError(FAILED, detail=f"video download: over {max_bytes} bytes, stopped")
        chunks.append(chunk)
    return b"".join(chunks)


def _describe(response: httpx.Response) -> str:
    return f"{response.status_code} {response.text[:200]}"
