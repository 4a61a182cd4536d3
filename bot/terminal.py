"""`avatarbot chat`: a terminal conversation with the same core the platforms use.

At a terminal it reads lines at a `> ` prompt (prompt_toolkit, with history) and prints what
arrives meanwhile (a finished video) above the prompt; from a pipe it reads line by line.
"""

from __future__ import annotations

import asyncio
import mimetypes
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.wiring import Core
from core.avatar.speech import video_caption
from core.commands import Command
from core.types import (
    Audio,
    AvatarFailed,
    AvatarJob,
    ConversationKey,
    Turn,
    VideoReady,
    VoiceNote,
)

KEY = ConversationKey("terminal", "local")
USER = "local"
BANNER = (
    "Type a message and press Enter. /voice PATH sends an audio file, /help lists the "
    "commands, /quit leaves."
)


Clock = Callable[[], float]


def took(seconds: float) -> str:
    """A duration as the terminal shows it: `1.2 s`, `41 s`."""
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


class TerminalDelivery:
    """Prints where a finished avatar video was saved, and how long after its question."""

    def __init__(self, write: Callable[[str], None], clock: Clock = time.monotonic) -> None:
        self._write, self._clock = write, clock
        self._asked: dict[int, float] = {}  # job id -> when its question was asked

    def rendering(self, job: AvatarJob, asked: float) -> None:
        """Remember when the question of `job`'s answer was asked (a resumed job has no time)."""
        self._asked[job.id] = asked

    async def deliver_video(self, ready: VideoReady) -> None:
        """Print the video's absolute path (for a long answer, that the rest is in the text)."""
        caption = video_caption(ready.job)
        self._write(
            f"\n🎬 avatar video ready: {ready.path.absolute()}{self._took(ready.job)}\n"
            + (f"{caption}\n" if caption else "")
        )

    async def deliver_failure(self, failed: AvatarFailed) -> None:
        """Print why no video is coming."""
        self._asked.pop(failed.job.id, None)
        self._write(f"\n🎬 {failed.message}\n")

    async def deliver_voice(self, note: VoiceNote) -> None:
        """Print where the voice answer was saved (OGG/Opus), and the line that goes with it."""
        self._write(
            f"\n🔊 voice answer ({took(note.seconds)}): {note.path.absolute()}\n"
            + (f"{note.caption}\n" if note.caption else "")
        )

    def _took(self, job: AvatarJob) -> str:
        asked = self._asked.pop(job.id, None)
        return "" if asked is None else f" ({took(self._clock() - asked)})"


class TerminalChat:
    """Reads lines, answers them with streamed text, and prints video paths as they finish."""

    def __init__(
        self, core: Core, write: Callable[[str], None], clock: Clock = time.monotonic
    ) -> None:
        self._core, self._write, self._clock = core, write, clock
        delivery = core.deliveries.get(KEY.platform)
        self._delivery = delivery if isinstance(delivery, TerminalDelivery) else None

    async def run(self, lines: AsyncIterator[str]) -> None:
        """Chat until /quit or the end of input."""
        self._write(f"avatarbot — {BANNER}\n")
        async for raw in lines:
            line = raw.strip()
            if line in ("/quit", "/exit"):
                break
            if line:
                await self.handle(line)

    async def handle(self, line: str) -> None:
        """Handle one line of input: a command or a message."""
        command, _, argument = line.partition(" ")
        if command == "/voice" and _is_path(argument.strip()):
            await self._voice(argument.strip())
        elif command.startswith("/"):
            # The person at the terminal runs the bot: its admin commands are theirs.
            asked = Command(KEY, USER, command[1:].lower(), argument.strip(), is_admin=True)
            self._write((await self._core.commands.handle(asked)).text + "\n")
        else:
            await self._turn(Turn(KEY, USER, text=line))

    async def _voice(self, argument: str) -> None:
        path = Path(argument)
        try:
            data = await asyncio.to_thread(lambda: path.expanduser().read_bytes())
        except OSError as exc:
            self._write(f"Can't read {path}: {exc.strerror or exc}\n")
            return
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        await self._turn(Turn(KEY, USER, audio=Audio(data, mime, path.name)))

    async def _turn(self, turn: Turn) -> None:
        view = TerminalView(self._write, self._clock, self._delivery)
        await self._core.runner.answer(turn, view)


def _is_path(argument: str) -> bool:
    """Whether `/voice <argument>` names an audio file to send, not a voice to pick.

    Voice names and numbers have no "/" or ".": a path (`voice.ogg`, `~/a/b.wav`) has one.
    """
    return "/" in argument or "." in argument


class TerminalView:
    """Shows an answer in the terminal as it streams (core/turn_ports.py's View), and its time."""

    def __init__(
        self,
        write: Callable[[str], None],
        clock: Clock = time.monotonic,
        delivery: TerminalDelivery | None = None,
    ) -> None:
        self._write, self._shown = write, ""
        self._clock, self._asked, self._delivery = clock, clock(), delivery

    async def transcript(self, text: str) -> None:
        """Print what Whisper heard."""
        self._write(f"🎤 {text}\n")

    async def partial(self, text: str) -> None:
        """Print what was added to the answer since the last update."""
        self._write(text[len(self._shown) :])
        self._shown = text

    async def final(self, text: str) -> str:
        """End the streamed answer (the terminal has nowhere else to point a video)."""
        await self.partial(text)
        self._write(f"\n{self._answered()}\n")
        return ""

    async def plain(self, text: str) -> str:
        """Print the whole answer at once."""
        self._write(f"{text}\n{self._answered()}\n")
        return ""

    async def failure(self, message: str) -> None:
        """Print why there is no answer."""
        self._write(f"⚠️  {message}\n")

    async def notice(self, message: str) -> None:
        """Print why there is no video."""
        self._write(f"🎬 {message}\n")

    async def rendering(self, job: AvatarJob) -> None:
        """Say the video is on its way."""
        if self._delivery is not None:
            self._delivery.rendering(job, self._asked)
        self._write("(rendering the avatar video…)\n")

    def _answered(self) -> str:
        return f"(answered in {took(self._clock() - self._asked)})"


def write_stdout(text: str) -> None:
    """Write to the terminal at once (the answer streams); above the prompt while it shows."""
    sys.stdout.write(text)
    sys.stdout.flush()


def is_terminal() -> bool:
    """Whether a person types at a terminal (else lines come from a pipe or a file)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


@contextmanager
def console(history: Path) -> Iterator[AsyncIterator[str]]:
    """The lines to answer; at a terminal, a prompt with `history`, and output printed above it."""
    if not is_terminal():
        yield stdin_lines()
        return
    from prompt_toolkit.patch_stdout import patch_stdout

    with patch_stdout():  # sys.stdout prints above the prompt while it is shown
        yield prompt_lines(history)


async def prompt_lines(history: Path) -> AsyncIterator[str]:
    """Lines typed at a `> ` prompt, kept in `history` across runs; Ctrl-D or Ctrl-C ends them."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    session: PromptSession[str] = PromptSession(history=FileHistory(history))
    while True:
        try:
            yield await session.prompt_async("> ")
        except (EOFError, KeyboardInterrupt):
            return


async def stdin_lines() -> AsyncIterator[str]:
    """Lines typed on standard input, read without blocking the event loop."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except ValueError:  # a regular file: pipes only work for pipes, sockets and terminals
        for line in sys.stdin:
            yield line
        return
    while line_bytes := await reader.readline():
        yield line_bytes.decode("utf-8", errors="replace")
