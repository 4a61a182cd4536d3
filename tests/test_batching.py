"""Coalescer: calls that arrive while a round runs share the next round."""

import asyncio

import pytest

from core.storage.batching import Coalescer


class Recorder:
    """A round function that records its batches and can be told to fail once."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.started = asyncio.Event()
        self.fail_next = False
        self.gate = asyncio.Event()
        self.gate.set()

    async def run(self, batch: list[int]) -> list[int]:
        self.batches.append(batch)
        self.started.set()
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("database is locked")
        return [n * 10 for n in batch]


async def test_calls_made_while_a_round_runs_share_the_next_one_in_order() -> None:
    rounds = Recorder()
    batched = Coalescer(rounds.run, name="test", max_batch=3)
    results = await asyncio.gather(*(batched(n) for n in range(7)))
    assert results == [n * 10 for n in range(7)]
    assert rounds.batches == [[0, 1, 2], [3, 4, 5], [6]]  # at most max_batch per round
    assert await batched(9) == 90  # and a later call starts a round of its own
    assert rounds.batches[-1] == [9]


async def test_a_failed_round_fails_its_callers_and_the_next_round_runs() -> None:
    rounds = Recorder()
    batched = Coalescer(rounds.run, name="test", max_batch=10)
    rounds.fail_next = True
    outcomes = await asyncio.gather(batched(1), batched(2), return_exceptions=True)
    assert [str(outcome) for outcome in outcomes] == ["database is locked"] * 2
    assert await batched(3) == 30


async def test_a_cancelled_caller_does_not_stop_the_others() -> None:
    rounds = Recorder()
    rounds.gate.clear()
    batched = Coalescer(rounds.run, name="test", max_batch=10)
    first = asyncio.create_task(batched(1))
    second = asyncio.create_task(batched(2))
    await asyncio.sleep(0)
    first.cancel()
    rounds.gate.set()
    assert await second == 20
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_cancelled_round_cancels_its_callers_and_the_waiting_ones() -> None:
    rounds = Recorder()
    rounds.gate.clear()
    batched = Coalescer(rounds.run, name="history-rounds", max_batch=1)
    callers = [asyncio.create_task(batched(n)) for n in (1, 2)]
    await asyncio.sleep(0)
    (worker,) = [t for t in asyncio.all_tasks() if t.get_name() == "history-rounds"]
    await rounds.started.wait()  # the first round is running, the second caller waiting
    worker.cancel()  # the database is closing
    outcomes = await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), 10)
    assert [type(outcome) for outcome in outcomes] == [asyncio.CancelledError] * 2
    rounds.gate.set()
    assert await batched(3) == 30  # a later call starts a new round
