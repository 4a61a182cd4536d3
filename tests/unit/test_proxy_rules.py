"""Which proxy a service's base URL gets from HTTPS_PROXY, HTTP_PROXY and NO_PROXY."""

import pytest

from core.proxy import Proxy, ProxyRules, parse_proxy

SECURE, PLAIN = Proxy("http://secure:3128"), Proxy("http://plain:3128")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.telegram.org", SECURE),
        ("wss://gateway.discord.gg/?v=10", SECURE),
        ("http://127.0.0.1:8081", PLAIN),
        ("ws://127.0.0.1:9/gateway", PLAIN),
    ],
)
def test_the_scheme_picks_the_proxy(url: str, expected: Proxy) -> None:
    assert ProxyRules(https=SECURE, http=PLAIN).for_url(url) == expected


def test_a_scheme_without_a_proxy_connects_directly() -> None:
    assert ProxyRules(https=SECURE).for_url("http://127.0.0.1:8081") is None
    assert ProxyRules(http=PLAIN).for_url("https://api.groq.com") is None


@pytest.mark.parametrize(
    ("no_proxy", "url", "exempt"),
    [
        ("", "https://api.groq.com", False),
        ("*", "https://api.groq.com", True),
        ("groq.com", "https://api.groq.com", True),
        (".groq.com", "https://api.groq.com", True),
        ("GROQ.com", "https://API.groq.com", True),
        ("roq.com", "https://api.groq.com", False),  # a suffix of labels, not of letters
        ("example.com, api.d-id.com", "https://api.d-id.com", True),
        ("127.0.0.1:8081", "http://127.0.0.1:8081", True),
        ("127.0.0.1:8081", "http://127.0.0.1:9000", False),
        ("::1", "http://[::1]:8081", True),
        ("[::1]:8081", "http://[::1]:8081", True),
        ("localhost", "http://127.0.0.1:8081", False),  # names are not resolved
    ],
)
def test_no_proxy_exempts_hosts_and_domains(no_proxy: str, url: str, exempt: bool) -> None:
    rules = ProxyRules(https=SECURE, http=PLAIN, no_proxy=no_proxy)
    assert (rules.for_url(url) is None) is exempt


def test_a_proxy_url_keeps_its_credentials_but_never_shows_them() -> None:
    proxy = parse_proxy(" http://ava:s3cr%3At@proxy.example:3128 ")
    assert proxy.url == "http://ava:s3cr%3At@proxy.example:3128"
    assert "s3cr" not in repr(proxy) and "ava" not in repr(proxy)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("socks5://127.0.0.1:1080", "not socks5 scheme"),
        ("https://proxy.example:443", "not https scheme"),
        ("proxy.example:3128", "not proxy.example scheme"),
        ("http://:3128", "has no host"),
        ("http://proxy.example:99999", "is not a URL"),
        ("http://proxy.example:3128/path", "must be only scheme, host and port"),
    ],
)
def test_a_proxy_that_cannot_be_used_is_refused(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_proxy(value)
