"""Child processes a test starts, each killed and reaped when the test ends, passed or failed."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import Any

# How long a process still running at the end of its test gets to exit on SIGTERM before SIGKILL.
TERM_SECONDS = 3.0


async def reap(process: asyncio.subprocess.Process, term_seconds: float = TERM_SECONDS) -> None:
    """End `process` if it still runs (SIGTERM, SIGKILL after `term_seconds`) and reap it."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), term_seconds)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    # After SIGKILL the kernel ends the process at once; this only collects its exit status.
    await asyncio.wait_for(process.wait(), 10)


@contextlib.asynccontextmanager
async def child(*command: str, **options: Any) -> AsyncIterator[asyncio.subprocess.Process]:
    """`asyncio.create_subprocess_exec(*command, **options)`, reaped on leaving the block."""
    process = await asyncio.create_subprocess_exec(*command, **options)
    try:
        yield process
    finally:
        await reap(process)


class Children:
    """The processes one test starts; `aclose` (the `children` fixture's teardown) reaps them."""

    def __init__(self) -> None:
        self._started: list[asyncio.subprocess.Process] = []

    async def start(self, *command: str, **options: Any) -> asyncio.subprocess.Process:
        """Start a child process that this owner reaps at the end of the test."""
        process = await asyncio.create_subprocess_exec(*command, **options)
        self._started.append(process)
        return process

    async def aclose(self) -> None:
        """Reap every process started (SIGTERM, SIGKILL after a bounded wait)."""
        await asyncio.gather(*(reap(process) for process in self._started))
        self._started.clear()
