"""InboxLeases: a replica renews its inbox leases well within their length, and hands them over
when it stops; a fault of the database while doing either never stops the process."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import pytest

from core.storage.leases import InboxLeases, process_owner
from tests.fakes.memory import MemoryInbox

LEASE = 0.3  # seconds: renewed every 0.1 s


class CountingInbox(MemoryInbox):
    """The memory inbox, counting renewals (with the loop's time of each) and releases."""

    def __init__(self, *, renew_faults: int = 0, release_fails: bool = False) -> None:
        super().__init__()
        self.renewed_at: list[float] = []
        self.releases = 0
        self._renew_faults, self._release_fails = renew_faults, release_fails
        self.renewed_twice = asyncio.Event()

    async def renew(self) -> None:
        self.renewed_at.append(asyncio.get_running_loop().time())
        if len(self.renewed_at) >= 2:
            self.renewed_twice.set()
        if self._renew_faults:
            self._renew_faults -= 1
            raise ConnectionError("database restarting")

    async def release(self) -> None:
        self.releases += 1
        if self._release_fails:
            raise ConnectionError("database gone")


def leases_task() -> list[asyncio.Task[object]]:
    """The renewing task, found by its name."""
    return [t for t in asyncio.all_tasks() if t.get_name() == "inbox-leases"]


async def test_leases_are_renewed_every_third_of_their_length_until_closed() -> None:
    inbox = CountingInbox()
    leases = InboxLeases(inbox, LEASE)
    started = asyncio.get_running_loop().time()
    leases.start()
    try:
        assert len(leases_task()) == 1
        await asyncio.wait_for(inbox.renewed_twice.wait(), 10)
    finally:
        await leases.aclose()
    first, second = inbox.renewed_at[:2]
    slack = 0.005  # the loop may wake a timer up to its clock resolution early
    assert first - started >= LEASE / 3 - slack
    assert LEASE / 3 - slack <= second - first < LEASE  # renewed before the lease lapses
    assert not leases_task()  # cancelled and awaited
    assert inbox.releases == 1


async def test_a_failed_renewal_is_retried_at_the_next_turn() -> None:
    inbox = CountingInbox(renew_faults=1)
    leases = InboxLeases(inbox, LEASE)
    leases.start()
    try:
        await asyncio.wait_for(inbox.renewed_twice.wait(), 10)
    finally:
        await leases.aclose()
    assert inbox.releases == 1


async def test_closing_releases_the_leases_once_even_if_never_started_or_the_database_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = CountingInbox()
    await InboxLeases(inbox).aclose()
    assert (inbox.releases, inbox.renewed_at) == (1, [])
    failing = CountingInbox(release_fails=True)
    with caplog.at_level(logging.WARNING, logger="core.storage.leases"):
        await InboxLeases(failing).aclose()  # logged, not raised: the process is stopping
    assert failing.releases == 1
    assert "could not release inbox leases" in caplog.text


def test_each_process_start_owns_its_leases_under_a_new_name() -> None:
    first, second = process_owner(), process_owner()
    assert first != second
    host, pid, token = first.split(":")
    assert (host, pid) == (socket.gethostname(), str(os.getpid()))
    assert len(token) == 8 and set(token) <= set("0123456789abcdef")
