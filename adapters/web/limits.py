"""Per-client and server-wide limits of the web chat, counted in this process's memory.

A client is an IP address (an IPv6 /64, which one subscriber usually has whole). Counts are
per fixed minute (or hour) and forget every other window, so memory stays bounded by the
clients seen in the current window. Each refusal is one friendly line for the page.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from core.i18n import Line

MB = 1024 * 1024
# A tab that takes longer than this to take one message has stopped reading: it is closed, so
# that no turn, video or held audio waits on it (its own frames keep aiohttp's heartbeat quiet).
SEND_SECONDS = 20.0

TOO_FAST = Line("You're sending messages faster than I can answer — please wait a minute.")
TOO_MUCH_AUDIO = Line(
    "That's a lot of audio in a short time — please wait a minute before sending more."
)
BUSY = Line("I'm busy with other voice messages right now — please try again in a moment.")
TOO_MANY_TABS = Line(
    "Too many chats are open from your network — close a tab, then reload this one."
)
FULL = Line("The chat is full right now — please try again in a few minutes.")
TOO_MANY_FACES = Line(
    "That's a lot of new faces in a short time — please wait an hour before sending another."
)


@dataclass(frozen=True, slots=True)
class WebLimits:
    """The limits; None means no limit. Audio counts the bytes of every large frame."""

    ip_messages_per_minute: int | None = 20
    ip_audio_bytes_per_minute: int | None = 50 * MB
    ip_sockets: int | None = 8
    max_sockets: int | None = 1000
    audio_bytes_in_flight: int = 100 * MB
    # Unsigned ids from before signing, carried over to signed ones, per IP per hour.
    ip_upgrades_per_hour: int = 10
    # Face photos (`/face`), per IP per hour: each is kept in the database (up to FACE_MAX_BYTES)
    # and uploaded to D-ID, and every fresh conversation may keep one.
    ip_faces_per_hour: int = 5
    send_seconds: float = SEND_SECONDS


def client_scope(ip: str) -> str:
    """What one client is: the IPv4 address, or the /64 of an IPv6 address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class Window:
    """Counts per key within the current window of `seconds`; older windows are forgotten."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self._seconds, self._clock = seconds, clock
        self._index = -1
        self._counts: Counter[str] = Counter()

    def add(self, key: str, amount: int, limit: int | None) -> bool:
        """Add `amount` unless that takes `key` past `limit`; False when refused."""
        index = int(self._clock() // self._seconds)
        if index != self._index:
            self._index, self._counts = index, Counter()
        if limit is not None and self._counts[key] + amount > limit:
            return False
        self._counts[key] += amount
        return True


class Limiter:
    """Admits sockets, frames and audio within `WebLimits`; keyed by `client_scope`."""

    def __init__(self, limits: WebLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._messages = Window(60.0, clock)
        self._audio = Window(60.0, clock)
        self._upgrades = Window(3600.0, clock)
        self._faces = Window(3600.0, clock)
        self._sockets: Counter[str] = Counter()
        self._open = 0
        self.in_flight = 0

    def open_socket(self, client: str) -> str | None:
        """Count an open socket; the line to refuse it with, or None."""
        limits = self.limits
        if limits.max_sockets is not None and self._open >= limits.max_sockets:
            return FULL
        if limits.ip_sockets is not None and self._sockets[client] >= limits.ip_sockets:
            return TOO_MANY_TABS
        self._open += 1
        self._sockets[client] += 1
        return None

    def close_socket(self, client: str) -> None:
        """A socket that `open_socket` admitted has closed."""
        self._open -= 1
        self._sockets[client] -= 1
        if self._sockets[client] <= 0:
            del self._sockets[client]

    def admit_message(self, client: str) -> str | None:
        """Count one frame; the line to refuse it with, or None."""
        if self._messages.add(client, 1, self.limits.ip_messages_per_minute):
            return None
        return TOO_FAST

    def admit_audio(self, client: str, size: int) -> str | None:
        """Count and hold `size` bytes of a large frame; the refusal line, or None.

        Admitted bytes stay held (in flight) until `release`.
        """
        limits = self.limits
        if self.in_flight + size > limits.audio_bytes_in_flight:
            return BUSY
        if not self._audio.add(client, size, limits.ip_audio_bytes_per_minute):
            return TOO_MUCH_AUDIO
        self.in_flight += size
        return None

    def release(self, size: int) -> None:
        """Bytes admitted by `admit_audio` are no longer held."""
        self.in_flight -= size

    def admit_upgrade(self, client: str) -> bool:
        """Whether the client may have one more unsigned id considered for carrying over."""
        return self._upgrades.add(client, 1, self.limits.ip_upgrades_per_hour)

    def admit_face(self, client: str) -> str | None:
        """Count one face photo; the line to refuse it with, or None."""
        if self._faces.add(client, 1, self.limits.ip_faces_per_hour):
            return None
        return TOO_MANY_FACES
