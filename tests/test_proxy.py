"""HTTPS_PROXY / HTTP_PROXY / NO_PROXY: every client's requests go through the proxy, or none do.

The fakes listen on http://127.0.0.1, so HTTP_PROXY is the variable that applies to them (an
https:// service, as the real ones are, goes through HTTPS_PROXY by the same code). Loopback is
not exempt unless NO_PROXY lists it, which keeps these tests honest: NO_PROXY is set to "".
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.check import check_did, check_discord, check_groq, check_telegram
from bot.settings import Settings
from bot.wiring import open_core
from tests.fakes.did import FakeDID
from tests.fakes.discord import FakeDiscord
from tests.fakes.groq import FakeGroq
from tests.fakes.proxy import ForwardProxy
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at
from tests.test_startup import avatarbot, closed_port, environment

ALICE = 1001
__all__ = ["closed_port"]  # a fixture of tests/test_startup.py, used here too


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as running:
        yield running


def every_service(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram, dc: FakeDiscord, **extra: Any
) -> Settings:
    return settings_for(
        tmp_path,
        groq,
        did,
        **telegram_at(tg),
        DISCORD_BOT_TOKEN=dc.token,
        DISCORD_API_BASE_URL=dc.api_url,
        DISCORD_GATEWAY_URL=dc.gateway_url,
        **extra,
    )


async def talk_on_telegram_and_discord(tg: FakeTelegram, dc: FakeDiscord) -> None:
    """A Telegram message answered with its video, while Discord is logged in and connected."""
    await tg.wait_for(lambda: tg.calls("getUpdates"))
    await dc.wait_for(lambda: dc.connected)
    tg.push_text(ALICE, "hello")
    await tg.wait_for_sent(ALICE, "sendVideo")


async def test_every_client_goes_through_http_proxy(
    tmp_path: Path,
    groq: FakeGroq,
    did: FakeDID,
    tg: FakeTelegram,
    dc: FakeDiscord,
    proxy: ForwardProxy,
) -> None:
    settings = every_service(tmp_path, groq, did, tg, dc, HTTP_PROXY=proxy.url, NO_PROXY="")
    async with running_bot(settings):
        await talk_on_telegram_and_discord(tg, dc)
    token = tg.token
    assert {f"{tg.base_url}/bot{token}/getMe", f"{tg.base_url}/bot{token}/getUpdates"} <= set(
        proxy.targets(tg.base_url)
    )
    assert f"{tg.base_url}/bot{token}/sendVideo" in proxy.targets(tg.base_url)
    assert f"{groq.base_url}/openai/v1/chat/completions" in proxy.targets(groq.base_url)
    did_calls = proxy.targets(did.base_url)
    assert f"{did.base_url}/talks" in did_calls  # the render request
    assert any("/results/" in target for target in did_calls)  # and the video's download
    assert f"{dc.api_url}/users/@me" in proxy.targets(dc.api_url)  # discord.py's REST login
    gateway = [p for p in proxy.passed if p.target.startswith(dc.gateway_url.split("?")[0])]
    assert gateway and gateway[0].method == "GET"  # the gateway's WebSocket upgrade


async def test_without_a_proxy_nothing_goes_through_one(
    tmp_path: Path,
    groq: FakeGroq,
    did: FakeDID,
    tg: FakeTelegram,
    dc: FakeDiscord,
    proxy: ForwardProxy,
) -> None:
    async with running_bot(every_service(tmp_path, groq, did, tg, dc)):
        await talk_on_telegram_and_discord(tg, dc)
    assert proxy.passed == []


async def test_no_proxy_lists_the_hosts_that_connect_directly(
    tmp_path: Path,
    groq: FakeGroq,
    did: FakeDID,
    tg: FakeTelegram,
    dc: FakeDiscord,
    proxy: ForwardProxy,
) -> None:
    settings = every_service(
        tmp_path, groq, did, tg, dc, HTTP_PROXY=proxy.url, NO_PROXY="localhost, 127.0.0.1"
    )
    async with running_bot(settings):
        await talk_on_telegram_and_discord(tg, dc)
    assert proxy.passed == []


@pytest.mark.parametrize("name", ["HTTP_PROXY", "http_proxy"])
async def test_the_environment_variable_is_honoured_by_run_and_check(
    tmp_path: Path,
    groq: FakeGroq,
    did: FakeDID,
    tg: FakeTelegram,
    dc: FakeDiscord,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    monkeypatch.setenv(name, proxy.url)
    monkeypatch.setenv("NO_PROXY", "")
    settings = every_service(tmp_path, groq, did, tg, dc)
    async with open_core(settings) as core:
        lines = [await check(core) for check in (check_groq, check_did, check_telegram)]
        lines.append(await check_discord(core))
    assert lines[2].startswith("logged in as @") and "gateway READY" in lines[3]
    assert proxy.targets(f"{groq.base_url}/openai/v1/models")
    assert proxy.targets(f"{did.base_url}/credits")
    assert proxy.targets(f"{tg.base_url}/bot{tg.token}/getMe")
    assert proxy.targets(f"{dc.api_url}/users/@me")


async def test_credentials_in_the_proxy_url_are_sent_to_the_proxy(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram, dc: FakeDiscord
) -> None:
    async with ForwardProxy(credentials=("ava", "s3cr:t")) as proxy:
        url = proxy.url.replace("s3cr:t", "s3cr%3At")  # a colon in a password is escaped
        settings = every_service(tmp_path, groq, did, tg, dc, HTTP_PROXY=url, NO_PROXY="")
        async with open_core(settings) as core:
            for check in (check_groq, check_did, check_telegram, check_discord):
                await check(core)
        assert "s3cr:t" in settings.secrets()  # never logged
    expected = "Basic " + base64.b64encode(b"ava:s3cr:t").decode()
    assert len(proxy.passed) >= 4
    assert {p.proxy_authorization for p in proxy.passed} == {expected}


def test_a_proxy_that_is_not_http_is_one_clear_line(tmp_path: Path, groq: FakeGroq) -> None:
    from pydantic import ValidationError

    from bot.settings_errors import describe

    with pytest.raises(ValidationError) as raised:
        settings_for(tmp_path, groq, None, HTTPS_PROXY="socks5://127.0.0.1:1080")
    assert describe(raised.value) == (
        "HTTPS_PROXY is invalid: must be an http:// proxy URL, not socks5 scheme "
        "(HTTPS and SOCKS proxies are not supported)"
    )


@pytest.mark.parametrize(
    ("service", "settings"),
    [
        ("Telegram", {"TELEGRAM_BOT_TOKEN": "123456:telegram-secret-token"}),
        ("Discord", {"DISCORD_BOT_TOKEN": "discord.secret.token"}),
    ],
)
async def test_a_proxy_that_is_down_is_named_in_the_start_up_line(
    tmp_path: Path, closed_port: int, service: str, settings: dict[str, str]
) -> None:
    setting = f"{service.upper()}_API_BASE_URL"
    base = f"http://127.0.0.1:9/{'api/v10' if service == 'Discord' else ''}".rstrip("/")
    proxy = f"http://ava:pw-secret@127.0.0.1:{closed_port}"
    env = environment(tmp_path, closed_port, **settings, **{setting: base}, HTTP_PROXY=proxy)
    env["PYTHONPATH"] = str(Path(__file__).parent.parent)  # this checkout's code
    assert await avatarbot(tmp_path, env, "run") == (
        2,
        [
            f"avatarbot: cannot reach {service} at {setting} (127.0.0.1:9) "
            f"through HTTP_PROXY (127.0.0.1:{closed_port}): connection refused"
        ],
    )


def test_a_tunnel_the_proxy_refuses_is_one_line_not_a_bug() -> None:
    import aiohttp
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    from bot.startup import explain
    from tests.test_startup import raised
    from tests.test_startup import settings as plain_settings

    target = URL("https://discord.com/api/v10/users/@me")
    info = aiohttp.RequestInfo(target, "GET", CIMultiDictProxy(CIMultiDict()), target)
    error = aiohttp.ClientHttpProxyError(info, (), status=502, message="Bad Gateway")
    line = explain(raised(error), plain_settings())
    assert line is not None and "Bad Gateway" in line
