"""Which HTTP proxy a service's requests go through: HTTPS_PROXY, HTTP_PROXY and NO_PROXY.

The rules are curl's and Python's (`urllib.request.getproxies`): an `https://` or `wss://` URL
goes through HTTPS_PROXY, an `http://` or `ws://` one through HTTP_PROXY, unless its host is
listed in NO_PROXY (a comma-separated list of host names or domain suffixes, `*` for all).
Loopback is not exempt by default: list it in NO_PROXY. Only `http://` proxies are supported
(aiohttp, under every client, speaks to a proxy in plain HTTP); SOCKS would need aiohttp-socks.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Proxy:
    """A proxy's URL, credentials included (`http://user:password@host:port`).

    aiohttp sends the URL's credentials as `Proxy-Authorization: Basic`; its `proxy_auth`
    argument is deprecated, and its `proxy_headers` reach only a CONNECT, not a plain request.
    """

    url: str

    def __repr__(self) -> str:
        parts = urlsplit(self.url)
        return f"Proxy({parts.scheme}://{parts.hostname}:{parts.port})"  # no password in a log


def parse_proxy(value: str) -> Proxy:
    """Parse `http://[user:password@]host[:port]` into a `Proxy`; ValueError if it is not one."""
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError as exc:
        raise ValueError(f"is not a URL: {exc}") from None
    if parts.scheme != "http":
        raise ValueError(
            f"must be an http:// proxy URL, not {parts.scheme or 'no'} scheme "
            "(HTTPS and SOCKS proxies are not supported)"
        )
    if not parts.hostname:
        raise ValueError("has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be only scheme, host and port (and user:password@)")
    return Proxy(value.strip())


@dataclass(frozen=True, slots=True)
class ProxyRules:
    """The proxies set for the process, read once: `for_url` picks one for a service."""

    https: Proxy | None = None
    http: Proxy | None = None
    no_proxy: str = ""

    def for_url(self, url: str) -> Proxy | None:
        """Return the proxy that requests to `url` go through, or None to connect directly."""
        parts = urlsplit(url)
        proxy = self.https if parts.scheme in ("https", "wss") else self.http
        if proxy is None or parts.hostname is None or self._exempt(parts.hostname, parts.port):
            return None
        return proxy

    def _exempt(self, host: str, port: int | None) -> bool:
        host = host.lower()
        for entry in (part.strip().lower() for part in self.no_proxy.split(",")):
            if entry == "*":
                return True
            name, _, entry_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
            name = name.strip("[]").lstrip(".")
            if not name or (entry_port and entry_port != str(port)):
                continue
            if host == name or host.endswith("." + name):
                return True
        return False


def _has_port(entry: str) -> bool:
    """`host:port` or `[v6]:port`, not a bare IPv6 address."""
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit() and (head.endswith("]") or ":" not in head)
