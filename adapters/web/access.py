"""Who may use the web chat: the client's address, the page's origin, the access token's session.

Forwarded headers (X-Forwarded-For, -Proto, -Host) are believed only from a peer inside one of
the trusted proxy networks; anybody else could write anything in them.

The access token (WEB_AUTH_TOKEN) is exchanged once, at `GET /?token=…`, for a session cookie:
`<issued>.<signature>`, signed with a key derived from the server's secret and bound to the
token (a new token ends every session). The cookie never holds the token itself.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

from adapters.web.identity import mac

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SESSION_COOKIE = "avatarbot_session"
LEGACY_COOKIE = "avatarbot_token"  # the raw token, as pages before sessions kept it
SESSION_SECONDS = 30 * 24 * 3600
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class AccessSettings:
    """The token (None: open), trusted proxy networks and extra allowed page origins.

    `local`: the chat is for this machine only (loopback, no token, not WEB_PUBLIC), so a page
    must have been asked for by a loopback name: a site whose DNS name an attacker turns into
    127.0.0.1 (DNS rebinding) is same-origin with itself, and would drive the chat unasked.
    """

    token: str | None = None
    trusted_proxies: tuple[Network, ...] = ()
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    local: bool = False


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as forwarded: bare, `[v6]`, or with a port (`v4:port`, `[v6]:port`, as Azure
    Application Gateway writes them)."""
    text = value.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _loopback(hostname: str) -> bool:
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True  # browsers resolve these to loopback themselves (RFC 6761)
    address = _address(hostname)
    return address is not None and address.is_loopback


def _origin_parts(origin: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


class Access:
    """Answers, for one request, who sent it, whether its page may, and whether it may at all."""

    def __init__(
        self, settings: AccessSettings, session_key: bytes, clock: Callable[[], float] = time.time
    ) -> None:
        self._settings, self._key, self._clock = settings, session_key, clock
        token = settings.token
        self._token_id = hashlib.sha256(token.encode()).hexdigest() if token else ""

    # -- forwarded headers -------------------------------------------------------------------

    def _trusted(self, address: str | None) -> bool:
        ip = _address(address or "")
        return ip is not None and any(ip in net for net in self._settings.trusted_proxies)

    def _forwarded(self, request: web.Request, name: str) -> list[str]:
        """The values of a forwarded header, if the peer is a trusted proxy (else none)."""
        if not self._trusted(request.remote):
            return []
        values = ",".join(request.headers.getall(name, []))
        return [value.strip() for value in values.split(",") if value.strip()]

    def client_ip(self, request: web.Request) -> str:
        """The client's address: the peer's, or the nearest untrusted hop a trusted proxy saw."""
        peer = request.remote or ""
        for hop in reversed(self._forwarded(request, "X-Forwarded-For")):
            address = _address(hop)
            if address is None:
                break  # a malformed hop: nothing to its left can be believed
            peer = str(address)
            if not self._trusted(peer):
                break
        return peer

    def scheme(self, request: web.Request) -> str:
        """https when the request came over TLS, directly or to a trusted proxy."""
        forwarded = self._forwarded(request, "X-Forwarded-Proto")
        if forwarded:
            return "https" if forwarded[-1].lower() == "https" else "http"
        return "https" if request.secure else "http"

    def host(self, request: web.Request) -> str:
        """The host the browser asked for (a trusted proxy's X-Forwarded-Host first)."""
        forwarded = self._forwarded(request, "X-Forwarded-Host")
        return forwarded[0] if forwarded else request.host

    # -- origin ------------------------------------------------------------------------------

    def origin_allowed(self, request: web.Request) -> bool:
        """Whether a WebSocket may open from the request's page: same origin, or allowed.

        Browsers always send Origin on a WebSocket; a client without one is not a browser,
        and so no other site's page can be driving it.
        """
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        given = _origin_parts(origin)
        allowed = (_origin_parts(o) for o in self._settings.allowed_origins)
        if given is not None and given in allowed:
            return True
        expected = _origin_parts(f"{self.scheme(request)}://{self.host(request)}")
        if given is not None and given == expected:
            if not self._settings.local or _loopback(given[1]):
                return True
            log.warning(
                "refused a web socket from %.100s: this chat serves this machine only (open it "
                "as localhost or 127.0.0.1); a name of its own goes in WEB_ALLOWED_ORIGINS",
                origin,
            )
            return False
        log.warning(
            "refused a web socket from origin %.100s (this page is %s://%.100s); behind a proxy "
            "set WEB_TRUSTED_PROXIES, or list the page's origin in WEB_ALLOWED_ORIGINS",
            origin,
            self.scheme(request),
            self.host(request),
        )
        return False

    # -- token and session -------------------------------------------------------------------

    @property
    def open(self) -> bool:
        """No token is needed."""
        return self._settings.token is None

    def token_valid(self, token: str | None) -> bool:
        """Whether `token` is the access token."""
        expected = self._settings.token
        if expected is None or token is None:
            return False
        return hmac.compare_digest(token.encode(), expected.encode())

    def authorized(self, request: web.Request) -> bool:
        """A valid session cookie, `?token=` or `Authorization: Bearer <token>`."""
        if self.open:
            return True
        if self.session_valid(request.cookies.get(SESSION_COOKIE)):
            return True
        bearer = request.headers.get("Authorization", "")
        if bearer.startswith("Bearer ") and self.token_valid(bearer[7:]):
            return True
        return self.token_valid(request.query.get("token"))

    def new_session(self) -> str:
        """A session cookie's value, issued now."""
        issued = str(int(self._clock()))
        return f"{issued}.{mac(self._key, f'session:{issued}:{self._token_id}')}"

    def session_valid(self, value: str | None) -> bool:
        """Whether `value` is a session cookie this server issued for this token, not expired."""
        issued, _, signature = (value or "").partition(".")
        if not issued.isdigit() or len(issued) > 12:
            return False
        if not 0 <= self._clock() - int(issued) < SESSION_SECONDS:
            return False
        expected = mac(self._key, f"session:{issued}:{self._token_id}")
        return hmac.compare_digest(signature.encode(), expected.encode())

    def start_session(self, request: web.Request, response: web.StreamResponse) -> None:
        """Give the page a session cookie if it brought the token (in the link, or the old
        cookie that held it raw, which is then deleted)."""
        if self.open:
            return
        legacy = request.cookies.get(LEGACY_COOKIE)
        if legacy is not None:
            response.del_cookie(LEGACY_COOKIE, path="/")
        link = request.query.get("token")
        if not (self.token_valid(link) or self.token_valid(legacy)):
            return
        response.set_cookie(
            SESSION_COOKIE,
            self.new_session(),
            max_age=SESSION_SECONDS,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self.scheme(request) == "https",
        )


def networks(values: Iterable[str | Network]) -> tuple[Network, ...]:
    """Trusted proxy networks from settings (CIDRs or addresses)."""
    return tuple(ipaddress.ip_network(str(value), strict=False) for value in values)
