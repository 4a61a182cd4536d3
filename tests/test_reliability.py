"""Nothing lost, nothing twice: `avatarbot run` killed and restarted against the local fakes."""

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.fakes.did import FakeDID
from tests.fakes.discord import TEXT_CHANNEL_ID, FakeDiscord, PushedInteraction
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.processes import Children

CHAT = 1001

GROQ_REPLY = "Here I am."  # what the fake model answers (tests/conftest.py)


@pytest.fixture
def env(tmp_path: Path, groq: FakeGroq, did: FakeDID, tg: FakeTelegram) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GROQ_API_KEY": groq.api_key,
        "GROQ_BASE_URL": groq.base_url,
        "DID_API_KEY": did.api_key,
        "DID_API_BASE_URL": did.base_url,
        "DID_POLL_FIRST_SECONDS": "0.01",
        "DID_POLL_INTERVAL_SECONDS": "0.01",
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_API_BASE_URL": tg.base_url,
        "WEB_ENABLED": "false",
        "DATABASE_PATH": str(tmp_path / "bot.db"),
        "SHUTDOWN_GRACE_SECONDS": "10",
    }


def discord_env(env: dict[str, str], dc: FakeDiscord) -> dict[str, str]:
    """The bot's environment with Discord (the fake) instead of Telegram."""
    return {k: v for k, v in env.items() if not k.startswith("TELEGRAM")} | {
        "DISCORD_BOT_TOKEN": dc.token,
        "DISCORD_API_BASE_URL": dc.api_url,
        "DISCORD_GATEWAY_URL": dc.gateway_url,
    }


async def avatarbot_run(
    children: Children, cwd: Path, env: dict[str, str]
) -> asyncio.subprocess.Process:
    """`avatarbot run` in its own process, output discarded, reaped when the test ends."""
    return await children.start(
        sys.executable, "-m", "bot", "run", cwd=cwd, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def start_on_discord(
    children: Children, dc: FakeDiscord, env: dict[str, str], cwd: Path
) -> asyncio.subprocess.Process:
    """`avatarbot run` as a process, once it has logged in and connected to the gateway."""
    identified = len(dc.calls("/users/@me"))
    process = await avatarbot_run(children, cwd, env)
    await dc.wait_for(lambda: len(dc.calls("/users/@me")) > identified, timeout=20)
    await dc.wait_for(lambda: dc.connected, timeout=20)
    return process


async def killed_mid_answer_and_restarted(
    children: Children,
    dc: FakeDiscord,
    env: dict[str, str],
    cwd: Path,
    groq: FakeGroq,
    ask: Callable[[], Awaitable[object]],
) -> asyncio.subprocess.Process:
    """Ask the bot while its model holds the answer, SIGKILL it, and start it again."""
    first = await start_on_discord(children, dc, env, cwd)
    groq.hold()
    await ask()
    await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
    first.kill()
    await first.wait()
    groq.release()
    return await start_on_discord(children, dc, env, cwd)


async def start(
    children: Children, tmp_path: Path, env: dict[str, str], tg: FakeTelegram
) -> asyncio.subprocess.Process:
    polls = len(tg.calls("getUpdates"))
    process = await avatarbot_run(children, tmp_path, env)
    await tg.wait_for(lambda: len(tg.calls("getUpdates")) > polls, timeout=20)
    return process


async def test_killed_while_answering_the_message_is_answered_once_after_restart(
    tmp_path: Path,
    env: dict[str, str],
    tg: FakeTelegram,
    groq: FakeGroq,
    did: FakeDID,
    children: Children,
) -> None:
    first = await start(children, tmp_path, env, tg)
    gate = groq.hold()
    tg.push_text(CHAT, "are you there?")
    await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
    first.kill()  # SIGKILL: no chance to clean up
    await first.wait()
    groq._hold = None
    gate.set()
    second = await start(children, tmp_path, env, tg)
    await tg.wait_for_sent(CHAT, "sendVideo", timeout=20)
    second.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(second.wait(), 20) == 0
    assert [s.text for s in tg.sent(CHAT, "sendMessage")] == ["Here I am."]
    assert len(tg.sent(CHAT, "sendVideo")) == 1
    assert len(did.talks) == 1


async def test_killed_while_rendering_the_video_is_delivered_once(
    tmp_path: Path,
    env: dict[str, str],
    tg: FakeTelegram,
    did: FakeDID,
    children: Children,
) -> None:
    did.hold_renders = True
    first = await start(children, tmp_path, env, tg)
    tg.push_text(CHAT, "hello")
    await did.wait_for(lambda: any(talk.polls for talk in did.talks.values()))
    first.kill()
    await first.wait()
    did.release_all()
    second = await start(children, tmp_path, env, tg)
    await tg.wait_for_sent(CHAT, "sendVideo", timeout=20)
    second.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(second.wait(), 20) == 0
    assert len(tg.sent(CHAT, "sendMessage")) == 1
    assert len(tg.sent(CHAT, "sendVideo")) == 1
    assert len(did.calls("/talks", "POST")) == 1  # the talk was polled again, not paid twice


async def test_sigterm_lets_the_answer_in_flight_finish(
    tmp_path: Path,
    env: dict[str, str],
    tg: FakeTelegram,
    groq: FakeGroq,
    children: Children,
) -> None:
    process = await start(children, tmp_path, env | {"DID_API_KEY": ""}, tg)
    gate = groq.hold()
    tg.push_text(CHAT, "quick question")
    await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
    process.send_signal(signal.SIGTERM)
    gate.set()
    assert await asyncio.wait_for(process.wait(), 20) == 0
    assert [s.text for s in tg.sent(CHAT, "sendMessage")] == ["Here I am."]


async def test_answer_still_in_flight_after_the_grace_period_is_answered_on_restart(
    tmp_path: Path,
    env: dict[str, str],
    tg: FakeTelegram,
    groq: FakeGroq,
    children: Children,
) -> None:
    env = env | {"DID_API_KEY": "", "SHUTDOWN_GRACE_SECONDS": "0.2"}
    first = await start(children, tmp_path, env, tg)
    gate = groq.hold()
    tg.push_text(CHAT, "slow question")
    await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
    first.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(first.wait(), 20) == 0  # the grace period is bounded
    assert not tg.sent(CHAT, "sendMessage")
    groq._hold = None
    gate.set()
    second = await start(children, tmp_path, env, tg)
    await tg.wait_for_sent(CHAT, "sendMessage", timeout=20)
    second.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(second.wait(), 20) == 0
    assert [s.text for s in tg.sent(CHAT, "sendMessage")] == ["Here I am."]


async def test_discord_message_killed_mid_answer_is_answered_once_after_restart(
    tmp_path: Path,
    env: dict[str, str],
    groq: FakeGroq,
    did: FakeDID,
    children: Children,
) -> None:
    async with FakeDiscord() as dc:
        second = await killed_mid_answer_and_restarted(
            children,
            dc,
            discord_env(env, dc),
            tmp_path,
            groq,
            lambda: dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} still there?"),
        )
        await dc.wait_for(lambda: any(s.files for s in dc.sent(TEXT_CHANNEL_ID, "message")), 20)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 20) == 0
        replies = [s for s in dc.sent(TEXT_CHANNEL_ID, "message") if not s.files]
        assert len(replies) == 1
        assert dc.message(replies[0].message_id or 0)["content"] == "Here I am."  # type: ignore[index]


async def test_discord_talk_killed_mid_answer_is_answered_in_its_response_after_restart(
    tmp_path: Path,
    env: dict[str, str],
    groq: FakeGroq,
    did: FakeDID,
    children: Children,
) -> None:
    async with FakeDiscord() as dc:
        pushed: list[PushedInteraction] = []

        async def talk() -> None:
            pushed.append(await dc.push_interaction("talk", {"text": "still there?"}))

        second = await killed_mid_answer_and_restarted(
            children, dc, discord_env(env, dc), tmp_path, groq, talk
        )

        def edits() -> list[str]:
            responses = dc.interaction_responses(pushed[0].id)
            return [r.content or "" for r in responses if r.kind == "edit_original"]

        await dc.wait_for(lambda: "Here I am." in edits(), timeout=20)
        await dc.wait_for(
            lambda: any(r.files for r in dc.interaction_responses(pushed[0].id)), timeout=20
        )
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 20) == 0
    assert [r.kind for r in dc.interaction_responses(pushed[0].id)][
        0
    ] == "callback"  # deferred once
    assert edits()[-1] == "Here I am."
    assert len(groq.chat_bodies) == 2  # asked again after the restart, once


async def test_web_message_cut_by_a_stop_is_answered_on_restart_and_not_twice(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    import socket

    import aiohttp

    from tests.harness import running_bot, settings_for, web_listening

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = settings_for(
        tmp_path, groq, did, WEB_ENABLED=True, WEB_PORT=port, SHUTDOWN_GRACE_SECONDS=0
    )
    url = f"ws://127.0.0.1:{port}/ws"
    frame = {"type": "text", "turn": "t1", "text": "remember this"}

    async with aiohttp.ClientSession() as session:
        groq.hold()
        async with running_bot(settings):
            await web_listening(session, port)
            async with session.ws_connect(url) as ws:
                ready = await ws.receive_json(timeout=5)  # the server issues the id
                await ws.send_json(frame)
                await groq.wait_for(lambda: len(groq.chat_bodies) == 1)
        groq.release()
        async with running_bot(settings):  # the unanswered turn is answered on start
            await groq.wait_for(lambda: len(groq.chat_bodies) == 2)
            await did.wait_for(lambda: len(did.talks) == 1)
            await web_listening(session, port)
            resumed = f"{url}?conversation={ready['conversation']}&since=0"
            async with session.ws_connect(resumed) as ws:
                await ws.receive_json(timeout=5)  # ready
                await ws.send_json(frame)  # a page resending the same turn is not answered again
                video = await ws.receive_json(timeout=5)
                while video["type"] != "video":
                    video = await ws.receive_json(timeout=5)
    assert video["turn"] == "t1"
    assert len(groq.chat_bodies) == 2


async def test_telegram_video_cut_mid_upload_is_delivered_once_after_restart(
    tmp_path: Path,
    env: dict[str, str],
    tg: FakeTelegram,
    did: FakeDID,
    children: Children,
) -> None:
    # The upload is still arriving at Telegram when the bot dies: the video was not delivered.
    upload = tg.hold_next("sendVideo")
    first = await start(children, tmp_path, env, tg)
    tg.push_text(CHAT, "hello")
    await asyncio.wait_for(upload.arrived.wait(), 20)
    first.kill()
    await first.wait()
    second = await start(children, tmp_path, env, tg)
    await tg.wait_for_sent(CHAT, "sendVideo", timeout=20)
    second.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(second.wait(), 20) == 0
    assert len(tg.sent(CHAT, "sendVideo")) == 1
    assert len(tg.sent(CHAT, "sendMessage")) == 1
    assert len(did.calls("/talks", "POST")) == 1  # the rendered video was kept, not paid twice
