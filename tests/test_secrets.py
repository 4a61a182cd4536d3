"""No token or key in any log line or anything sent to users, at DEBUG, across the scenarios.

Each test runs the wired bot with logging configured as `avatarbot` does (`bot.logs.configure`
at DEBUG), drives the usual scenarios and their failures through the fakes, then scans the log
and everything the fakes received (what users are shown, what D-ID is asked to say, what Groq
is asked) for every secret and for each part of the ones made of parts.
"""

import base64
import io
import logging
import sqlite3
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot import logs
from bot.settings import Settings
from tests.fakes.did import FakeDID
from tests.fakes.discord import GUILD_ID, TEXT_CHANNEL_ID, USER_ID, AttachmentSpec, FakeDiscord
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at

VOICE = (Path(__file__).parent / "data" / "voice.ogg").read_bytes()
ALICE, BOB, CAROL = 1001, 1002, 1003
TELEGRAM_TOKEN = "7654321:AAH-telegram-secret-half"
DISCORD_TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.GfAkEz.discord-secret-hmac"
GROQ_KEY = "gsk_groq-secret-key-0123456789"
# D-ID shows a key as `base64(email):password`, and both halves go in the Basic header.
DID_KEY = base64.b64encode(b"ava@example.com").decode().rstrip("=") + ":did-secret-password"
WEB_TOKEN = "web-secret-access-token"
WRONG_GROQ_KEY = "gsk_wrong-groq-secret-key"
WRONG_DID_KEY = "d3JvbmdAZXhhbXBsZS5jb20:wrong-did-password"
WRONG_TELEGRAM_TOKEN = "7654321:AAH-wrong-telegram-half"


def parts(secret: str) -> list[str]:
    """A secret and the secret parts of it: each half of a D-ID key, a token's signature."""
    found = [secret]
    if ":" in secret:  # D-ID keys (both halves); Telegram tokens (the half after the bot id)
        head, tail = secret.split(":", 1)
        found += [tail] if head.isdigit() else [head, tail]
    if secret.count(".") == 2:  # Discord tokens: user id, timestamp, signature
        found.append(secret.rsplit(".", 1)[1])
    return found


class Capture:
    """The log at DEBUG, as `avatarbot` writes it, with every secret of the settings redacted."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self._handler: logging.Handler | None = None
        self._levels: dict[str, int] = {}

    def configure(self, settings: Settings) -> None:
        """Log as `avatarbot` does; a second call replaces the handler, like `configure`."""
        if not self._levels:
            self._levels = {"": logging.getLogger().level} | {
                name: logging.getLogger(name).level
                for name in ("httpx", "httpcore", "hpack", "aiosqlite", "discord.gateway")
            }
        self._handler = logs.configure("DEBUG", settings.secrets(), self.stream)

    def restore(self) -> None:
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
        for name, level in self._levels.items():
            logging.getLogger(name or None).setLevel(level)

    @property
    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def log() -> Iterator[Capture]:
    capture = Capture()
    yield capture
    capture.restore()


@pytest.fixture
def discord_urls() -> Iterator[None]:
    saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY  # the adapter sets both
    yield
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


@pytest.fixture
async def groq() -> AsyncIterator[FakeGroq]:
    async with FakeGroq(api_key=GROQ_KEY) as fake:
        yield fake


@pytest.fixture
async def did() -> AsyncIterator[FakeDID]:
    async with FakeDID(api_key=DID_KEY, render_seconds=0.02) as fake:
        yield fake


def settings_with_secrets(tmp_path: Path, groq: FakeGroq, did: FakeDID, **more: Any) -> Settings:
    return settings_for(
        tmp_path,
        groq,
        did,
        WEB_ENABLED=True,
        WEB_HOST="127.0.0.1",
        WEB_PORT=0,
        WEB_AUTH_TOKEN=WEB_TOKEN,
        AVATAR_PAUSE_SECONDS=0,  # every D-ID failure below is tried, none is skipped
        **more,
    )


def received(*fakes: Any) -> str:
    """What the fakes were sent, minus the headers and URLs that carry credentials by design."""
    seen = []
    for fake in fakes:
        for request in fake.requests:
            body = [getattr(request, name, None) for name in ("json", "form", "params", "query")]
            seen.append(repr(body))
    return "\n".join(seen)


def assert_no_secret(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        for part in parts(secret):
            assert part not in text, f"a secret ({part[:4]}…) leaked"


def web_key(settings: Settings) -> str:
    """The web chat's signing key, which the bot made and keeps in its database."""
    with sqlite3.connect(settings.DATABASE_PATH) as db:
        (value,) = db.execute("SELECT value FROM server_keys WHERE name = 'web'").fetchone()
    return str(value)


def assert_debug_was_on(logged: str) -> None:
    debug = [line for line in logged.splitlines() if " DEBUG " in line]
    assert len(debug) > 10, "DEBUG logging was not on"


async def test_telegram_groq_and_did_scenarios(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, log: Capture
) -> None:
    async with FakeTelegram(token=TELEGRAM_TOKEN) as tg:
        settings = settings_with_secrets(tmp_path, groq, did, **telegram_at(tg))
        log.configure(settings)
        fast = {"retry-after-ms": "10"}
        async with running_bot(settings):
            # A voice note, a text, Telegram's 429 and 500 on the way back.
            tg.fail_next("sendMessage", 429, retry_after=0)
            tg.fail_next("sendMessage", 500)
            tg.push_voice(ALICE, VOICE)
            tg.push_text(ALICE, "and a text")
            await tg.wait_for_sent(ALICE, "sendVideo", count=2)
            # Groq: a 429 then an answer; 5xx through every retry; a stream broken midway; a
            # refused key on Whisper.
            groq.fail_next("chat/completions", 429, headers=fast)
            tg.push_text(BOB, "after a 429")
            await tg.wait_for_sent(BOB, "sendVideo")
            groq.fail_next("chat/completions", 503, headers=fast, times=3)
            groq.fail_stream_next(2)
            groq.fail_next("audio/transcriptions", 401)
            tg.push_text(BOB, "through 5xx")
            tg.push_text(BOB, "broken stream")
            tg.push_voice(BOB, VOICE)
            await tg.wait_for_sent(BOB, "sendMessage", count=4)
            # D-ID: a 503, then out of credits; a render that fails; then a video.
            did.fail_next("POST /talks", 503, headers={"retry-after": "0"})
            did.fail_next("POST /talks", 402)
            did.next_outcome("error", kind="FaceError", description="no face found")
            tg.push_text(CAROL, "one")
            tg.push_text(CAROL, "two")
            tg.push_text(CAROL, "three")
            await tg.wait_for_sent(CAROL, "sendVideo")
            await tg.wait_for(lambda: len(tg.sent(CAROL, "sendMessage")) == 5)
    assert "misconfigured" in (tg.sent(BOB, "sendMessage")[-1].text or "")
    assert_debug_was_on(log.text)
    secrets = settings.secrets() + [web_key(settings)]  # derived ones included
    assert_no_secret(log.text + received(tg, groq, did), secrets)


async def test_discord_scenarios(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, log: Capture, discord_urls: None
) -> None:
    async with FakeDiscord(token=DISCORD_TOKEN) as dc:
        settings = settings_with_secrets(
            tmp_path,
            groq,
            did,
            DISCORD_BOT_TOKEN=dc.token,
            DISCORD_API_BASE_URL=dc.api_url,
            DISCORD_GATEWAY_URL=dc.gateway_url,
            DISCORD_GUILD_IDS=str(GUILD_ID),
        )
        log.configure(settings)
        async with running_bot(settings):
            await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands)
            talk = await dc.push_interaction("talk", {"text": "hi there"})
            audio = AttachmentSpec("question.ogg", VOICE, "audio/ogg")
            spoken = await dc.push_interaction("talk", {"audio": audio})
            dc.fail_next("/channels/{channel_id}/messages", 429, retry_after=0.01)
            await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} what's up?")
            did.next_outcome("error", kind="FaceError", description="no face found")
            await dc.push_dm(USER_ID, "a DM")
            dm = dc.add_dm_channel(USER_ID)

            def endings() -> list[str]:
                """Each answer's video, or the line saying why there is none."""
                sent = dc.sent(TEXT_CHANNEL_ID) + dc.sent(dm)
                return [
                    "video" if s.files else s.content or ""
                    for s in sent
                    if s.kind in ("message", "followup")
                    and (s.files or (s.content or "").startswith("🎬"))
                ]

            await dc.wait_for(lambda: len(endings()) == 4)
    assert sorted(endings()) == ["video"] * 3 + ["🎬 The avatar video couldn't be made this time."]
    assert_debug_was_on(log.text)
    assert_no_secret(log.text + received(dc, groq, did), settings.secrets())
    # An interaction token lets anyone edit and follow up that answer for 15 minutes.
    assert not any(pushed.token in log.text for pushed in (talk, spoken))


async def test_wrong_keys_and_token(tmp_path: Path, log: Capture) -> None:
    async with (
        FakeGroq(api_key=GROQ_KEY) as groq,
        FakeDID(api_key=DID_KEY, render_seconds=0.02) as did,
        FakeTelegram(token=TELEGRAM_TOKEN) as tg,
    ):

        def wrong(**keys: str) -> Settings:
            keys.setdefault("TELEGRAM_BOT_TOKEN", tg.token)
            settings = settings_with_secrets(
                tmp_path / "-".join(keys), groq, did, TELEGRAM_API_BASE_URL=tg.base_url, **keys
            )
            log.configure(settings)  # as `avatarbot run` does, with this run's own secrets
            return settings

        async with running_bot(wrong(GROQ_API_KEY=WRONG_GROQ_KEY)):
            tg.push_voice(ALICE, VOICE)
            tg.push_text(ALICE, "hello?")
            await tg.wait_for_sent(ALICE, "sendMessage", count=2)
        async with running_bot(wrong(DID_API_KEY=WRONG_DID_KEY)):
            tg.push_text(BOB, "and now?")
            await tg.wait_for_sent(BOB, "sendMessage", count=2)
        with pytest.raises(Exception) as refused:  # noqa: B017 (what matters is its text)
            async with running_bot(wrong(TELEGRAM_BOT_TOKEN=WRONG_TELEGRAM_TOKEN)):
                await tg.wait_for(lambda: len(tg.calls("getMe")) == 3)
    assert [s.text for s in tg.sent(ALICE, "sendMessage")] == [
        "⚠️ My speech service is misconfigured.",
        "⚠️ My answering service is misconfigured.",
    ]
    assert tg.sent(BOB, "sendMessage")[-1].text == "🎬 The avatar video couldn't be made this time."
    assert str(refused.value) == "Telegram refused TELEGRAM_BOT_TOKEN (getMe)"
    shown = "".join(traceback.format_exception(refused.value))  # what `avatarbot run` prints
    secrets = [GROQ_KEY, DID_KEY, TELEGRAM_TOKEN, WEB_TOKEN]
    secrets += [WRONG_GROQ_KEY, WRONG_DID_KEY, WRONG_TELEGRAM_TOKEN]
    assert_debug_was_on(log.text)
    assert_no_secret(log.text + shown + received(tg, groq, did), secrets)
