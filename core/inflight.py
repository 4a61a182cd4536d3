"""Work in flight: tracked so that a graceful stop can wait for it, then cancel what is left."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    """The tasks currently handling a message, by key."""

    def __init__(self) -> None:
        self._tasks: dict[object, asyncio.Task[object]] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    @contextmanager
    def track(self, key: object) -> Iterator[None]:
        """Count the current task as in flight for the duration of the block."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks[key] = task
            self._idle.clear()
        try:
            yield
        finally:
            self._tasks.pop(key, None)
            if not self._tasks:
                self._idle.set()

    async def drain(self, grace: float) -> int:
        """Give the work in flight `grace` seconds, then cancel the rest; return how many."""
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
            return 0
        except TimeoutError:
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return len(tasks)
