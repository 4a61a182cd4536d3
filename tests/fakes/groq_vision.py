"""Fake Groq's checks of image content in chat requests, as Groq's vision guide defines them.

console.groq.com/docs/vision: a user message's `content` may be a list of parts,
`{"type": "text", "text"}` and `{"type": "image_url", "image_url": {"url"}}`, the URL either a
web URL or `data:<mime>;base64,<data>`. A request with a base64 image may be at most 4 MB
(413), an image at most 33 megapixels (400), at most 5 images per request (400, the limit the
guide gives for its Llama 4 models). A model without vision refuses content parts with
400 "messages[N].content must be a string" (the message Groq returned in
browser-use/browser-use#54 and obot-platform/obot#2693). The exact wording of Groq's other
image errors is not documented; their status and error shape are, and those are kept.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from typing import Any

from aiohttp import web

VISION_MODELS = {"qwen/qwen3.6-27b"}
MAX_BASE64_REQUEST = 4 * 1024 * 1024
MAX_PIXELS = 33_177_600
MAX_IMAGES = 5
_DATA_URL = re.compile(r"data:(image/(?:jpeg|png|webp|gif));base64,(.*)", re.DOTALL)
_MAGIC = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


def _error(status: int, message: str, code: str | None = None) -> web.Response:
    error = {"message": message, "type": "invalid_request_error"}
    if code:
        error["code"] = code
    return web.json_response({"error": error}, status=status)


def image_parts(messages: list[Any]) -> list[tuple[int, dict[str, Any]]]:
    """(message index, part) for every image part of the request."""
    return [
        (index, part)
        for index, message in enumerate(messages)
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") == "image_url"
    ]


def vision_error(body: dict[str, Any], vision_models: set[str], size: int) -> web.Response | None:
    """Groq's answer to the content parts of a chat request, or None when they are fine."""
    messages: list[Any] = body["messages"]
    for index, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        if message.get("role") != "user" or body["model"] not in vision_models:
            return _error(400, f"messages[{index}].content must be a string")
        for part in content:
            if problem := _part_error(index, part):
                return problem
    images = image_parts(messages)
    if not images:
        return None
    if len(images) > MAX_IMAGES:
        return _error(400, f"Too many images provided. This model supports up to {MAX_IMAGES}.")
    if size > MAX_BASE64_REQUEST and any(_is_data(part) for _, part in images):
        return _error(413, "Request Entity Too Large", code="request_too_large")
    for index, part in images:
        if problem := _image_error(index, part["image_url"]["url"]):
            return problem
    return None


def _is_data(part: dict[str, Any]) -> bool:
    return str(part["image_url"]["url"]).startswith("data:")


def _part_error(index: int, part: Any) -> web.Response | None:
    where = f"messages[{index}].content"
    if not isinstance(part, dict) or part.get("type") not in ("text", "image_url"):
        return _error(400, f"{where}: each part must have type 'text' or 'image_url'")
    if part["type"] == "text" and not isinstance(part.get("text"), str):
        return _error(400, f"{where}: a text part needs 'text'")
    if part["type"] == "image_url":
        image_url = part.get("image_url")
        if not isinstance(image_url, dict) or not isinstance(image_url.get("url"), str):
            return _error(400, f"{where}: an image_url part needs 'image_url.url'")
    return None


def _image_error(index: int, url: str) -> web.Response | None:
    if url.startswith(("http://", "https://")):
        return None  # fetched by Groq (at most 20 MB); not fetched here
    match = _DATA_URL.fullmatch(url)
    if match is None:
        return _error(400, f"messages[{index}]: invalid image data URL")
    try:
        data = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        return _error(400, f"messages[{index}]: invalid base64 in image data URL")
    if not data.startswith(_MAGIC[match.group(1)]):
        return _error(400, f"messages[{index}]: failed to decode image")
    if data.startswith(b"\x89PNG") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        if width * height > MAX_PIXELS:
            return _error(400, f"Image resolution exceeds the limit of {MAX_PIXELS} pixels.")
    return None
