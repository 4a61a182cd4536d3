"""Settings: exact variable names, good defaults, and one clear line for a bad value."""

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.services import render_limits
from bot.settings import Settings
from bot.settings_errors import describe

ROOT = Path(__file__).resolve().parent.parent


def make(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()  # type: ignore[call-arg]


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = make(monkeypatch, tmp_path, GROQ_API_KEY="gsk_x")
    assert settings.LLM_MODEL == "openai/gpt-oss-20b"
    assert not settings.LLM_MODEL.startswith("llama3")
    assert settings.WHISPER_MODEL == "whisper-large-v3-turbo"
    assert settings.DID_VOICE_ID == "en-US-JennyNeural"
    assert str(settings.TELEGRAM_API_BASE_URL).startswith("https://api.telegram.org")
    assert settings.avatar_on is False  # no D-ID key


def test_avatar_defaults_on_with_a_did_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = make(monkeypatch, tmp_path, GROQ_API_KEY="gsk_x", DID_API_KEY="a:b")
    assert settings.avatar_on is True
    assert settings.secrets() == ["gsk_x", "a:b"]


def test_the_days_answers_for_everyone_are_limited_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = make(monkeypatch, tmp_path, GROQ_API_KEY="gsk_x")
    assert settings.MESSAGES_DAILY_LIMIT_TOTAL == 2000
    assert render_limits(settings).messages_total == 2000
    unlimited = make(monkeypatch, tmp_path, GROQ_API_KEY="gsk_x", MESSAGES_DAILY_LIMIT_TOTAL="")
    assert unlimited.MESSAGES_DAILY_LIMIT_TOTAL is None
    assert render_limits(unlimited).messages_total is None
    none_today = make(monkeypatch, tmp_path, GROQ_API_KEY="gsk_x", MESSAGES_DAILY_LIMIT_TOTAL="0")
    assert render_limits(none_today).messages_total == 0
    with pytest.raises(ValidationError, match="MESSAGES_DAILY_LIMIT_TOTAL"):
        make(monkeypatch, tmp_path, GROQ_API_KEY="gsk_x", MESSAGES_DAILY_LIMIT_TOTAL="-1")


def test_dotenv_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GROQ_API_KEY=from-dotenv\nHISTORY_MAX_MESSAGES=7\n")
    settings = make(monkeypatch, tmp_path)
    assert settings.GROQ_API_KEY.get_secret_value() == "from-dotenv"
    assert settings.HISTORY_MAX_MESSAGES == 7


def test_env_example_lists_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    names = {line.split("=")[0].lstrip("# ") for line in example.splitlines() if "=" in line}
    assert set(Settings.model_fields) <= names


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "GROQ_API_KEY is not set"),
        (
            {"GROQ_API_KEY": " "},
            "GROQ_API_KEY is empty: set it in the environment or in .env (see .env.example)",
        ),
        (
            {"GROQ_API_KEY": "k", "TELEGRAM_ALLOWED_CHAT_IDS": "12,abc"},
            "TELEGRAM_ALLOWED_CHAT_IDS is invalid: entry 2 ('abc'): ",
        ),
        ({"GROQ_API_KEY": "k", "HISTORY_MAX_MESSAGES": "many"}, "HISTORY_MAX_MESSAGES is invalid"),
        ({"GROQ_API_KEY": "k", "DID_API_BASE_URL": "nope"}, "DID_API_BASE_URL is invalid"),
        ({"GROQ_API_KEY": "k", "AVATAR_ENABLED": "true"}, "DID_API_KEY is not set"),
        ({"GROQ_API_KEY": "k", "DISCORD_SHARD_IDS": "0"}, "needs DISCORD_SHARD_COUNT"),
        (
            {"GROQ_API_KEY": "k", "DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "2"},
            "DISCORD_SHARD_IDS must be between 0 and DISCORD_SHARD_COUNT-1 (1)",
        ),
    ],
)
def test_bad_setting_is_one_line_and_exit_2(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_personas_are_json_with_one_word_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    personas = '{"Pirate": "  You are a pirate. ", "coach": "You coach runners."}'
    settings = make(monkeypatch, tmp_path, GROQ_API_KEY="k", PERSONAS=personas)
    assert settings.PERSONAS == {"pirate": "You are a pirate.", "coach": "You coach runners."}
    assert make(monkeypatch, tmp_path, GROQ_API_KEY="k", PERSONAS="").PERSONAS == {}
    for bad, expected in [
        ("{pirate", "must be JSON"),
        ('{"sea dog": "Arr."}', "must be one word"),
        ('{"pirate": " "}', "the persona 'pirate' is empty"),
    ]:
        with pytest.raises(ValidationError) as error:
            make(monkeypatch, tmp_path, GROQ_API_KEY="k", PERSONAS=bad)
        line = describe(error.value)
        assert line.startswith("PERSONAS is invalid: ") and expected in line, line
