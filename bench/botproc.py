"""The bot under benchmark: `avatarbot run` in its own process, watching itself.

Started by `bench.common.BotProcess` with the settings in the environment. It runs the real
`bot.run.serve` with every configured adapter until SIGTERM, then writes a JSON report to
`$BENCH_REPORT`: every process it started (and when), event-loop stalls, and peak RSS.
With `$BENCH_PROFILE` set, pyinstrument samples the whole run and writes a text and an HTML
profile next to that path.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from bot import logs
from bot.cli import run_async
from bot.run import configured_adapters, serve
from bot.settings import Settings

TICK = 0.005  # the loop monitor's sleep: a late wake-up is a stall of the event loop


class ProcessCounter:
    """Records every process this one starts: subprocess/asyncio, posix_spawn, and forks."""

    def __init__(self) -> None:
        self.started: list[tuple[float, str]] = []

    def install(self) -> None:
        original_init = subprocess.Popen.__init__
        counter = self

        def popen_init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
            counter.started.append((time.monotonic(), f"Popen {args!r}"[:200]))
            original_init(self, args, *rest, **kwargs)

        subprocess.Popen.__init__ = popen_init  # type: ignore[method-assign]
        for name in ("posix_spawn", "posix_spawnp"):
            self._wrap_os(name)
        os.register_at_fork(before=lambda: self.started.append((time.monotonic(), "fork")))

    def _wrap_os(self, name: str) -> None:
        original = getattr(os, name, None)
        if original is None:
            return

        def spawn(path: Any, *args: Any, **kwargs: Any) -> Any:
            self.started.append((time.monotonic(), f"{name} {path!r}"))
            return original(path, *args, **kwargs)

        setattr(os, name, spawn)


class LoopMonitor:
    """Measures how late the event loop wakes a sleeper: a stall blocks every chat at once."""

    def __init__(self) -> None:
        self.lags: list[float] = []

    async def run(self) -> None:
        while True:  # perf_counter: uvloop's loop.time() counts whole milliseconds
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            self.lags.append(max(time.perf_counter() - before - TICK, 0.0))

    def summary(self) -> dict[str, float]:
        lags = sorted(self.lags)
        if not lags:
            return {}

        def at(p: float) -> float:
            return round(lags[min(int(p * len(lags)), len(lags) - 1)] * 1000, 3)

        return {
            "ticks": len(lags),
            "p50_ms": at(0.5),
            "p99_ms": at(0.99),
            "max_ms": round(lags[-1] * 1000, 3),
            "over_10ms": sum(1 for lag in lags if lag > 0.010),
            "over_50ms": sum(1 for lag in lags if lag > 0.050),
        }


async def _serve(settings: Settings, monitor: LoopMonitor) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = asyncio.create_task(monitor.run(), name="bench-loop-monitor")
    try:
        await serve(settings, stop, configured_adapters(settings))
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    logs.configure(settings.LOG_LEVEL, settings.secrets())
    counter = ProcessCounter()
    counter.install()
    monitor = LoopMonitor()
    profile_path = os.environ.get("BENCH_PROFILE")
    profiler = None
    if profile_path:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
    run_async(_serve(settings, monitor))  # the event loop `avatarbot run` uses
    if profiler is not None and profile_path:
        profiler.stop()
        Path(profile_path).with_suffix(".txt").write_text(
            profiler.output_text(unicode=True, color=False, show_all=False)
        )
        Path(profile_path).with_suffix(".html").write_text(profiler.output_html())
        if profiler.last_session is not None:
            profiler.last_session.save(str(Path(profile_path).with_suffix(".pyisession")))
    report = {
        "processes_started": [{"at": at, "what": what} for at, what in counter.started],
        "loop_lag": monitor.summary(),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }
    Path(os.environ["BENCH_REPORT"]).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
