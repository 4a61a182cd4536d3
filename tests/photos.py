"""Image bytes for the photo tests, made here: no image library is a dependency."""

from __future__ import annotations

import struct
import zlib


def png(width: int = 4, height: int = 3) -> bytes:
    """A real PNG: `width` × `height` grey pixels, 8-bit greyscale."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header that claims `width` × `height` pixels (its pixel data is not all there)."""
    return png(1, 1)[:16] + struct.pack(">II", width, height) + png(1, 1)[24:]


def jpeg(width: int = 640, height: int = 480, padding: int = 0) -> bytes:
    """A JPEG's marker structure (SOI, APP0 JFIF, a comment of `padding` bytes, SOF0, EOI)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    comments = b""
    while padding > 0:
        size = min(padding, 65533)
        comments += b"\xff\xfe" + struct.pack(">H", size + 2) + b"\x20" * size
        padding -= size
    components = b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + components
    return b"\xff\xd8" + app0 + comments + sof + b"\xff\xd9"
