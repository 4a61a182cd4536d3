"""Test photos and what the fake D-ID reads of them: PNG/JPEG dimensions, a "no face" marker.

The fake D-ID does not detect faces; a test photo says it has none by carrying NO_FACE (in a PNG
`tEXt` chunk or a JPEG comment), and the fake fails talks made from it as D-ID fails a photo
without a face: `{"status": "error", "error": {"kind": "FaceError", ...}}`.
"""

from __future__ import annotations

import struct
import zlib

NO_FACE = b"fake-did:no-face"
_PNG = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, extended, progressive, lossless…), not DHT/JPG/DAC.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def make_png(width: int = 512, height: int = 512, *, face: bool = True, pad: int = 0) -> bytes:
    """A valid grey PNG of `width`×`height`; `face=False` marks it faceless; `pad` adds bytes."""
    rows = b"".join(b"\x00" + bytes(width) for _ in range(height))
    chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))]
    if not face:
        chunks.append(_chunk(b"tEXt", b"Comment\x00" + NO_FACE))
    if pad:
        chunks.append(_chunk(b"tEXt", b"Padding\x00" + b"x" * pad))
    chunks.append(_chunk(b"IDAT", zlib.compress(rows)))
    chunks.append(_chunk(b"IEND", b""))
    return _PNG + b"".join(chunks)


def make_jpeg(width: int = 640, height: int = 480, *, face: bool = True) -> bytes:
    """A JPEG's header: SOI, an optional comment, a baseline SOF0 frame of that size, EOI.

    Enough for what the fake services read (type and size); no decoder is asked to show it.
    """
    parts = [b"\xff\xd8"]
    if not face:
        parts.append(b"\xff\xfe" + struct.pack(">H", len(NO_FACE) + 2) + NO_FACE)
    frame = struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"
    parts.append(b"\xff\xc0" + struct.pack(">H", len(frame) + 2) + frame)
    parts.append(b"\xff\xd9")
    return b"".join(parts)


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG or JPEG from its header; None when it is neither."""
    if data.startswith(_PNG) and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _SOF and at + 9 <= len(data):
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return int(width), int(height)
        at += 2 + length
    return None
