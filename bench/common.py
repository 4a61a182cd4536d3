"""What every benchmark shares: results, the machine, the bot in its own process, timed fakes.

The bot runs as a child process (`bench.botproc`, the real `serve` with every configured adapter)
and the fake services run in this process, so the bot's numbers do not include the fakes' work,
as in production where Telegram, Groq and D-ID are other machines. All clocks are
`time.monotonic()`, which is one clock for every process on Linux.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.fakes.did import FakeDID
from tests.fakes.discord import FakeDiscord, Upload
from tests.fakes.groq import ARRIVED, FakeGroq
from tests.fakes.telegram import JSON, FakeTelegram, Sent

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
STARTUP_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the results table."""

    metric: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None  # None: no target, reported for context

    def shown(self) -> str:
        if self.unit == "count" or float(self.value).is_integer():
            return f"{self.value:g} {self.unit}".replace(" count", "")
        return f"{self.value:.3g} {self.unit}"


@dataclass(slots=True)
class Result:
    """What one benchmark measured, with the fake latencies it ran against."""

    name: str
    rows: list[Row] = field(default_factory=list)
    fakes: dict[str, Any] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(
        self, metric: str, value: float, unit: str, target: str = "", ok: bool | None = None
    ) -> None:
        self.rows.append(Row(metric, round(value, 4), unit, target, ok))


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100) of `values`."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(p / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max of durations in seconds, in milliseconds."""
    pick = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}
    return {name: round(percentile(values, p) * 1000, 3) for name, p in pick.items()}


def machine() -> dict[str, Any]:
    """The machine the numbers come from."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def git_commit() -> str:
    """`git rev-parse HEAD` of the checkout, or "unknown"."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def write_result(result: Result, seconds: float, commit: str, host: dict[str, Any]) -> Path:
    """Write `bench/results/<name>.json` (atomically: a .tmp file is renamed)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": result.name,
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit,
        "machine": host,
        "duration_seconds": round(seconds, 1),
        "fake_latencies": result.fakes,
        "rows": [asdict(row) for row in result.rows],
        "numbers": result.numbers,
        "notes": result.notes,
    }
    path = RESULTS / f"{result.name}.json"
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


# -- fakes that timestamp what the bot does -----------------------------------------------------


class TimedGroq(FakeGroq):
    """FakeGroq that records when chat requests arrive and when streamed chunks are released.

    With one request at a time, the first release after an arrival is when the first token
    left: their difference is the fake LLM's own time to first token, as the bot sees it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []
        self.releases: list[float] = []

    async def _dispatch(self, request: Any, handler: Any, endpoint: str) -> Any:
        if endpoint == "chat/completions":
            self.arrivals.append(request[ARRIVED])
        return await super()._dispatch(request, handler, endpoint)

    async def _until(self, due: float) -> None:
        await super()._until(due)
        self.releases.append(time.monotonic())

    def arrival_after(self, since: float) -> float | None:
        """When the first chat request after `since` arrived."""
        return next((t for t in self.arrivals if t >= since), None)

    def time_to_first_token(self, since: float) -> float | None:
        """The fake's TTFT for the first chat request that arrived after `since`."""
        arrival = self.arrival_after(since)
        if arrival is None:
            return None
        released = next((t for t in self.releases if t >= arrival), None)
        return None if released is None else released - arrival


# When the Bot API request being handled reached the fake (None for an upload).
_ARRIVED: ContextVar[float | None] = ContextVar("arrived", default=None)


class TimedTelegram(FakeTelegram):
    """FakeTelegram that records when each Bot API call from the bot was handled.

    With `stamp_arrivals`, a call is stamped when its request reached the fake (as `TimedGroq`
    stamps requests) rather than once the fake has read, checked and applied it: the fake's own
    work then stays out of the bot's latency. Uploads are stamped when handled either way.
    """

    def __init__(self, *, stamp_arrivals: bool = False) -> None:
        super().__init__()
        self.stamp_arrivals = stamp_arrivals
        self.timeline: list[tuple[float, Sent]] = []
        self.counts: Counter[tuple[int, str]] = Counter()  # (chat id, method) -> calls
        # (chat id, method) -> (timeline index, stamp) of each call: `first` must stay cheap,
        # since wait_for re-checks on every call and the fake's CPU is part of what is timed.
        self._calls: defaultdict[tuple[int, str], list[tuple[int, float]]] = defaultdict(list)

    def _log(
        self, method: str, chat: JSON, params: JSON, message: JSON | None = None, **extra: Any
    ) -> None:
        super()._log(method, chat, params, message, **extra)
        arrived = _ARRIVED.get()
        stamp = arrived if self.stamp_arrivals and arrived is not None else time.monotonic()
        self.timeline.append((stamp, self._sent[-1]))
        self.counts[(chat["id"], method)] += 1
        self._calls[(chat["id"], method)].append((len(self.timeline) - 1, stamp))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token = _ARRIVED.set(
            None if request.content_type.startswith("multipart/") else time.monotonic()
        )
        try:
            return await super()._handle(request)
        finally:
            _ARRIVED.reset(token)

    async def answer(self, chat: int, text: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Push a message and wait for the bot's next final answer (sendMessage) in the chat."""
        before = self.counts[(chat, "sendMessage")]
        self.push_text(chat, text)
        await self.wait_for(lambda: self.counts[(chat, "sendMessage")] > before, timeout)

    def first(self, chat_id: int, methods: Sequence[str], start: int = 0) -> float | None:
        """When the bot first called one of `methods` in the chat, from timeline index `start`."""
        stamps = []
        for method in methods:
            calls = self._calls.get((chat_id, method), [])
            at = bisect.bisect_left(calls, start, key=lambda call: call[0])
            if at < len(calls):
                stamps.append(calls[at][1])
        return min(stamps, default=None)


class TimedDiscord(FakeDiscord):
    """FakeDiscord that records when each message, edit and interaction response arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: dict[tuple[int, str], float] = {}  # (interaction id, kind) -> first time
        self.last_edit: dict[int, float] = {}  # interaction id -> latest edit of the original

    def _log(
        self,
        kind: str,
        message: JSON | None,
        payload: JSON,
        files: tuple[Upload, ...] = (),
        interaction: Any = None,
        response_type: int | None = None,
    ) -> None:
        super()._log(kind, message, payload, files, interaction, response_type)
        if interaction is not None:
            now = time.monotonic()
            self.stamps.setdefault((interaction.id, kind), now)
            if kind == "edit_original":
                self.last_edit[interaction.id] = now


# -- the bot in its own process -----------------------------------------------------------------


def bot_env(
    workdir: Path,
    groq: FakeGroq,
    *,
    telegram: FakeTelegram | None = None,
    discord: FakeDiscord | None = None,
    did: FakeDID | None = None,
    **extra: str,
) -> dict[str, str]:
    """Settings for the bot process: every client pointed at the fakes, as `.env` would."""
    env = {
        "GROQ_API_KEY": groq.api_key,
        "GROQ_BASE_URL": groq.base_url,
        "GROQ_TIMEOUT_SECONDS": "30",
        "DATABASE_PATH": str(workdir / "data" / "avatarbot.db"),
        "WEB_ENABLED": "false",
        "AVATAR_IMAGE_URL": "https://example.com/face.jpg",
        "LOG_LEVEL": "INFO",
    }
    if telegram is not None:
        env |= {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_BASE_URL": telegram.base_url}
    if discord is not None:
        env |= {
            "DISCORD_BOT_TOKEN": discord.token,
            "DISCORD_API_BASE_URL": discord.api_url,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
            "DISCORD_GUILD_IDS": ",".join(str(g) for g in discord.guilds),
        }
    if did is not None:
        env |= {"DID_API_KEY": did.api_key, "DID_API_BASE_URL": did.base_url}
    return env | extra


class BotProcess:
    """`avatarbot run` as a child process (`python -m bench.botproc`), stopped with SIGTERM.

    `report()` after `stop()` holds what the child observed about itself (processes it
    started, event-loop stalls); `rss_mb()` reads its resident memory while it runs.
    """

    def __init__(self, env: dict[str, str], workdir: Path, *, profile: Path | None = None):
        self._workdir = workdir
        self._report_path = workdir / "botproc-report.json"
        self._log_path = workdir / "botproc.log"
        self._env = {k: v for k, v in os.environ.items() if not _is_setting(k)}
        self._env |= env | {"BENCH_REPORT": str(self._report_path), "PYTHONUNBUFFERED": "1"}
        if profile is not None:
            self._env["BENCH_PROFILE"] = str(profile)
        self._process: asyncio.subprocess.Process | None = None
        self.report: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def start(self) -> None:
        await asyncio.to_thread(self._workdir.mkdir, parents=True, exist_ok=True)
        log = await asyncio.to_thread(self._log_path.open, "ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.botproc",
                cwd=ROOT,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()

    async def stop(self) -> dict[str, Any]:
        """SIGTERM, wait for a clean exit (kill after 30 s), and read the child's report."""
        process = self._process
        if process is None:
            return self.report
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        self._process = None
        with contextlib.suppress(OSError, ValueError):
            text = await asyncio.to_thread(self._report_path.read_text, encoding="utf-8")
            self.report = json.loads(text)
        if process.returncode not in (0, -signal.SIGTERM):
            tail = await asyncio.to_thread(self.log_tail)
            raise RuntimeError(f"bot process exited with {process.returncode}:\n{tail}")
        return self.report

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def rss_mb(self) -> float:
        """Resident set size of the bot process now, in MiB."""
        return _status_kib(self.pid, "VmRSS") / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time the bot process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def check_alive(self) -> None:
        if self._process is None or self._process.returncode is not None:
            raise RuntimeError(f"bot process is not running:\n{self.log_tail()}")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _is_setting(name: str) -> bool:
    """Variables the bot reads: the benchmark sets them, the caller's shell must not leak in."""
    prefixes = ("GROQ_", "DID_", "TELEGRAM_", "DISCORD_", "WEB_", "AVATAR_", "LLM_", "WHISPER_")
    others = {"SYSTEM_PROMPT", "HISTORY_MAX_MESSAGES", "MAX_MESSAGE_CHARS", "DATABASE_PATH"}
    return name.startswith(prefixes) or name in others or name == "LOG_LEVEL"


def _status_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise LookupError(f"{field_name} not in /proc/{pid}/status")


async def wait_telegram_ready(tg: FakeTelegram, bot: BotProcess) -> None:
    """Wait until the bot long-polls Telegram (it has imported, migrated and logged in)."""
    try:
        await tg.wait_for(lambda: tg.calls("getUpdates"), timeout=STARTUP_TIMEOUT)
    except TimeoutError:
        raise RuntimeError(f"the bot did not start polling:\n{bot.log_tail()}") from None
