"""Calls that arrive while a round trip is running share the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Coalescer(Generic[In, Out]):
    """Runs `run` on every request waiting, one round at a time, at most `max_batch` per round.

    For aiosqlite: each statement is a round trip to its thread, which gets the GIL late while
    the event loop is busy, so a burst of one statement per message queues up behind it.
    `run` gets the requests in arrival order and returns one result per request.
    """

    def __init__(
        self, run: Callable[[list[In]], Awaitable[list[Out]]], *, name: str, max_batch: int
    ) -> None:
        self._run, self._name, self._max_batch = run, name, max_batch
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def __call__(self, request: In) -> Out:
        """Queue `request` for the next round and return its result."""
        done: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, done))
        if self._worker is None:
            self._worker = asyncio.create_task(self._rounds(), name=self._name)
        return await done

    async def _rounds(self) -> None:
        batch: list[tuple[In, asyncio.Future[Out]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                self._waiting = self._waiting[self._max_batch :]
                try:
                    results = await self._run([request for request, _ in batch])
                except Exception as error:
                    _settle(batch, error=error)
                    continue
                _settle(batch, results=results)
        except asyncio.CancelledError:
            for _, done in [*batch, *self._waiting]:
                done.cancel()
            raise
        finally:
            self._worker = None


def _settle(
    batch: list[tuple[In, asyncio.Future[Out]]],
    *,
    results: list[Out] | None = None,
    error: Exception | None = None,
) -> None:
    for index, (_, done) in enumerate(batch):
        if done.done():  # the caller was cancelled
            continue
        if results is None:
            done.set_exception(error or RuntimeError("no result"))
        else:
            done.set_result(results[index])
