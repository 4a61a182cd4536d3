"""The `avatarbot` command as a user runs it: a real process against the local fakes."""

import asyncio
import os
import sys
from pathlib import Path

from bot.storage import MIGRATIONS_DIR
from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.harness import telegram_at
from tests.processes import child

VOICE = Path(__file__).parent / "data" / "voice.ogg"

GROQ_REPLY = "Hello from the fake model."  # what the fake model answers (tests/conftest.py)


def environment(
    tmp_path: Path, groq: FakeGroq, did: FakeDID | None, **extra: str
) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GROQ_API_KEY": groq.api_key,
        "GROQ_BASE_URL": groq.base_url,
        "DATABASE_PATH": str(tmp_path / "db" / "bot.db"),
        "DID_POLL_FIRST_SECONDS": "0.01",
        "DID_POLL_INTERVAL_SECONDS": "0.01",
        "WEB_ENABLED": "false",
    }
    if did is not None:
        env |= {"DID_API_KEY": did.api_key, "DID_API_BASE_URL": did.base_url}
    return env | extra


async def avatarbot(
    tmp_path: Path, env: dict[str, str], *args: str, stdin: bytes = b""
) -> tuple[int, str, str]:
    async with child(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    ) as process:
        out, err = await asyncio.wait_for(process.communicate(stdin), 20)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_chat_streams_answers_and_prints_the_video_path(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    env = environment(tmp_path, groq, did)
    did.hold_renders = True
    script = f"hello\n/voice {VOICE}\n".encode()
    async with child(
        sys.executable, "-m", "bot", "chat", cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    ) as process:  # fmt: skip
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(script)
        await did.wait_for(lambda: len(did.talks) == 2)
        did.release_all()
        seen = b""
        while seen.count(b"avatar video ready") < 2:
            seen += await asyncio.wait_for(process.stdout.readline(), 10)
        process.stdin.write(b"/quit\n")
        out, _ = await asyncio.wait_for(process.communicate(), 10)
    text = (seen + out).decode()
    assert process.returncode == 0
    assert text.count("Hello from the fake model.") == 2
    assert "🎤 hello there" in text
    videos = sorted((tmp_path / "db" / "media").glob("*.mp4"))
    assert len(videos) == 2 and all(str(v) in text for v in videos)


async def test_chat_ends_at_end_of_input(tmp_path: Path, groq: FakeGroq) -> None:
    code, out, err = await avatarbot(
        tmp_path, environment(tmp_path, groq, None), "chat", stdin=b"hi\n"
    )
    assert code == 0, err
    assert "Hello from the fake model." in out


async def test_migrate_then_up_to_date(tmp_path: Path, groq: FakeGroq) -> None:
    env = environment(tmp_path, groq, None)
    shipped = sorted(path.name for path in MIGRATIONS_DIR.glob("*.sql"))
    assert shipped[:4] == [
        "0001_initial.sql",
        "0002_reliability.sql",
        "0003_job_leases.sql",
        "0004_inbox_leases.sql",
    ]
    applied = f"applied: {', '.join(shipped)}\n"
    assert (await avatarbot(tmp_path, env, "migrate"))[:2] == (0, applied)
    assert (await avatarbot(tmp_path, env, "migrate"))[:2] == (0, "database is up to date\n")


async def test_check_all_ok(tmp_path: Path, groq: FakeGroq, did: FakeDID) -> None:
    did.credits_remaining = 17
    code, out, err = await avatarbot(tmp_path, environment(tmp_path, groq, did), "check")
    assert code == 0, err
    assert out.splitlines() == [
        "groq: ok — openai/gpt-oss-20b and whisper-large-v3-turbo are served",
        "d-id: ok — 17 credits left",
    ]


async def test_check_names_what_is_wrong(tmp_path: Path, groq: FakeGroq, did: FakeDID) -> None:
    env = environment(tmp_path, groq, did, LLM_MODEL="llama3-8b-8192", DID_API_KEY="bad:key")
    code, out, _ = await avatarbot(tmp_path, env, "check")
    assert code == 1
    groq_line, did_line = out.splitlines()
    assert groq_line == "groq: FAILED — not served by Groq: LLM_MODEL=llama3-8b-8192"
    assert did_line.startswith("d-id: FAILED — D-ID refused DID_API_KEY")
    assert "bad:key" not in out


async def test_check_wrong_groq_key(tmp_path: Path, groq: FakeGroq) -> None:
    env = environment(tmp_path, groq, None, GROQ_API_KEY="gsk_wrong")
    code, out, _ = await avatarbot(tmp_path, env, "check")
    assert (code, out) == (1, "groq: FAILED — GROQ_API_KEY was refused\n")


async def test_run_without_any_platform_says_what_to_set(tmp_path: Path, groq: FakeGroq) -> None:
    code, _, err = await avatarbot(tmp_path, environment(tmp_path, groq, None), "run")
    assert code == 2
    assert "set TELEGRAM_BOT_TOKEN or DISCORD_BOT_TOKEN" in err


async def test_no_secret_in_debug_logs(tmp_path: Path, groq: FakeGroq, did: FakeDID) -> None:
    env = environment(tmp_path, groq, did, LOG_LEVEL="DEBUG")
    groq.fail_next("chat/completions", 429)
    code, out, err = await avatarbot(
        tmp_path, env, "chat", stdin=f"hello\n/voice {VOICE}\n".encode()
    )
    assert code == 0
    log = (tmp_path / "db" / "avatarbot-chat.log").read_text()  # chat logs to a file
    assert "DEBUG" in log  # the debug logs were really on
    for secret in (groq.api_key, did.api_key, did.api_key.split(":")[1]):
        assert secret not in err and secret not in out and secret not in log


async def test_check_telegram(tmp_path: Path, groq: FakeGroq) -> None:
    from tests.fakes.telegram import FakeTelegram

    async with FakeTelegram() as tg:
        env = environment(tmp_path, groq, None, **telegram_at(tg))
        code, out, err = await avatarbot(tmp_path, env, "check")
        assert (code, out.splitlines()[-1]) == (0, "telegram: ok — logged in as @avatar_test_bot")
        env["TELEGRAM_BOT_TOKEN"] = "999:wrong"
        code, out, _ = await avatarbot(tmp_path, env, "check")
        assert (code, out.splitlines()[-1]) == (
            1,
            "telegram: FAILED — TELEGRAM_BOT_TOKEN was refused",
        )


async def test_check_discord(tmp_path: Path, groq: FakeGroq) -> None:
    from tests.fakes.discord import FakeDiscord

    async with FakeDiscord() as dc:
        env = environment(
            tmp_path,
            groq,
            None,
            DISCORD_BOT_TOKEN=dc.token,
            DISCORD_API_BASE_URL=dc.api_url,
            DISCORD_GATEWAY_URL=dc.gateway_url,
        )
        code, out, err = await avatarbot(tmp_path, env, "check")
        assert (code, out.splitlines()[-1]) == (
            0,
            "discord: ok — logged in as avatar, gateway READY",
        ), err
        env["DISCORD_BOT_TOKEN"] = "wrong.token.value"
        code, out, _ = await avatarbot(tmp_path, env, "check")
        assert (code, out.splitlines()[-1]) == (
            1,
            "discord: FAILED — DISCORD_BOT_TOKEN was refused",
        )


async def test_run_with_a_refused_token_is_one_line_and_exit_2(
    tmp_path: Path, groq: FakeGroq
) -> None:
    from tests.fakes.discord import FakeDiscord
    from tests.fakes.telegram import FakeTelegram

    async with FakeTelegram() as tg, FakeDiscord() as dc:
        telegram = {"TELEGRAM_BOT_TOKEN": "999:wrong-token", "TELEGRAM_API_BASE_URL": tg.base_url}
        discord = {"DISCORD_BOT_TOKEN": "wrong.discord.token", "DISCORD_API_BASE_URL": dc.api_url}
        for extra, expected in (
            (telegram, "avatarbot: Telegram refused TELEGRAM_BOT_TOKEN (getMe)"),
            (discord, "avatarbot: Discord refused DISCORD_BOT_TOKEN (GET /users/@me)"),
        ):
            env = environment(tmp_path, groq, None, **extra)
            code, _, err = await avatarbot(tmp_path, env, "run")
            assert code == 2
            assert err.strip().splitlines()[-1] == expected
            assert "Traceback" not in err and "wrong" not in err
