"""Each web conversation's finished renders, kept on disk so a page that was away still gets them.

Layout, under the media directory:

    web/<conversation>/<job>.mp4    a hard link to the job's video (a copy where links fail)
    web/<conversation>/<job>.json   {"turn": ..., "error": null | "one line for the user"}

The JSON is written last: an entry exists once its JSON does. The conversation id and the job id
are both checked before they become part of a path.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.storage.files import partial_of, write_atomically

_ENTRY = re.compile(r"(\d{1,18})\.json")
REPLAY_LIMIT = 20


@dataclass(frozen=True, slots=True)
class Entry:
    """A finished render: a video, or `error` when none is coming."""

    job: int
    turn: str
    error: str | None = None


class Mailbox:
    """Finished renders per web conversation; survives disconnects and restarts."""

    def __init__(self, media_dir: Path) -> None:
        self._root = media_dir / "web"

    async def put_video(self, conversation: str, job: int, turn: str, video: Path) -> None:
        """File the video of `job` for the conversation."""
        folder = self._root / conversation
        await asyncio.to_thread(_link, video, folder / f"{job}.mp4")
        await self._put(folder, Entry(job, turn))

    async def put_failure(self, conversation: str, job: int, turn: str, message: str) -> None:
        """File that `job` will not produce a video, and why (one line for the user)."""
        await self._put(self._root / conversation, Entry(job, turn, message))

    async def after(self, conversation: str, job: int, limit: int = REPLAY_LIMIT) -> list[Entry]:
        """The newest `limit` entries with a job id above `job`, oldest first."""
        return await asyncio.to_thread(_read_after, self._root / conversation, job, limit)

    async def video(self, conversation: str, job: int) -> Path | None:
        """The path of the conversation's video of `job`, if it has one."""
        path = self._root / conversation / f"{job}.mp4"
        return path if await asyncio.to_thread(path.is_file) else None

    async def _put(self, folder: Path, entry: Entry) -> None:
        record = json.dumps({"turn": entry.turn, "error": entry.error})
        await asyncio.to_thread(write_atomically, folder / f"{entry.job}.json", record.encode())


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_of(target)
    partial.unlink(missing_ok=True)
    try:
        os.link(source, partial)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, partial)
    partial.replace(target)


def _read_after(folder: Path, after: int, limit: int) -> list[Entry]:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    matches = (_ENTRY.fullmatch(name) for name in names)
    jobs = sorted(job for m in matches if m and (job := int(m[1])) > after)
    entries = []
    for job in jobs[-limit:]:
        try:
            record = json.loads((folder / f"{job}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        entries.append(Entry(job, str(record.get("turn") or ""), record.get("error")))
    return entries
