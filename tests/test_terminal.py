"""`avatarbot chat` at a real terminal (tmux): a `> ` prompt, timings, absolute video paths,
output that arrives while the prompt shows printed above it, history kept, no log on screen."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.fakes.did import FakeDID
from tests.fakes.groq import FakeGroq
from tests.processes import child

AVATARBOT = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "avatarbot"
TMUX = shutil.which("tmux") or "/usr/bin/tmux"
GROQ_REPLY = "Hi! I am Ava, your avatar."  # what the fake model answers (tests/conftest.py)
# A log line as bot/logs.py writes it: "2026-01-01 12:00:00,000 INFO name: message".
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) ")

pytestmark = pytest.mark.skipif(not Path(TMUX).exists(), reason="needs tmux")


class Terminal:
    """A tmux server of its own with one 100×30 window; what it shows, read with a deadline."""

    def __init__(self, socket: str) -> None:
        self.socket = socket
        self.runs = 0  # each run its own session: the server lives as long as one does

    async def tmux(self, *args: str) -> str:
        async with child(
            TMUX, "-u", "-L", self.socket, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        ) as process:  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 0, err.decode()
        return out.decode()

    async def start(self, cwd: Path, env: dict[str, str], *command: str) -> None:
        """Run `command` in a detached window, which stays, with its exit status, when it ends.

        The shell prints the status: tmux may report a pane dead before it has reaped it.
        """
        variables = [f"{name}={value}" for name, value in env.items()]
        self.runs += 1
        await self.tmux(
            "-f", "/dev/null", "new-session", "-d", "-s", self.session, "-x", "100", "-y", "30",
            "-c", str(cwd), "sh", "-c", '"$@"; echo "[exit status $?]"', "sh",
            "env", "-i", *variables, *command,
        )  # fmt: skip
        await self.tmux("set-option", "-t", self.session, "remain-on-exit", "on")

    @property
    def session(self) -> str:
        return f"chat-{self.runs}"

    async def type(self, text: str) -> None:
        await self.tmux("send-keys", "-t", self.session, "-l", text)
        await self.tmux("send-keys", "-t", self.session, "Enter")

    async def keys(self, *keys: str) -> None:
        await self.tmux("send-keys", "-t", self.session, *keys)

    async def screen(self) -> list[str]:
        """Every line the window showed, trailing blank ones dropped."""
        # -J: wrapped lines joined; -S -: from the start of the history (lines scrolled off too)
        shown = await self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", self.session)
        lines = shown.rstrip("\n").splitlines()
        return [line.rstrip() for line in lines]

    async def wait_for(
        self,
        done: Callable[[list[str]], bool | Awaitable[bool]],
        timeout: float = 15,  # noqa: ASYNC109
    ) -> list[str]:
        """Poll the screen until `done` holds for it; fail with what it showed."""
        deadline = time.monotonic() + timeout
        while not await _holds(done(lines := await self.screen())):
            if time.monotonic() > deadline:
                pytest.fail("the terminal never showed it; it shows:\n" + "\n".join(lines))
            await asyncio.sleep(0.05)
        return lines

    async def exit_status(self) -> int:
        """The command's exit status, once it has exited."""
        exited = re.compile(r"\[exit status (\d+)\]")
        lines = await self.wait_for(lambda lines: any(exited.fullmatch(x) for x in lines))
        return int(next(m[1] for line in lines if (m := exited.fullmatch(line))))

    async def kill(self) -> None:
        async with child(
            TMUX, "-L", self.socket, "kill-server",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        ) as process:  # fmt: skip
            await asyncio.wait_for(process.wait(), 10)


async def _holds(result: bool | Awaitable[bool]) -> bool:
    return await result if inspect.isawaitable(result) else result


@pytest.fixture
async def terminal() -> AsyncIterator[Terminal]:
    """A tmux server on a socket of its own, killed (with what runs in it) after the test."""
    owned = Terminal(f"avatarbot-test-{uuid.uuid4().hex[:12]}")
    try:
        yield owned
    finally:
        await owned.kill()


def environment(tmp_path: Path, groq: FakeGroq, did: FakeDID) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "TERM": "screen",
        "LANG": "C.UTF-8",
        "GROQ_API_KEY": groq.api_key,
        "GROQ_BASE_URL": groq.base_url,
        "DID_API_KEY": did.api_key,
        "DID_API_BASE_URL": did.base_url,
        "DID_POLL_FIRST_SECONDS": "0.01",
        "DID_POLL_INTERVAL_SECONDS": "0.01",
        "DATABASE_PATH": "data/avatarbot.db",  # relative: the paths shown are absolute anyway
        "WEB_ENABLED": "false",
        "LOG_LEVEL": "DEBUG",
    }


def prompt_last(lines: list[str]) -> bool:
    """The prompt is shown, empty, on the last line."""
    return bool(lines) and lines[-1] == ">"


async def test_a_chat_at_the_prompt(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, terminal: Terminal
) -> None:
    did.hold_renders = True
    await terminal.start(tmp_path, environment(tmp_path, groq, did), str(AVATARBOT), "chat")
    data = tmp_path / "data"
    log_file = data / "avatarbot-chat.log"
    await terminal.wait_for(prompt_last)

    held = groq.hold(after_chunks=2)  # the answer stops after its first two words
    await terminal.type("Hello! Who are you?")
    lines = await terminal.wait_for(lambda lines: lines[-1].startswith("Hi! I"))
    assert lines[-2] == "> Hello! Who are you?"  # what came so far is shown, as it streams
    assert lines[-1] != GROQ_REPLY
    held.set()
    answered = re.compile(r"\(answered in \d+(\.\d)? s\)")
    rendering = "(rendering the avatar video…)"
    lines = await terminal.wait_for(lambda lines: rendering in lines and prompt_last(lines))
    asked = lines.index("> Hello! Who are you?")
    assert lines[asked + 1] == GROQ_REPLY  # streamed in, right under the question
    assert answered.fullmatch(lines[asked + 2])
    assert lines[asked + 3] == rendering

    # The video finishes while the prompt waits for the next question: printed above it.
    await did.wait_for(lambda: len(did.talks) == 1)
    did.release_all()
    lines = await terminal.wait_for(
        lambda lines: any("avatar video ready" in line for line in lines) and prompt_last(lines)
    )
    (video,) = (data / "media").glob("*.mp4")
    assert f"🎬 avatar video ready: {video} (" in "\n".join(lines)
    assert re.search(rf"avatar video ready: {re.escape(str(video))} \(\d+(\.\d)? s\)$",
                     "\n".join(lines), re.MULTILINE)  # fmt: skip

    await terminal.type("/quit")
    assert await terminal.exit_status() == 0
    lines = await terminal.screen()
    assert lines[0] == f"(the log goes to {log_file})"
    assert [line for line in lines if "the log goes to" in line] == [lines[0]]
    assert not [line for line in lines if LOG_LINE.search(line)], lines
    log = log_file.read_text()
    assert LOG_LINE.search(log) and " DEBUG " in log and " INFO " in log
    assert groq.api_key not in log and did.api_key not in log


async def test_the_input_history_is_kept_across_runs(
    tmp_path: Path, groq: FakeGroq, did: FakeDID, terminal: Terminal
) -> None:
    env = environment(tmp_path, groq, did) | {"AVATAR_ENABLED": "false"}
    await terminal.start(tmp_path, env, str(AVATARBOT), "chat")
    await terminal.wait_for(prompt_last)
    await terminal.type("What is the weather on Mars?")
    await terminal.wait_for(lambda lines: GROQ_REPLY in lines and prompt_last(lines))
    await terminal.keys("C-d")  # Ctrl-D at the prompt ends the chat too
    assert await terminal.exit_status() == 0

    await terminal.start(tmp_path, env, str(AVATARBOT), "chat")
    await terminal.wait_for(prompt_last)
    recalled = "> What is the weather on Mars?"

    async def up_recalls(lines: list[str]) -> bool:
        # The prompt loads its history in the background: Up does nothing until it has.
        if lines[-1] != recalled:
            await terminal.keys("Up")  # the one entry: pressed again, it stays
        return lines[-1] == recalled

    await terminal.wait_for(up_recalls)
    assert "What is the weather on Mars?" in (tmp_path / "data" / "chat-history").read_text()
    await terminal.keys("C-u")  # clears the line
    await terminal.type("/quit")
    assert await terminal.exit_status() == 0


# -- the times, on a clock the test turns --------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_each_answer_and_video_says_how_long_it_took(tmp_path: Path) -> None:
    from bot.terminal import TerminalDelivery, TerminalView
    from core.types import AvatarJob, ConversationKey, JobState, VideoReady

    shown: list[str] = []
    clock = Clock()
    delivery = TerminalDelivery(shown.append, clock)
    view = TerminalView(shown.append, clock, delivery)  # the question was asked at 100 s
    clock.now += 1.23
    await view.partial("Hi")
    await view.final("Hi there.")
    job = AvatarJob(3, ConversationKey("terminal", "local"), "Hi there.", "", JobState.RENDERED)
    await view.rendering(job)
    clock.now += 40
    relative = Path("media/avatar-3.mp4")
    await delivery.deliver_video(VideoReady(job, relative))
    await delivery.deliver_video(VideoReady(job, relative))  # delivered again: no time known
    assert "".join(shown).splitlines() == [
        "Hi there.",
        "(answered in 1.2 s)",
        "(rendering the avatar video…)",
        "",
        f"🎬 avatar video ready: {relative.absolute()} (41 s)",
        "",
        f"🎬 avatar video ready: {relative.absolute()}",
    ]


async def test_from_a_pipe_line_by_line_with_the_log_as_json_in_its_file(
    tmp_path: Path, groq: FakeGroq, did: FakeDID
) -> None:
    env = environment(tmp_path, groq, did) | {"LOG_FORMAT": "json", "AVATAR_ENABLED": "false"}
    async with child(
        sys.executable, "-m", "bot", "chat", cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    ) as process:  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(b"hello\n/quit\n"), 20)
    assert (process.returncode, err) == (0, b"")  # nothing but the chat on the terminal
    lines = out.decode().splitlines()
    log_file = tmp_path / "data" / "avatarbot-chat.log"
    assert lines[0] == f"(the log goes to {log_file})"
    assert ">" not in out.decode()  # no prompt from a pipe
    assert GROQ_REPLY in lines and any(line.startswith("(answered in ") for line in lines)
    entries = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert {"time", "level", "logger", "message"} <= entries[0].keys()
    assert groq.api_key not in log_file.read_text()
