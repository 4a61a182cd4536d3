"""Who is who on the web: conversation ids the server signs, and keys derived from one secret.

A conversation id is `<base>.<signature>`: the base names the conversation (its history, its
mailbox folder), the signature is an HMAC-SHA256 of the base under the server's key. Only the
server can make one, so a client cannot mint a fresh id (a fresh quota scope) for each message.
Ids from before signing were bases chosen by the page; `legacy` recognises them.

Pure functions and small classes, no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

_BASE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_SIGNED = re.compile(r"([A-Za-z0-9_-]{8,64})\.([A-Za-z0-9_-]{32})")
SIGNATURE_BYTES = 24  # 32 characters of base64url


def tag(value: str) -> str:
    """A short hash of a conversation id (or any credential) for logs: never the id itself."""
    return "#" + hashlib.sha256(value.encode()).hexdigest()[:8]


def derive(secret: str, purpose: str) -> bytes:
    """A key for one purpose, derived from the server's secret (one key never serves two)."""
    return hmac.new(secret.encode(), f"avatarbot web {purpose}".encode(), hashlib.sha256).digest()


def mac(key: bytes, message: str, size: int = SIGNATURE_BYTES) -> str:
    """HMAC-SHA256 of `message`, cut to `size` bytes, in base64url without padding."""
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()[:size]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def legacy(value: str | None) -> str | None:
    """An unsigned id as pages made them before ids were signed, if `value` is one."""
    return value if value is not None and _BASE.fullmatch(value) else None


class ConversationIds:
    """Issues and checks signed conversation ids."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self) -> str:
        """A new conversation: a random 128-bit base, signed."""
        return self.sign(secrets.token_hex(16))

    def sign(self, base: str) -> str:
        """The signed id of the conversation `base` (the same every time)."""
        return f"{base}.{mac(self._key, 'conversation:' + base)}"

    def verify(self, value: str | None) -> str | None:
        """The base of a signed id made by this server, else None (unsigned, forged, garbage)."""
        match = _SIGNED.fullmatch(value) if value is not None and len(value) <= 97 else None
        if match is None:
            return None
        expected = mac(self._key, "conversation:" + match[1])
        return match[1] if hmac.compare_digest(match[2], expected) else None


class MediaLinks:
    """Signs the address of one video or voice answer: it opens that file, not its conversation.

    Such links get copied, shared and written to proxy logs; a conversation id in one would let
    whoever holds it join the conversation.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def sign(self, name: str) -> str:
        """The signature of the link to `name` (`7.mp4`, `voice/<note>.ogg`)."""
        return mac(self._key, "media:" + name)

    def valid(self, name: str, signature: str | None) -> bool:
        """Whether `signature` is this server's for the link to `name`."""
        if signature is None:
            return False
        return hmac.compare_digest(signature.encode(), self.sign(name).encode())


def base_of(signed: str) -> str:
    """The base of a signed id (checked already)."""
    return signed.partition(".")[0]
