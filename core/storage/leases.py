"""Leases: how replicas on one database tell whose work is whose, and hold it while alive."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket

from core.ports import Inbox
from core.storage.inbox import LEASE_SECONDS

log = logging.getLogger(__name__)


def process_owner() -> str:
    """Return a name for this process's leases, unique among replicas and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class InboxLeases:
    """Renews this process's leases on its unanswered messages; gives them up when it stops.

    A replica that stops renewing (it crashed) loses its messages to the next replica that
    starts once the leases lapse; one that stops cleanly hands them over at once.
    """

    def __init__(self, inbox: Inbox, lease_seconds: float = LEASE_SECONDS) -> None:
        self._inbox, self._lease = inbox, lease_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start renewing, every third of the lease."""
        self._task = asyncio.create_task(self._renew(), name="inbox-leases")

    async def aclose(self) -> None:
        """Stop renewing and release the leases (after the adapters have stopped answering)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self._inbox.release()
        except Exception as exc:
            log.warning("could not release inbox leases: %r", exc)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await self._inbox.renew()
            except Exception:
                log.exception("renewing inbox leases failed; retrying")
