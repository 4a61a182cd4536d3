"""The bot's own lines in the user's language on each platform, through the real libraries
against the fakes: Telegram's language_code, Discord's interaction and guild locales, the
browser's Accept-Language; a language not shipped gets English."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.telegram.handlers import UNSUPPORTED
from adapters.web.app import WebAdapter
from bot.wiring import open_core
from core.commands import SPECS, help_text
from core.i18n import Catalogs, Line
from tests.fakes.did import FakeDID
from tests.fakes.discord import BOT_ID, GUILD_ID, TEXT_CHANNEL_ID, FakeDiscord
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, serving_web, settings_for, telegram_at

ALICE = 1001
CATALOGS = Catalogs()
RESET_DONE = Line("Done — I've forgotten our conversation.")
TOO_LONG = "That's too long for me — please keep it under {limit} characters."
NOT_ANSWERING = Line("My answering service isn't answering right now — please try again shortly.")


def said(locale: str, line: str) -> str:
    return CATALOGS.lines(locale).say(line)


# -- Telegram ------------------------------------------------------------------------------


@pytest.fixture
async def telegram_bot(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram
) -> AsyncIterator[None]:
    async with running_bot(settings_for(tmp_path, groq, did, **telegram_at(tg))):
        await tg.wait_for(lambda: tg.calls("getUpdates"))
        yield


def telegram_texts(tg: FakeTelegram, chat: int) -> list[str]:
    return [s.text or "" for s in tg.sent(chat, "sendMessage")]


async def test_telegram_menu_is_published_in_every_shipped_language(
    tg: FakeTelegram, telegram_bot: None
) -> None:
    calls = {c.params.get("language_code"): c.params["commands"] for c in tg.calls("setMyCommands")}
    assert set(calls) == {None, "es", "de", "fr", "ru", "pt"}  # ISO 639-1: pt-BR is "pt"
    names = [c["command"] for c in calls[None]]
    for language, commands in calls.items():
        assert [c["command"] for c in commands] == names
        if language is not None:
            english = {c["command"]: c["description"] for c in calls[None]}
            assert all(c["description"] != english[c["command"]] for c in commands), language
    german = {c["command"]: c["description"] for c in calls["de"]}
    assert german["reset"] == said("de", Line(SPECS["reset"].description))


async def test_telegram_user_with_german_gets_german_lines(
    tg: FakeTelegram, groq: FakeGroq, telegram_bot: None
) -> None:
    tg.push_text(ALICE, "/reset", language_code="de")
    await tg.wait_for_sent(ALICE, "sendMessage")
    tg.push_document(ALICE, b"%PDF-1.4", mime="application/pdf", language_code="de")
    await tg.wait_for_sent(ALICE, "sendMessage", count=2)
    groq.fail_next("chat/completions", 500, times=3)  # the SDK's retries too
    tg.push_text(ALICE, "hallo", language_code="de")
    await tg.wait_for_sent(ALICE, "sendMessage", count=3)
    reset, unsupported, failed = telegram_texts(tg, ALICE)
    assert reset == said("de", RESET_DONE) != RESET_DONE
    assert unsupported == said("de", UNSUPPORTED) != UNSUPPORTED
    assert failed == f"⚠️ {said('de', NOT_ANSWERING)}"
    assert "Antwort" in failed or "antwort" in failed.lower()


async def test_telegram_help_and_usage_in_german(tg: FakeTelegram, telegram_bot: None) -> None:
    tg.push_text(ALICE, "/help", language_code="de")
    await tg.wait_for_sent(ALICE, "sendMessage")
    tg.push_text(ALICE, "/usage", language_code="de-AT")
    await tg.wait_for_sent(ALICE, "sendMessage", count=2)
    help_, usage = telegram_texts(tg, ALICE)
    assert help_ == help_text("telegram", CATALOGS.lines("de")) != help_text("telegram")
    assert help_.startswith("Schick Text oder eine Sprachnachricht")
    assert "/reset — " + said("de", Line(SPECS["reset"].description)) in help_
    assert usage.startswith("Deine Nutzung heute (UTC): Videos: 0 (0 s Video)")


async def test_telegram_video_delivery_speaks_the_language_of_its_answer(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram
) -> None:
    """The render job outlives the turn: its target keeps the locale for the delivery's line."""
    settings = settings_for(tmp_path, groq, did, **telegram_at(tg), TELEGRAM_UPLOAD_LIMIT_MB=0.001)
    async with running_bot(settings):
        tg.push_text(ALICE, "hola", language_code="es")
        await tg.wait_for_sent(ALICE, "sendMessage", count=2)
    over = Line("The avatar video is over Telegram's {limit} MB limit, sorry.", limit=0)
    assert telegram_texts(tg, ALICE)[-1] == said("es", over) != over


async def test_telegram_unknown_or_missing_language_gets_english(
    tg: FakeTelegram, telegram_bot: None
) -> None:
    tg.push_text(ALICE, "/reset", language_code="ja")
    await tg.wait_for_sent(ALICE, "sendMessage")
    tg.push_text(ALICE, "/reset", language_code="")
    await tg.wait_for_sent(ALICE, "sendMessage", count=2)
    assert telegram_texts(tg, ALICE) == [RESET_DONE, RESET_DONE]


async def test_telegram_refuses_a_regional_language_code(tg: FakeTelegram) -> None:
    """The fake holds setMyCommands to what Telegram accepts: two lowercase letters."""
    async with aiohttp.ClientSession() as session:
        url = f"{tg.base_url}/bot{tg.token}/setMyCommands"
        body = {"commands": [{"command": "help", "description": "Hilfe"}], "language_code": "pt-BR"}
        async with session.post(url, json=body) as response:
            answer = await response.json()
    assert response.status == 400
    assert answer["description"] == "Bad Request: Invalid language code specified"


# -- Discord -------------------------------------------------------------------------------


def discord_settings(tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord) -> Any:
    return settings_for(
        tmp_path,
        groq,
        did,
        DISCORD_BOT_TOKEN=dc.token,
        DISCORD_API_BASE_URL=dc.api_url,
        DISCORD_GATEWAY_URL=dc.gateway_url,
        DISCORD_GUILD_IDS=str(GUILD_ID),
    )


@pytest.fixture
async def discord_bot(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> AsyncIterator[None]:
    async with running_bot(discord_settings(tmp_path, groq, did, dc)):
        await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands)
        yield


async def test_discord_commands_carry_localized_descriptions(
    dc: FakeDiscord, discord_bot: None
) -> None:
    commands = {c["name"]: c for c in dc.commands[GUILD_ID]}
    reset = commands["reset"]["description_localizations"]
    assert set(reset) == {"es-ES", "es-419", "de", "fr", "ru", "pt-BR"}
    assert reset["fr"] == said("fr", Line(SPECS["reset"].description))
    assert all(0 < len(text) <= 100 for text in reset.values())
    talk_text = next(o for o in commands["talk"]["options"] if o["name"] == "text")
    assert talk_text["description_localizations"]["de"] == said("de", Line("What to say"))
    assert all(not c.get("name_localizations") for c in commands.values())  # names stay


async def test_discord_user_with_french_gets_french_lines(
    dc: FakeDiscord, discord_bot: None
) -> None:
    pushed = await dc.push_interaction("reset", locale="fr")
    await dc.wait_for(lambda: dc.interaction_responses(pushed.id))
    (reply,) = dc.interaction_responses(pushed.id)
    assert reply.content == said("fr", RESET_DONE) != RESET_DONE
    empty = await dc.push_interaction("talk", locale="fr")  # nothing to talk about: declined
    await dc.wait_for(
        lambda: any(r.kind == "edit_original" for r in dc.interaction_responses(empty.id))
    )
    edit = [r for r in dc.interaction_responses(empty.id) if r.kind == "edit_original"][-1]
    nothing = Line("Give me some `text` or an `audio` file to answer.")
    assert edit.content == f"⚠️ {said('fr', nothing)}"
    english = await dc.push_interaction("reset", locale="ja")  # not shipped
    await dc.wait_for(lambda: dc.interaction_responses(english.id))
    assert dc.interaction_responses(english.id)[0].content == RESET_DONE


async def test_discord_message_lines_follow_the_guild_locale(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    dc.guilds[GUILD_ID]["preferred_locale"] = "de"  # a message carries no locale of its user
    async with running_bot(discord_settings(tmp_path, groq, did, dc)):
        await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands)
        groq.fail_next("chat/completions", 500, times=3)
        await dc.push_message(TEXT_CHANNEL_ID, f"<@{BOT_ID}> hallo")
        await dc.wait_for(lambda: dc.sent(TEXT_CHANNEL_ID, "message"))
    (reply,) = dc.sent(TEXT_CHANNEL_ID, "message")
    assert reply.content == f"⚠️ {said('de', NOT_ANSWERING)}"


# -- Web -----------------------------------------------------------------------------------


@pytest.fixture
async def web(tmp_path: Path, groq: FakeGroq, did: FakeDID) -> AsyncIterator[WebAdapter]:
    settings = settings_for(tmp_path, groq, did, WEB_ENABLED=True, MAX_MESSAGE_CHARS=50)
    async with open_core(settings) as core:
        async with serving_web(
            core, "test-web-secret-0123456789abcdef0123456789", catalogs=core.catalogs
        ) as adapter:
            yield adapter


async def _errors(web: WebAdapter, accept_language: str | None, frames: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    """The error lines the tab gets for `frames`, one per frame."""
    headers = {"Accept-Language": accept_language} if accept_language else {}
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{web.port}/ws"
        async with session.ws_connect(url, headers=headers) as ws:
            ready = json.loads((await ws.receive(timeout=5)).data)
            assert ready["state"] == "ready"
            got = []
            for frame in frames:
                await ws.send_json(frame)
                while (message := json.loads((await ws.receive(timeout=5)).data))[
                    "type"
                ] != "error":
                    pass
                got.append(message["message"])
            return got


async def test_web_tab_with_spanish_gets_spanish_lines(web: WebAdapter, groq: FakeGroq) -> None:
    groq.fail_next("chat/completions", 500, times=3)
    frames = [
        {"type": "text", "turn": "t1", "text": "x" * 51},  # refused by the adapter
        {"type": "text", "turn": "t2", "text": "hola"},  # failed in the core
    ]
    too_long, failed = await _errors(web, "es-ES,es;q=0.9,en;q=0.5", frames)
    assert too_long == CATALOGS.lines("es").gettext(TOO_LONG, limit=50) != Line(TOO_LONG, limit=50)
    assert failed == said("es", NOT_ANSWERING) != NOT_ANSWERING


async def test_web_tab_with_an_unshipped_language_gets_english(web: WebAdapter) -> None:
    (too_long,) = await _errors(web, "ja-JP,ja", [{"type": "text", "turn": "t1", "text": "x" * 51}])
    assert too_long == Line(TOO_LONG, limit=50)


@pytest.mark.parametrize(
    ("localizations", "code"),
    [
        ({"pt": "Esquecer"}, "LOCALE_INVALID"),  # Discord's key is "pt-BR"
        ({"es": "Olvidar"}, "LOCALE_INVALID"),  # "es-ES" or "es-419"
        ({"fr": "x" * 101}, "BASE_TYPE_BAD_LENGTH"),  # 100 characters at most
    ],
)
async def test_discord_refuses_what_it_cannot_localize(
    dc: FakeDiscord, localizations: dict[str, str], code: str
) -> None:
    """The fake holds the command tree to what Discord accepts (50035, naming the field)."""
    command = {"name": "reset", "description": "Forget", "description_localizations": localizations}
    url = f"{dc.api_url}/applications/{dc.application_id}/guilds/{GUILD_ID}/commands"
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bot {dc.token}"}) as session,
        session.put(url, json=[command]) as response,
    ):
        answer = await response.json()
    assert (response.status, answer["code"]) == (400, 50035)
    (locale,) = localizations
    errors = answer["errors"]["0"]["description_localizations"][locale]["_errors"]
    assert errors[0]["code"] == code
    assert GUILD_ID not in dc.commands
