"""Files written whole or not at all: a reader sees the old file or the new one, never half.

Each is written to `<name>.part` beside it and renamed over it (a rename within one folder is
atomic on POSIX). A `.part` left by a crash keeps the name it was written for, so retention
prunes it with its job's other files.
"""

from __future__ import annotations

import os
from pathlib import Path


def partial_of(path: Path) -> Path:
    """Where `path` is written before it is renamed into place."""
    return path.with_name(path.name + ".part")


def write_atomically(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write `data` to `path` through its partial.

    `durable` syncs the data to disk before the rename: for what must survive a power cut, such
    as an accepted message's attachment.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_of(path)
    with open(partial, "wb") as file:
        file.write(data)
        if durable:
            file.flush()
            os.fsync(file.fileno())
    partial.replace(path)
