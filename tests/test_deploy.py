"""The container files: Dockerfile and compose.yaml say what the README promises.

No Docker engine runs here, so these read the files (and hadolint lints the Dockerfile); the
image's HEALTHCHECK command itself is run against the web server.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import Settings
from tests.fakes.groq import FakeGroq
from tests.harness import running_bot, settings_for
from tests.processes import child

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
# Settings the PostgreSQL stores add; compose.yaml already sets it for the replicas.
COMING = {"DATABASE_URL"}


def instructions(name: str, *, final_stage: bool = False) -> list[str]:
    """The arguments of every `name` instruction (of the image's stage), lines joined."""
    text = DOCKERFILE.rsplit("\nFROM ", 1)[1] if final_stage else DOCKERFILE
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(name + " ")]


def image_env() -> dict[str, str]:
    (env,) = instructions("ENV", final_stage=True)
    return dict(pair.split("=", 1) for pair in env.split())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def test_base_image_is_pinned_and_the_bot_runs_as_a_non_root_user() -> None:
    images = [line.split()[0] for line in instructions("FROM")]
    assert images and all(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", i) for i in images)
    (user,) = instructions("USER")
    assert user.split(":")[0] not in ("0", "root")
    assert instructions("CMD") == ['["avatarbot", "run"]']


def test_dependencies_come_from_the_lock_with_hashes() -> None:
    runs = " ".join(instructions("RUN"))
    assert "--require-hashes" in runs and "-r requirements.lock" in runs
    assert "--no-index --find-links /wheels" in runs  # nothing unhashed at install time


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    sources = [
        source
        for args in instructions("COPY")
        if not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source.rstrip("/") in allowed, f"{source} is not in .dockerignore's allow-list"
    assert ".env" not in allowed


def test_image_settings_are_real_settings() -> None:
    env = image_env()
    assert env["DATABASE_PATH"] == "/data/avatarbot.db"
    assert env["WEB_HOST"] == "0.0.0.0"
    assert instructions("VOLUME") == ['["/data"]']
    settings = {name for name in env if not name.startswith(("PYTHON", "PATH"))}
    assert settings <= set(Settings.model_fields)


def test_compose_runs_postgresql_and_two_bot_replicas(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "bot"}
    postgres, bot = services["postgres"], services["bot"]
    assert re.fullmatch(r"postgres:\d+\.\d+-bookworm", postgres["image"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert bot["build"] == "." and bot["deploy"]["replicas"] == 2
    assert bot["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    env = bot["environment"]
    assert re.fullmatch(r"postgresql://avatarbot:.+@postgres:5432/avatarbot", env["DATABASE_URL"])
    assert set(env) <= set(Settings.model_fields) | COMING
    assert [v["target"] if isinstance(v, dict) else v.split(":")[1] for v in bot["volumes"]] == [
        "/data"
    ]
    # Docker's default 10 s would cut the bot's shutdown grace short.
    grace = Settings.model_fields["SHUTDOWN_GRACE_SECONDS"].default
    assert int(bot["stop_grace_period"].removesuffix("s")) > grace


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (it comes with the dev extra)")
    result = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def healthcheck(port: int) -> int:
    """Run the image's HEALTHCHECK command here, with the image's WEB_PORT set to `port`."""
    (check,) = instructions("HEALTHCHECK")
    command = json.loads(check.split(" CMD ", 1)[1])
    assert command[0] == "python"
    async with child(sys.executable, *command[1:], env={"WEB_PORT": str(port)}) as process:
        return await asyncio.wait_for(process.wait(), 10)


async def test_the_healthcheck_passes_only_while_the_web_server_answers(
    tmp_path: Path, groq: FakeGroq
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert await healthcheck(port) != 0
    settings = settings_for(tmp_path, groq, None, WEB_ENABLED=True, WEB_PORT=port)
    async with running_bot(settings):
        async with asyncio.timeout(10):  # the server binds in the background task
            while await healthcheck(port) != 0:
                pass
