"""Profile of one busy run: the concurrency scenario (200 chats at once) under pyinstrument.

pyinstrument samples the bot process every millisecond for the whole run (start-up, the burst,
shutdown). The call tree goes to `bench/results/profile.txt`; the JSON keeps the share of CPU
samples each library spends in its own code, which is what `bench/README.md` discusses.
Profiling slows the bot down, so this run's timings are not the concurrency benchmark's.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from bench import concurrency
from bench.common import RESULTS, Result

TOP = 12
IDLE = {"epoll.poll", "poll.poll", "select.select", "EpollSelector.select"}  # waiting


async def run(workdir: Path) -> Result:
    result = Result("profile")
    base = workdir / "profile"
    busy = await concurrency.run(workdir, profile=base)
    await asyncio.to_thread(_copy, base.with_suffix(".txt"), RESULTS / "profile.txt")
    shares, functions, total = await asyncio.to_thread(_self_time, base.with_suffix(".pyisession"))
    result.fakes = busy.fakes
    for package, seconds in shares[:6]:
        result.add(f"CPU in {package} (own code)", 100 * seconds / total, "%")
    result.numbers = {
        "cpu_seconds_sampled": round(total, 3),
        "self_time_by_package_s": {package: round(s, 3) for package, s in shares[:TOP]},
        "top_functions_self_time_s": functions,
        "profiled_run_rows": [row.metric + f": {row.value} {row.unit}" for row in busy.rows],
        "call_tree": "bench/results/profile.txt",
    }
    return result


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _self_time(path: Path) -> tuple[list[tuple[str, float]], dict[str, float], float]:
    """CPU self time per top-level package and per function, idle (epoll) left out."""
    from pyinstrument.session import Session

    root = Session.load(str(path)).root_frame()
    by_package: dict[str, float] = {}
    by_function: dict[str, float] = {}
    stack: list[Any] = [root] if root is not None else []
    while stack:
        frame = stack.pop()
        stack.extend(frame.children)
        owner = frame.parent if frame.function == "[self]" and frame.parent else frame
        own = frame.time - sum(child.time for child in frame.children)
        if own <= 0 or owner.function in IDLE:
            continue
        package = _package(owner.file_path or "")
        name = f"{owner.function} ({package})"
        by_package[package] = by_package.get(package, 0.0) + own
        by_function[name] = by_function.get(name, 0.0) + own
    total = sum(by_package.values()) or 1.0
    ranked = sorted(by_function.items(), key=lambda item: -item[1])[:TOP]
    packages = sorted(by_package.items(), key=lambda item: -item[1])
    return packages, {name: round(seconds, 3) for name, seconds in ranked}, total


def _package(file_path: str) -> str:
    """`…/site-packages/httpcore/_async/x.py` → httpcore; the project's own folders by name."""
    parts = Path(file_path).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    for own in ("core", "adapters", "bot", "bench"):
        if own in parts:
            return own
    if "python3.11" in parts:
        return parts[parts.index("python3.11") + 1].removesuffix(".py")
    return file_path or "<built-in>"
