"""The lines of voice answers, the live avatar, photos and the web chat's commands in the user's
language, through the real libraries against the fakes: a German Telegram user's voice-answer
captions and limits, a Spanish web tab's live-avatar refusals and command replies, a French
Discord guild's photo refusal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.telegram.delivery import NO_VOICE_NOTES
from adapters.web.app import WebAdapter
from bot.platforms import web_live
from bot.wiring import open_core
from core.avatar.streams import StreamError
from core.i18n import Catalogs, Line
from core.replies import PAUSED
from core.types import ConversationKey
from core.voice_answers import INSTEAD
from tests.fakes.did import FakeDID
from tests.fakes.did_streams import AGENT_ID, FakeDidStreams
from tests.fakes.discord import BOT_ID, GUILD_ID, TEXT_CHANNEL_ID, AttachmentSpec, FakeDiscord
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, serving_web, settings_for, telegram_at
from tests.photos import png

ALICE, GROUP = 1001, -100500
CATALOGS = Catalogs()
SECRET = "test-web-secret-0123456789abcdef0123456789"


def said(locale: str, line: str) -> str:
    return CATALOGS.lines(locale).say(line)


def voice_mode(value: str | None) -> Any:
    async def reply_mode(key: ConversationKey) -> str | None:
        return value

    return reply_mode


# -- Telegram: voice answers in German -------------------------------------------------------


def tts_settings(
    tmp_path: Path, groq: FakeGroq, did: FakeDID | None, tg: FakeTelegram, **extra: Any
) -> Any:
    return settings_for(tmp_path, groq, did, **telegram_at(tg), TTS_ENABLED=True, **extra)


async def test_telegram_german_voice_answer_instead_of_a_video_says_why_in_german(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram
) -> None:
    config = tts_settings(tmp_path, groq, did, tg, AVATAR_DAILY_LIMIT_PER_USER=0)
    async with running_bot(config):
        tg.push_text(ALICE, "hallo", language_code="de")
        (voice,) = await tg.wait_for_sent(ALICE, "sendVoice")
    assert voice.caption is not None
    why, instead = voice.caption.splitlines()
    assert why.startswith(
        "🎬 Diesmal kein Video: deine 0 Avatar-Videos für heute sind aufgebraucht"
    )
    assert instead == said("de", INSTEAD) == "🔊 Hier ist stattdessen eine Sprachantwort."


async def test_telegram_german_caption_of_a_voice_answer_after_d_id_paused(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram
) -> None:
    did.credits_remaining = 0  # the first render fails as out of credits: renders pause
    async with running_bot(tts_settings(tmp_path, groq, did, tg)):
        tg.push_text(ALICE, "hallo", language_code="de")
        first = await tg.wait_for_sent(ALICE, "sendVoice")
        tg.push_text(ALICE, "noch einmal", language_code="de")
        second = await tg.wait_for_sent(ALICE, "sendVoice", count=2)
    assert first[0].caption == said("de", INSTEAD)  # a durable job's fallback: the job's target
    assert second[1].caption == said("de", PAUSED) != PAUSED
    assert second[1].caption.startswith("🔊 Avatar-Videos sind gerade pausiert")


async def test_telegram_german_user_over_the_voice_limit_is_told_in_german(
    tmp_path: Path, groq: FakeGroq, tg: FakeTelegram
) -> None:
    config = tts_settings(tmp_path, groq, None, tg, TTS_DAILY_LIMIT_PER_USER=0)
    async with running_bot(config, voice_mode("voice")):
        tg.push_text(ALICE, "hallo", language_code="de")
        await tg.wait_for_sent(ALICE, "sendMessage", count=2)
    answer, line = (m.text or "" for m in tg.sent(ALICE, "sendMessage"))
    assert answer == "You said: hallo"
    assert line.startswith(
        "🎬 Diesmal keine Sprachantwort: deine 0 Sprachantworten für heute sind aufgebraucht; "
        "das Kontingent wird in "
    )
    assert line.endswith(" Min. zurückgesetzt.")  # the time left, said in German too
    assert tg.sent(ALICE, "sendVoice") == [] and groq.speech_bodies() == []


async def test_telegram_german_group_refusing_voice_notes_is_told_in_german(
    tmp_path: Path, groq: FakeGroq, tg: FakeTelegram
) -> None:
    tg.set_permissions(GROUP, can_send_voice_notes=False)
    async with running_bot(tts_settings(tmp_path, groq, None, tg), voice_mode("voice")):
        tg.push_mention(GROUP, "hallo", language_code="de")
        await tg.wait_for_sent(GROUP, "sendMessage", count=2)
    told = tg.sent(GROUP, "sendMessage")[1].text
    assert told == said("de", NO_VOICE_NOTES) != NO_VOICE_NOTES


# -- Web: the live avatar and the commands in Spanish ----------------------------------------


@pytest.fixture
async def streams() -> AsyncIterator[FakeDidStreams]:
    async with FakeDidStreams() as fake:
        yield fake


async def _web(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams, **extra: Any
) -> AsyncIterator[WebAdapter]:
    settings = settings_for(
        tmp_path,
        groq,
        did,
        WEB_ENABLED=True,
        DID_AGENT_ID=AGENT_ID,
        DID_STREAMS_BASE_URL=streams.base_url,
        MAX_MESSAGE_CHARS=50,
        **extra,
    )
    async with open_core(settings) as core:
        async with serving_web(
            core, SECRET, live=web_live(core), catalogs=core.catalogs
        ) as adapter:
            yield adapter


@pytest.fixture
async def web(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams
) -> AsyncIterator[WebAdapter]:
    async for adapter in _web(tmp_path, groq, did, streams):
        yield adapter


@pytest.fixture
async def web_no_videos_left(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams
) -> AsyncIterator[WebAdapter]:
    async for adapter in _web(tmp_path, groq, did, streams, AVATAR_DAILY_LIMIT_PER_USER=0):
        yield adapter


@pytest.fixture
async def web_voice_instead(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, streams: FakeDidStreams
) -> AsyncIterator[WebAdapter]:
    extra = {"TTS_ENABLED": True, "AVATAR_DAILY_LIMIT_PER_USER": 0}
    async for adapter in _web(tmp_path, groq, did, streams, **extra):
        yield adapter


class Tab:
    """A browser tab's WebSocket, with its Accept-Language, read frame by frame."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.conversation = ws, ""

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_json(frame)

    async def until(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The next frame of `kind` whose fields hold `fields` (others are skipped)."""
        while True:
            message: dict[str, Any] = json.loads((await self.ws.receive(timeout=10)).data)
            if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
                return message


async def _tab(web: WebAdapter, language: str, conversation: str = "") -> AsyncIterator[Tab]:
    """A tab of a new conversation, or of `conversation` (its signed id, as a page keeps it)."""
    headers = {"Accept-Language": language}
    url = f"http://127.0.0.1:{web.port}/ws"
    params = {"conversation": conversation} if conversation else {}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, headers=headers, params=params) as ws,
    ):
        tab = Tab(ws)
        tab.conversation = (await tab.until("status", state="ready"))["conversation"]
        yield tab


@pytest.fixture
async def spanish_tab(web: WebAdapter) -> AsyncIterator[Tab]:
    async for tab in _tab(web, "es-ES,es;q=0.9,en;q=0.5"):
        yield tab


LIVE_OUT_OF_CREDITS = StreamError(402, "InsufficientCreditsError", "").line


async def test_web_spanish_tab_hears_the_live_avatars_refusal_in_spanish(
    web: WebAdapter, streams: FakeDidStreams, spanish_tab: Tab
) -> None:
    streams.refuse_next(402)
    await spanish_tab.send({"type": "stream_open"})
    failed = await spanish_tab.until("stream", state="failed")
    assert failed["message"] == said("es", LIVE_OUT_OF_CREDITS) != LIVE_OUT_OF_CREDITS
    assert failed["message"].startswith("El avatar en directo se quedó sin créditos de D-ID")


async def test_web_spanish_tab_hears_that_the_live_avatar_moved_in_spanish(
    web: WebAdapter, spanish_tab: Tab
) -> None:
    await spanish_tab.send({"type": "stream_open"})
    await spanish_tab.until("stream_offer")
    async for other in _tab(web, "en", spanish_tab.conversation):  # another tab takes it
        await other.send({"type": "stream_open"})
        closed = await spanish_tab.until("stream", state="closed")
        assert closed["message"] == "El avatar en directo se pasó a tu otra pestaña."
        await other.until("stream_offer")


async def test_web_spanish_tab_hears_the_live_budget_stop_in_spanish(
    web_no_videos_left: WebAdapter, groq: FakeGroq
) -> None:
    async for tab in _tab(web_no_videos_left, "es"):
        await tab.send({"type": "stream_open"})
        offer = await tab.until("stream_offer")
        # The page's peer connection came up (the browser's part, not played here).
        await tab.send({"type": "stream_state", "stream": offer["stream"], "state": "connected"})
        await tab.until("stream", state="live")
        await tab.send({"type": "text", "turn": "t1", "text": "hola"})
        refused = await tab.until("error", turn="t1", code="video_refused")
    assert refused["message"] == (
        "El avatar se detiene aquí: ya usaste tus vídeos del avatar de hoy "
        "(el resto está en el texto)."
    )


async def test_web_spanish_tabs_commands_answer_in_spanish(
    web: WebAdapter, spanish_tab: Tab
) -> None:
    await spanish_tab.send({"type": "command", "turn": "c1", "text": "/reply"})
    shown = await spanish_tab.until("command", turn="c1")
    await spanish_tab.send({"type": "command", "turn": "c2", "text": "/persona " + "x" * 60})
    too_long = await spanish_tab.until("error", turn="c2")
    english = Line("That's too long for me — please keep it under {limit} characters.", limit=50)
    assert too_long["message"] == said("es", english) != english
    assert shown["text"].startswith("Aquí respondo con ")


async def test_web_spanish_tab_gets_the_voice_answers_note_in_spanish(
    web_voice_instead: WebAdapter,
) -> None:
    async for tab in _tab(web_voice_instead, "es-419,es;q=0.9"):
        await tab.send({"type": "text", "turn": "t1", "text": "hola"})
        voice = await tab.until("voice", turn="t1")
    why, instead = voice["note"].splitlines()
    assert why.startswith("🎬 Esta vez no hay vídeo: ya usaste tus 0 vídeos del avatar de hoy")
    assert instead == said("es", INSTEAD) == "🔊 Aquí tienes una respuesta de voz en su lugar."


# -- Discord: a photo refused, in the guild's French -----------------------------------------


async def test_discord_photo_refusal_is_said_in_the_guilds_french(
    tmp_path: Path, groq: FakeGroq, dc: FakeDiscord
) -> None:
    """A VISION_MODEL that takes no images: Groq's 400 becomes one line, in French."""
    dc.guilds[GUILD_ID]["preferred_locale"] = "fr"
    settings = settings_for(
        tmp_path,
        groq,
        None,
        DISCORD_BOT_TOKEN=dc.token,
        DISCORD_API_BASE_URL=dc.api_url,
        DISCORD_GATEWAY_URL=dc.gateway_url,
        DISCORD_GUILD_IDS=str(GUILD_ID),
        VISION_MODEL="openai/gpt-oss-120b",
    )
    async with running_bot(settings):
        await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands)
        photo = AttachmentSpec("chat.png", png(), "image/png")
        await dc.push_message(TEXT_CHANNEL_ID, f"<@{BOT_ID}> c'est quoi ?", attachments=[photo])
        await dc.wait_for(lambda: dc.sent(TEXT_CHANNEL_ID, "message"))
    (reply,) = dc.sent(TEXT_CHANNEL_ID, "message")
    assert reply.content == "⚠️ Mon service de photos est mal configuré."
    assert len(groq.chat_bodies) == 1  # the photo went to Groq, which refused it
    face = next(c for c in dc.commands[GUILD_ID] if c["name"] == "face")
    options = {o["name"]: o["description_localizations"] for o in face["options"]}
    assert options["image"]["fr"] == "Une photo JPEG ou PNG d'un visage"
    assert options["reset"]["de"] == "Zurück zum Standardgesicht"
