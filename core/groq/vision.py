"""Photos for a Groq vision model: the request's content parts, and Groq's refusals in one line.

The photo was checked against Groq's limits before (core/images.py); it goes as one `data:` URL
per request, in an OpenAI-style `image_url` content part (console.groq.com/docs/vision).
"""

from __future__ import annotations

import base64

import groq

from core.errors import BadInputError, ConfigurationError, UserFacingError
from core.groq.errors import explain
from core.i18n import Line
from core.images import NOT_AN_IMAGE, TOO_BIG
from core.types import Image


def data_url(image: Image) -> str:
    """Encode the image as the `data:` URL an OpenAI-style `image_url` content part carries."""
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def content_parts(text: str, image: Image) -> list[str | dict[str, object]]:
    """Build a user message's content with a photo: its caption (if any), then the image."""
    parts: list[str | dict[str, object]] = []
    if text:
        parts.append({"type": "text", "text": text})
    parts.append({"type": "image_url", "image_url": {"url": data_url(image)}})
    return parts


def explain_image(exc: Exception) -> UserFacingError:
    """Explain Groq's refusal of a request that carried a photo in one line.

    A model that takes no images answers 400 "messages[N].content must be a string" (seen from
    Groq in browser-use/browser-use#54 and obot-platform/obot#2693): VISION_MODEL is wrong.
    """
    if isinstance(exc, groq.APIStatusError) and exc.status_code == 413:
        return BadInputError(TOO_BIG, detail=f"Groq 413: {exc.message}")
    if isinstance(exc, groq.BadRequestError):
        if "must be a string" in exc.message:
            detail = f"VISION_MODEL names a model that takes no images: {exc.message}"
            return ConfigurationError(Line("My photo service is misconfigured."), detail=detail)
        if "image" in exc.message.lower():
            return BadInputError(NOT_AN_IMAGE, detail=f"Groq 400: {exc.message}")
    return explain(exc, model_setting="VISION_MODEL", service="photo")
