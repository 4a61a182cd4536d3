"""`python -m bench [NAME ...]`: run the benchmarks, print a table, write bench/results/*.json.

Each benchmark runs in its own event loop and temporary folder, under a deadline of its own.
`python -m bench latency video` runs just those; `python -m bench --list` names them all.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import (
    concurrency,
    discord_defer,
    history,
    latency,
    live,
    memory,
    profile,
    soak,
    speech,
    video,
    voice,
)
from bench.common import Result, git_commit, machine, write_result

Benchmark = Callable[[Path], Awaitable[Result]]

# name → (run, deadline in seconds); sized for a 2-core machine, about 5 minutes in all.
BENCHMARKS: dict[str, tuple[Benchmark, float]] = {
    "latency": (latency.run, 150),
    "voice": (voice.run, 60),
    "concurrency": (concurrency.run, 120),
    "discord": (discord_defer.run, 120),
    "video": (video.run, 240),
    "memory": (memory.run, 240),
    "history": (history.run, 120),
    "profile": (profile.run, 120),
    "soak": (soak.run, 240),
    "speech": (speech.run, 30),
    "live": (live.run, 300),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (all)")
    parser.add_argument("--list", action="store_true", help="name the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    # A fake server logs a dropped connection when the bot process stops mid long-poll.
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    commit, host = git_commit(), machine()
    cpus = f"{host['cpu_count']} × {host['cpu_model']}"
    print(f"avatarbot benchmarks · commit {commit[:12]} · {cpus} · Python {host['python']}")
    results, failed = [], []
    for name in args.names or list(BENCHMARKS):
        run, deadline = BENCHMARKS[name]
        print(f"… {name}", flush=True)
        started = time.monotonic()
        try:
            result = asyncio.run(_bounded(run, deadline))
        except Exception as error:  # one broken benchmark must not hide the others' numbers
            print(f"  {name} failed: {error!r}", file=sys.stderr)
            failed.append(name)
            continue
        seconds = time.monotonic() - started
        path = write_result(result, seconds, commit, host)
        print(f"  {seconds:.0f} s → {path}")
        results.append(result)
    print(table(results))
    missed = [row for result in results for row in result.rows if row.ok is False]
    if failed:
        print(f"failed to run: {', '.join(failed)}", file=sys.stderr)
    if missed:
        print(f"{len(missed)} target(s) missed", file=sys.stderr)
    return 1 if failed else 0


async def _bounded(run: Benchmark, deadline: float) -> Result:
    with tempfile.TemporaryDirectory(prefix="avatarbot-bench-") as folder:
        async with asyncio.timeout(deadline):
            return await run(Path(folder))


def table(results: list[Result]) -> str:
    """The results as a plain-text table: benchmark, metric, value, target, verdict."""
    lines = [("benchmark", "metric", "value", "target", "")]
    for result in results:
        for row in result.rows:
            verdict = {True: "ok", False: "MISSED", None: ""}[row.ok]
            lines.append((result.name, row.metric, row.shown(), row.target, verdict))
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    rule = "  ".join("-" * width for width in widths)
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join([rule, out[0], rule, *out[1:], rule])


if __name__ == "__main__":
    sys.exit(main())
