"""Photos checked against Groq's image limits before any request: the type read from the
bytes, the size read from the header, each limit at its exact edge, and history's note."""

from __future__ import annotations

import struct

import pytest

from core.errors import BadInputError
from core.images import (
    MAX_IMAGE_BYTES,
    MAX_PIXELS,
    NOT_AN_IMAGE,
    TOO_BIG,
    TOO_MANY_PIXELS,
    checked,
    dimensions,
    history_note,
    sniff,
)
from core.types import Image
from tests.photos import jpeg, png, png_claiming

GIF = b"GIF87a" + struct.pack("<HH", 300, 200) + b"\0" * 8
WEBP = b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 8


def segment(marker: int, body: bytes) -> bytes:
    """A JPEG marker segment: FF, the marker, the length (counting itself), the body."""
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def sof(marker: int, width: int, height: int) -> bytes:
    return segment(marker, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")


SOI = b"\xff\xd8"
TABLE = segment(0xC4, b"\0" * 17)  # DHT: 0xC4 is in the SOF range but holds no size
ARITHMETIC = segment(0xCC, b"\0" * 6)  # DAC, likewise
EXTENSION = segment(0xC8, b"\0" * 6)  # JPG, likewise


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"\xff\xd8\xfe", None),
        (png(1, 1), "image/png"),
        (b"\x89PNG\r\n\x1a\x00", None),
        (GIF, "image/gif"),
        (b"GIF89a" + b"\0" * 4, "image/gif"),
        (b"GIF88a", None),
        (WEBP, "image/webp"),
        (b"RIFF\0\0\0\0WAVEfmt ", None),
        (b"RIFX\0\0\0\0WEBP", None),
        (b"\x00\x00\x00\x18ftypheic", None),
        (b"", None),
    ],
    ids=[
        "jpeg",
        "jpeg-cut",
        "png",
        "png-bad-signature",
        "gif87",
        "gif89",
        "gif88",
        "webp",
        "wav",
        "rifx",
        "heic",
        "empty",
    ],
)
def test_the_type_is_read_from_the_magic_bytes(data: bytes, mime: str | None) -> None:
    assert sniff(data) == mime


@pytest.mark.parametrize(
    ("data", "mime", "size"),
    [
        (png(5, 7), "image/png", (5, 7)),
        (png(5, 7)[:24], "image/png", (5, 7)),
        (png(5, 7)[:23], "image/png", None),
        (GIF, "image/gif", (300, 200)),
        (GIF[:10], "image/gif", (300, 200)),
        (GIF[:9], "image/gif", None),
        (jpeg(1024, 768), "image/jpeg", (1024, 768)),
        (jpeg(40_000, 65_535), "image/jpeg", (40_000, 65_535)),
        (jpeg(64, 48, padding=70_000), "image/jpeg", (64, 48)),
        (SOI + TABLE + ARITHMETIC + EXTENSION + sof(0xC2, 33, 44), "image/jpeg", (33, 44)),
        (SOI + sof(0xCF, 3, 4), "image/jpeg", (3, 4)),
        (SOI + b"\xff\xff\xff" + sof(0xC0, 8, 9), "image/jpeg", (8, 9)),
        (SOI + segment(0xBF, b"") + sof(0xC1, 5, 6), "image/jpeg", (5, 6)),
        (SOI + segment(0xD0, b"") + sof(0xC0, 5, 6), "image/jpeg", (5, 6)),
        (SOI + sof(0xC0, 5, 6)[:9], "image/jpeg", (5, 6)),
        (SOI + sof(0xC0, 5, 6)[:8], "image/jpeg", None),
        (SOI + b"\x00" + sof(0xC0, 8, 9), "image/jpeg", None),
        (SOI + TABLE, "image/jpeg", None),
        (WEBP, "image/webp", None),
    ],
    ids=[
        "png",
        "png-header-only",
        "png-header-cut",
        "gif",
        "gif-header-only",
        "gif-header-cut",
        "jpeg",
        "jpeg-over-32767",
        "jpeg-long-comments",
        "jpeg-tables-before-progressive-frame",
        "jpeg-last-frame-marker",
        "jpeg-fill-bytes",
        "jpeg-marker-below-frames",
        "jpeg-marker-above-frames",
        "jpeg-frame-header-exact",
        "jpeg-frame-header-cut",
        "jpeg-not-a-marker",
        "jpeg-no-frame",
        "webp-not-read",
    ],
)
def test_the_size_is_read_from_the_header(
    data: bytes, mime: str, size: tuple[int, int] | None
) -> None:
    assert dimensions(data, mime) == size


def test_a_photo_within_the_limits_is_sent_with_the_type_its_bytes_say() -> None:
    data = png(4, 3)
    assert checked(Image(data, "image/jpeg")) == Image(data, "image/png")
    edge = png(1, 1) + b"\0" * (MAX_IMAGE_BYTES - len(png(1, 1)))
    assert checked(Image(edge)) == Image(edge, "image/png")
    assert checked(Image(WEBP)) == Image(WEBP, "image/webp")  # its size is Groq's to check


@pytest.mark.parametrize(
    ("data", "line", "detail"),
    [
        (png(1, 1) + b"\0" * (MAX_IMAGE_BYTES + 1 - len(png(1, 1))), TOO_BIG, "2800001 bytes"),
        (b"\x00\x00\x00\x18ftypheic", NOT_AN_IMAGE, "not an image (image/heic)"),
        (png_claiming(MAX_PIXELS + 1, 1), TOO_MANY_PIXELS, "33177601x1 pixels"),
        (jpeg(8000, 4148), TOO_MANY_PIXELS, "8000x4148 pixels"),
        (jpeg(40_000, 1000), TOO_MANY_PIXELS, "40000x1000 pixels"),
        (png_claiming(2**31, 1), TOO_MANY_PIXELS, "2147483648x1 pixels"),
        (b"GIF89a" + struct.pack("<HH", 40_000, 1000), TOO_MANY_PIXELS, "40000x1000 pixels"),
    ],
    ids=[
        "a-byte-too-big",
        "not-an-image",
        "a-pixel-too-many",
        "jpeg-too-many-pixels",
        "jpeg-wider-than-32767",
        "png-wider-than-2-to-the-31",
        "gif-wider-than-32767",
    ],
)
def test_a_photo_over_a_limit_is_declined_with_the_line_that_names_it(
    data: bytes, line: str, detail: str
) -> None:
    with pytest.raises(BadInputError) as refused:
        checked(Image(data, "image/heic"))
    assert refused.value.message == line
    assert refused.value.detail.endswith(detail)


def test_a_photo_of_exactly_the_most_pixels_is_taken() -> None:
    data = png_claiming(MAX_PIXELS, 1)
    assert checked(Image(data)) == Image(data, "image/png")
    assert checked(Image(jpeg(5760, 5760))).mime_type == "image/jpeg"  # 33,177,600 pixels


@pytest.mark.parametrize(
    ("caption", "note"),
    [("", "[photo]"), ("What is this?", "[photo] What is this?")],
    ids=["no-caption", "caption"],
)
def test_history_keeps_a_note_of_the_photo_and_its_caption(caption: str, note: str) -> None:
    assert history_note(caption) == note
