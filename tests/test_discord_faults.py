"""Discord faults: gateway closes that must not be retried, replies the bot cannot read,
channels that refuse files, and no ping from any send path."""

import asyncio
import logging
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.run import configured_adapters, serve
from bot.storage import open_storage
from bot.wiring import open_core
from core.errors import ConfigurationError
from tests.fakes.did import FakeDID
from tests.fakes.discord import (
    ATTACH_FILES,
    GUILD_ID,
    TEXT_CHANNEL_ID,
    THREAD_ID,
    FakeDiscord,
    Sent,
)
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.harness import running_bot, settings_for, telegram_at
from tests.processes import child
from tests.test_cli import avatarbot, environment

GROQ_REPLY = "Hello from Ava."  # what the fake model answers (tests/conftest.py)
NO_ATTACH = "🎬 I can't post videos here: I need the Attach Files permission."
INTENT_FIX = (
    "Discord refused the Message Content intent (close 4014, disallowed intents): enable the "
    "Message Content intent in the developer portal, or set DISCORD_MESSAGE_CONTENT=false"
)


def discord_at(dc: FakeDiscord) -> dict[str, str]:
    return {
        "DISCORD_BOT_TOKEN": dc.token,
        "DISCORD_API_BASE_URL": dc.api_url,
        "DISCORD_GATEWAY_URL": dc.gateway_url,
    }


def settings(tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord, **extra: Any) -> Any:
    return settings_for(
        tmp_path, groq, did, **discord_at(dc), DISCORD_GUILD_IDS=str(GUILD_ID), **extra
    )


class Records(logging.Handler):
    """Collects log records and lets a test wait for one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self._changed.set()

    def lines(self, level: int = logging.DEBUG) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]

    async def wait_for(self, needle: str, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not any(needle in line for line in self.lines()):
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# -- the gateway: READY, or a close that names the fix --------------------------------------


async def test_run_exits_2_with_one_line_when_the_portal_refuses_message_content(
    tmp_path: Path, groq: FakeGroq
) -> None:
    async with FakeTelegram() as tg, FakeDiscord(privileged_intents=0) as dc:
        env = environment(
            tmp_path,
            groq,
            None,
            **telegram_at(tg),
            **discord_at(dc),
            DISCORD_MESSAGE_CONTENT="true",
        )
        code, _, err = await avatarbot(tmp_path, env, "run")
    assert code == 2, err
    assert err.strip().splitlines()[-1] == f"avatarbot: {INTENT_FIX}"
    assert "Traceback" not in err and "discord is running" not in err
    assert "telegram is running" in err  # started first, then stopped cleanly


async def test_sharding_required_at_start_is_a_configuration_error(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, records: Records
) -> None:
    async with FakeDiscord(shards_required=2) as dc:
        config = settings(tmp_path, groq, did, dc)
        with pytest.raises(ConfigurationError, match="close 4011.*set DISCORD_SHARD_COUNT"):
            await serve(config, asyncio.Event(), configured_adapters(config))
        assert not dc.connected
    assert "discord is running" not in records.lines()


async def test_a_gateway_that_never_sends_ready_is_a_configuration_error(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    nowhere = dc.gateway_url.replace("/gateway", "/not-a-gateway")  # 404: discord.py retries
    config = settings_for(
        tmp_path, groq, did, **(discord_at(dc) | {"DISCORD_GATEWAY_URL": nowhere})
    )
    async with open_core(config) as core:
        (build,) = configured_adapters(config)
        adapter = build(core)
        adapter.ready_timeout = 0.3  # type: ignore[attr-defined]
        with pytest.raises(ConfigurationError, match=r"READY.*DISCORD_GATEWAY_URL"):
            await adapter.start()
    assert dc.identify is None


async def test_running_is_logged_once_the_gateway_sent_ready(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord, records: Records
) -> None:
    readies_when_logged: list[int] = []

    class AtRunning(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "discord is running":
                readies_when_logged.append(dc.readies)

    watcher = AtRunning()
    logging.getLogger("bot.run").addHandler(watcher)
    try:
        async with running_bot(settings(tmp_path, groq, did, dc)):
            await records.wait_for("discord is running")
    finally:
        logging.getLogger("bot.run").removeHandler(watcher)
    assert readies_when_logged == [1]


async def test_a_token_reset_while_running_stops_discord_and_not_telegram(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord, records: Records
) -> None:
    async with FakeTelegram() as tg:
        config = settings(tmp_path, groq, did, dc, **telegram_at(tg))
        async with running_bot(config):
            await records.wait_for("discord is running")
            await dc.reset_token("MTEwMDAwMDAwMDAwMDAwMDAwMQ.GnEwOn.new-token")
            # discord.py waits 5 s before an IDENTIFY that is not its first one.
            await records.wait_for("Discord stopped", timeout=15)
            tg.push_text(1001, "still there?")
            await tg.wait_for_sent(1001, "sendMessage")
            assert not dc.connected
    errors = [r for r in records.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "Discord stopped (the other platforms keep running): Discord refused DISCORD_BOT_TOKEN at "
        "the gateway (close 4004, authentication failed): reset the token in the developer portal "
        "and set DISCORD_BOT_TOKEN to the new one"
    ]
    assert errors[0].exc_info is None


async def test_check_tries_the_gateway_and_names_the_intent_fix(
    tmp_path: Path, groq: FakeGroq
) -> None:
    async with FakeDiscord(privileged_intents=0) as dc:
        env = environment(tmp_path, groq, None, **discord_at(dc))
        code, out, err = await avatarbot(tmp_path, env, "check")
        assert (code, out.splitlines()[-1]) == (
            0,
            "discord: ok — logged in as avatar, gateway READY",
        )
        assert dc.identify is not None  # the check did IDENTIFY
        code, out, err = await avatarbot(
            tmp_path, env | {"DISCORD_MESSAGE_CONTENT": "true"}, "check"
        )
        assert (code, out.splitlines()[-1]) == (1, f"discord: FAILED — {INTENT_FIX}"), err
        assert not dc.connected


async def test_start_prints_no_voice_library_warnings(
    tmp_path: Path, groq: FakeGroq, dc: FakeDiscord
) -> None:
    env = environment(tmp_path, groq, None, **discord_at(dc))
    async with child(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    ) as process:  # fmt: skip
        started = True
        try:
            await dc.wait_for(lambda: dc.connected and dc.commands.get(None), timeout=20)
        except TimeoutError:
            started = False
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            _, err_bytes = await asyncio.wait_for(process.communicate(), 20)
    assert started, err_bytes.decode()
    err = err_bytes.decode()
    assert "discord is running" in err
    assert "PyNaCl" not in err and "davey" not in err
    assert "voice will NOT be supported" not in err


# -- a reply the bot cannot read -------------------------------------------------------------


async def test_a_reply_without_its_ping_is_told_how_to_be_heard(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    async with running_bot(settings(tmp_path, groq, did, dc, AVATAR_ENABLED=False)):
        await dc.wait_for(lambda: dc.connected)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} hello")
        (answer, *_) = await dc.wait_for(lambda: dc.sent(TEXT_CHANNEL_ID, "message"))
        await dc.wait_for(lambda: len(groq.chat_bodies) == 1)
        await dc.push_message(
            TEXT_CHANNEL_ID, "and what about this?", reply_to=answer.message_id, reply_ping=False
        )
        await dc.wait_for(lambda: len(dc.sent(TEXT_CHANNEL_ID, "message")) == 2)
        await dc.push_message(TEXT_CHANNEL_ID, "pinged", reply_to=answer.message_id)
        await dc.wait_for(lambda: len(groq.chat_bodies) == 2)
    told = dc.sent(TEXT_CHANNEL_ID, "message")[1]
    assert told.content == (
        "I can't read replies that don't ping me here: turn the reply's @ ping on, "
        "mention me (@Avatar …) or use `/talk`."
    )
    assert groq.chat_bodies[1]["messages"][-1]["content"] == "pinged"


# -- a channel that refuses files ------------------------------------------------------------


async def all_jobs_ended(config: Any) -> None:
    storage = await open_storage(config.database_url)
    try:
        async with asyncio.timeout(5):
            # The job table has no change notification: poll it, within the deadline.
            while await storage.jobs.unfinished():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    finally:
        await storage.close()


def uploads(dc: FakeDiscord) -> list[Any]:
    return [r for r in dc.requests if r.files and r.method in ("POST", "PATCH")]


async def answered(config: Any, key: str) -> None:
    storage = await open_storage(config.database_url)
    try:
        async with asyncio.timeout(5):
            # The inbox has no change notification: poll it, within the deadline.
            while not await storage.inbox.is_answered("discord", key):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    finally:
        await storage.close()


async def test_attach_files_denied_is_said_once_per_channel_and_nothing_retried(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    config = settings(tmp_path, groq, did, dc)
    did.hold_renders = True
    async with running_bot(config):
        await dc.wait_for(lambda: dc.connected)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} one")
        await did.wait_for(lambda: len(did.talks) == 1)
        await dc.deny(TEXT_CHANNEL_ID, ATTACH_FILES)  # while the video renders
        did.release_all()
        await dc.wait_for(lambda: len(uploads(dc)) == 1)
        await all_jobs_ended(config)
        # Now the bot knows (CHANNEL_UPDATE): no render, and the channel already heard why.
        two = await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} two")
        await answered(config, two["id"])
    shown = [dc.message(s.message_id or 0) for s in dc.sent(TEXT_CHANNEL_ID, "message")]
    contents = [m["content"] for m in shown if m]
    assert contents == [GROQ_REPLY, NO_ATTACH, GROQ_REPLY]
    assert len(uploads(dc)) == 1  # refused once, not retried
    assert len(did.talks) == 1  # no video rendered for a channel that cannot take it


async def test_attach_files_denied_on_a_talk_is_said_in_its_followup(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord
) -> None:
    await dc.deny(TEXT_CHANNEL_ID, ATTACH_FILES)
    async with running_bot(settings(tmp_path, groq, did, dc)):
        await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands)
        talk = await dc.push_interaction("talk", {"text": "hi"})
        await dc.wait_for(
            lambda: any(r.kind == "followup" for r in dc.interaction_responses(talk.id))
        )
    (followup,) = [r for r in dc.interaction_responses(talk.id) if r.kind == "followup"]
    assert followup.content == NO_ATTACH and not followup.files
    assert did.talks == {} and uploads(dc) == []


# -- no send path pings anyone ---------------------------------------------------------------

PINGS = "@everyone @here look <@&123> and <@999>"
LONG = PINGS + " " + "word " * 450 + "THE END"  # over 2000 characters: sent in two parts


def ended(sent: list[Sent]) -> bool:
    return any((s.content or "").endswith("THE END") for s in sent)


@pytest.fixture
def no_client_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the client without its default allowed_mentions, which would hide a send path that
    lost its own: each path must pass on what it sends itself."""
    monkeypatch.setattr("adapters.discord.app.SAFE_MENTIONS", None)


def assert_pings_nobody(sent: list[Sent]) -> None:
    """Every send with content carries allowed_mentions, and they allow no ping at all."""
    with_content = [s for s in sent if s.content or s.files]
    assert with_content
    for s in with_content:
        allowed = s.allowed_mentions
        assert allowed is not None, f"{s.kind} {s.content!r} was sent without allowed_mentions"
        assert allowed.get("parse") == [], s
        assert not allowed.get("users") and not allowed.get("roles"), s
        assert not allowed.get("replied_user"), s


async def test_mentions_off_in_channel_answers_and_their_video(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord, no_client_default: None
) -> None:
    def videos() -> list[Sent]:
        return [s for s in dc.sent(TEXT_CHANNEL_ID, "message") if s.files]

    groq.reply = PINGS
    async with running_bot(settings(tmp_path, groq, did, dc)):
        await dc.wait_for(lambda: dc.connected)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} say it")
        await dc.wait_for(videos)
        groq.reply = LONG  # shown in edits, then finished in two parts
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} say more")
        await dc.wait_for(lambda: len(dc.sent(TEXT_CHANNEL_ID, "message")) >= 4)
    kinds = [s.kind for s in dc.sent(TEXT_CHANNEL_ID) if s.kind != "typing"]
    assert kinds[:3] == ["message", "edit", "message"]  # the reply, its final text, the video
    assert kinds.count("message") >= 4  # the second answer's reply and its second part
    assert_pings_nobody(dc.sent(TEXT_CHANNEL_ID))


async def test_mentions_off_in_slash_command_responses(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord, no_client_default: None
) -> None:
    groq.reply = PINGS
    async with running_bot(settings(tmp_path, groq, did, dc, ADMIN_USER_IDS="")):
        await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands)
        talk = await dc.push_interaction("talk", {"text": "say it"})
        pushed = [await dc.push_interaction(name) for name in ("help", "reset", "stats")]
        pushed.append(await dc.push_interaction("avatar", {"state": "on"}))
        await dc.wait_for(lambda: all(dc.interaction_responses(p.id) for p in pushed))
        await dc.wait_for(
            lambda: any(r.files for r in dc.interaction_responses(talk.id) if r.kind == "followup")
        )
        groq.reply = LONG
        long = await dc.push_interaction("talk", {"text": "say more"}, channel_id=THREAD_ID)
        await dc.wait_for(lambda: ended(dc.interaction_responses(long.id)))
    for interaction in [talk, long, *pushed]:
        assert_pings_nobody(dc.interaction_responses(interaction.id))
    assert {r.kind for r in dc.interaction_responses(long.id)} >= {"edit_original", "followup"}


async def test_mentions_off_when_a_command_is_refused_here(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord, no_client_default: None
) -> None:
    config = settings(tmp_path, groq, did, dc, DISCORD_ALLOWED_GUILD_IDS="42")
    async with running_bot(config):
        await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands)
        refused = await dc.push_interaction("help")
        await dc.wait_for(lambda: dc.interaction_responses(refused.id))
    (response,) = dc.interaction_responses(refused.id)
    assert response.content == "This bot isn't available here."
    assert_pings_nobody([response])


async def test_mentions_off_in_answers_replayed_after_a_restart(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord, no_client_default: None
) -> None:
    config = settings(tmp_path, groq, did, dc, SHUTDOWN_GRACE_SECONDS=0)
    groq.reply = LONG
    groq.hold()
    async with running_bot(config):
        await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} cut me off")
        talk = await dc.push_interaction("talk", {"text": "and me"}, channel_id=THREAD_ID)
        await groq.wait_for(lambda: len(groq.chat_bodies) == 2)
    groq.release()

    def sent() -> list[Sent]:
        return dc.sent(TEXT_CHANNEL_ID) + dc.sent(THREAD_ID)

    before = {id(s) for s in sent()}
    async with running_bot(config):
        await dc.wait_for(lambda: ended(dc.sent(TEXT_CHANNEL_ID)) and ended(dc.sent(THREAD_ID)))
    replayed = [s for s in sent() if id(s) not in before]
    assert {"message", "edit_original", "followup"} <= {s.kind for s in replayed}
    assert any(s.interaction_id == talk.id and s.kind == "followup" for s in replayed)
    assert_pings_nobody(replayed)


async def test_mentions_off_in_notices(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, dc: FakeDiscord, no_client_default: None
) -> None:
    groq.reply = PINGS
    did.next_outcome("error", kind="FaceError", description="no face found")
    async with running_bot(settings(tmp_path, groq, did, dc)):
        await dc.wait_for(lambda: dc.connected and GUILD_ID in dc.commands)
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention}")  # nothing said
        await dc.push_message(TEXT_CHANNEL_ID, f"{dc.bot_mention} render fails")
        await dc.wait_for(lambda: len(dc.sent(TEXT_CHANNEL_ID, "message")) >= 3)
        dc.upload_limit = 1000  # smaller than the rendered MP4
        talk = await dc.push_interaction("talk", {"text": "too big"})
        await dc.wait_for(
            lambda: any(r.kind == "followup" for r in dc.interaction_responses(talk.id))
        )
    notices = [s for s in dc.sent(TEXT_CHANNEL_ID) if (s.content or "").startswith(("🎬", "Send"))]
    assert len(notices) == 3, [s.content for s in dc.sent(TEXT_CHANNEL_ID)]
    assert_pings_nobody(notices)
