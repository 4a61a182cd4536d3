"""Photos as the core takes them: Groq's image limits, checked before any request.

Groq's vision guide (console.groq.com/docs/vision) bounds an image request: a request carrying
a base64-encoded image may be at most 4 MB (else 413), an image at most 33 megapixels
(33,177,600 pixels, else 400), an image URL at most 20 MB, and a few images per request. The
bot sends one photo per request, as a `data:` URL, so the photo's bytes are bounded to leave
room for base64 (4/3 of the bytes) and the conversation's text within those 4 MB. No image
library is a dependency, so nothing is re-encoded or scaled down: a photo over a limit is
declined with one line that says the limit.
"""

from __future__ import annotations

import struct

from core.errors import BadInputError
from core.i18n import Line
from core.types import Image

# 2.8 MB of image is 3.73 MB of base64: ~0.2 MB is left for the history and the system prompt.
MAX_IMAGE_BYTES = 2_800_000
MAX_PIXELS = 33_177_600

TOO_BIG = Line("That photo is too big for me: I can look at images up to 2.8 MB.")
TOO_MANY_PIXELS = Line("That image has too many pixels for me: 33 megapixels at most.")
NOT_AN_IMAGE = Line("I couldn't read that image — send a JPEG, PNG, WebP or GIF photo.")
# What the history keeps of a photo: a note, never the bytes (see `history_note`).
PHOTO_NOTE = "[photo]"


def sniff(data: bytes) -> str | None:
    """Return the MIME type of an image from its magic bytes, or None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def dimensions(data: bytes, mime: str) -> tuple[int, int] | None:
    """Read width and height from a PNG, GIF or JPEG header; None when they cannot be read."""
    if mime == "image/png" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if mime == "image/gif" and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if mime == "image/jpeg":
        return _jpeg_dimensions(data)
    return None


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """Walk the JPEG markers to the first start-of-frame (SOF0..SOF15 but DHT, JPG and DAC)."""
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return int(width), int(height)
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        at += 2 + int(length)
    return None


def checked(image: Image) -> Image:
    """Return the image with its sniffed MIME type; a `BadInputError` names a limit it breaks."""
    if len(image.data) > MAX_IMAGE_BYTES:
        raise BadInputError(TOO_BIG, detail=f"image of {len(image.data)} bytes")
    mime = sniff(image.data)
    if mime is None:
        raise BadInputError(NOT_AN_IMAGE, detail=f"not an image ({image.mime_type})")
    size = dimensions(image.data, mime)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise BadInputError(TOO_MANY_PIXELS, detail=f"image of {size[0]}x{size[1]} pixels")
    return Image(image.data, mime)


def history_note(caption: str) -> str:
    """Return what the history keeps of a photo turn: a note and the caption, not the image.

    Later turns (answered by LLM_MODEL, or by VISION_MODEL for the next photo) see this note and
    the answer the vision model gave, which describes the photo: enough to talk about it on,
    while the image bytes never enter the database nor later requests (each of which may carry
    only a few images, within 4 MB).
    """
    return f"{PHOTO_NOTE} {caption}" if caption else PHOTO_NOTE
