"""The retention task on a fake store: it runs at start, again after each interval, survives a
failed run, and stops when closed."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from core.retention import Pruned, Retention, RetentionPolicy

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


class FakeRetentionStore:
    """Counts the runs; the first `faults` inbox prunes fail as a lost database would."""

    def __init__(self, faults: int = 0) -> None:
        self.inbox_before: list[dt.datetime] = []
        self.history_before: list[dt.datetime] = []
        self.third_run = asyncio.Event()
        self._faults = faults

    async def prune_inbox(self, before: dt.datetime) -> int:
        self.inbox_before.append(before)
        if len(self.inbox_before) >= 3:
            self.third_run.set()
        if self._faults:
            self._faults -= 1
            raise ConnectionError("database restarting")
        return 2

    async def prune_history(self, before: dt.datetime) -> int:
        self.history_before.append(before)
        return 3

    async def finished_jobs(self, ids: Sequence[int], before: dt.datetime) -> set[int]:
        return set()


def task_named_retention() -> list[asyncio.Task[object]]:
    """The retention task, found by its name."""
    return [t for t in asyncio.all_tasks() if t.get_name() == "retention"]


async def test_each_run_deletes_by_its_own_cutoffs(tmp_path: Path) -> None:
    store = FakeRetentionStore()
    policy = RetentionPolicy(inbox_days=7, history_days=30.5)
    pruned = await Retention(store, tmp_path, policy, clock=lambda: NOW).run_once()
    assert pruned == Pruned(inbox=2, history=3)
    assert store.inbox_before == [NOW - dt.timedelta(days=7)]
    assert store.history_before == [NOW - dt.timedelta(days=30.5)]


async def test_a_failed_run_is_tried_again_after_the_interval_until_closed(
    tmp_path: Path,
) -> None:
    store = FakeRetentionStore(faults=2)
    task = Retention(store, tmp_path, RetentionPolicy(), clock=lambda: NOW, interval=0.001)
    task.start()
    try:
        assert len(task_named_retention()) == 1
        await asyncio.wait_for(store.third_run.wait(), 10)
    finally:
        await task.aclose()
    assert not task_named_retention()
    await task.aclose()  # closing twice is harmless
