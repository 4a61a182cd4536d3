"""Which proxy a service's base URL gets from HTTPS_PROXY, HTTP_PROXY and NO_PROXY."""

import pytest

from core.proxy import Proxy, ProxyRules, parse_proxy

SECURE, PLAIN = Proxy("http://secure:3128"), Proxy("http://plain:3128")
ONLY_HOST = "must be only scheme, host and port (and user:password@)"


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


@pytest.mark.parametrize(
    ("no_proxy", "url", "exempt"),
    [
        (" * ", "https://api.groq.com", True),
        ("example.com, *", "https://api.groq.com", True),
        ("a.example,, ,", "https://api.groq.com", False),  # empty entries name nothing
        (",groq.com", "https://api.groq.com", True),
        (".", "https://api.groq.com", False),
        (":443", "https://api.groq.com:443", False),  # a port alone names no host
        ("api.groq.com:443", "https://api.groq.com", False),  # the URL names no port
        ("groq.com:8443", "https://api.groq.com:8443", True),
        ("groq.com:abc", "https://api.groq.com", False),  # not a port: a name that matches none
        ("[::1]", "http://[::1]:8081", True),
        ("[::1]:9", "http://[::1]:8081", False),
        ("api.groq.com.evil", "https://api.groq.com", False),
        ("groq.com", "https://groq.com.evil", False),
    ],
    ids=[
        "a spaced star",
        "a star after a name",
        "empty entries",
        "an empty entry first",
        "a lone dot",
        "a port alone",
        "a port the url does not name",
        "a domain and port",
        "a port that is not a number",
        "bracketed ipv6",
        "bracketed ipv6 on another port",
        "a longer name",
        "a suffix of another domain",
    ],
)
def test_no_proxy_entries_at_their_edges(no_proxy: str, url: str, exempt: bool) -> None:
    rules = ProxyRules(https=SECURE, http=PLAIN, no_proxy=no_proxy)
    assert (rules.for_url(url) is None) is exempt


def test_a_url_without_a_host_connects_directly() -> None:
    assert ProxyRules(https=SECURE, http=PLAIN).for_url("https:///path") is None
    assert ProxyRules(https=SECURE, http=PLAIN).for_url("http://api.example/") == PLAIN


def test_a_proxy_shows_only_its_scheme_host_and_port() -> None:
    assert (
        repr(parse_proxy("http://ava:pw@proxy.example:3128")) == "Proxy(http://proxy.example:3128)"
    )
    assert parse_proxy("http://proxy.example/").url == "http://proxy.example/"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            "socks5://127.0.0.1:1080",
            "must be an http:// proxy URL, not socks5 scheme "
            "(HTTPS and SOCKS proxies are not supported)",
        ),
        (
            "//proxy.example:3128",
            "must be an http:// proxy URL, not no scheme "
            "(HTTPS and SOCKS proxies are not supported)",
        ),
        ("http://proxy.example:3128?via=1", ONLY_HOST),
        ("http://proxy.example:3128#top", ONLY_HOST),
        ("http://", "has no host"),
    ],
    ids=["socks", "no scheme", "a query", "a fragment", "nothing after the scheme"],
)
def test_a_refused_proxy_says_why_in_full(value: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_proxy(value)
    assert str(caught.value) == reason
