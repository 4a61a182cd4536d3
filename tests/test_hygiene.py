"""The suite's own hygiene: what a test leaves running fails the session, by name, without a hang.

Each check is proved by planting the bug: pytest runs in a child process on a tiny test file,
with this suite's conftest as its plugin, and must exit non-zero naming what was left.
"""

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

from tests.processes import Children, child, reap

ROOT = Path(__file__).resolve().parent.parent
INI = """\
[pytest]
addopts = -p tests.conftest -p no:cacheprovider
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
timeout = 10
"""


async def planted(tmp_path: Path, source: str) -> tuple[int, str]:
    """Run pytest on one test file holding `source`; its exit code and output."""
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "test_planted.py").write_text(source)
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    async with child(
        sys.executable, "-m", "pytest", "-q", "test_planted.py", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    ) as process:  # fmt: skip
        out, _ = await asyncio.wait_for(process.communicate(), 25)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_a_clean_session_passes(tmp_path: Path) -> None:
    code, out = await planted(tmp_path, "def test_nothing():\n    pass\n")
    assert (code, "LEFT RUNNING" in out) == (0, False), out


async def test_a_thread_left_running_fails_the_session(tmp_path: Path) -> None:
    source = """\
import threading

def test_leaves_a_thread_running():
    threading.Thread(target=threading.Event().wait, name="planted-thread").start()
"""
    code, out = await planted(tmp_path, source)
    assert code == 1, out
    assert "1 passed" in out and "LEFT RUNNING" in out
    assert "thread 'planted-thread'" in out


async def test_a_failing_test_with_its_database_open_fails_fast_instead_of_hanging(
    tmp_path: Path,
) -> None:
    # The failed test's traceback (kept as sys.last_traceback) holds the open connection, whose
    # non-daemon thread would keep the interpreter from exiting.
    source = """\
import aiosqlite

async def test_fails_with_the_database_open(tmp_path):
    db = await aiosqlite.connect(tmp_path / "left-open.db")
    assert await (await db.execute("SELECT 1")).fetchone() == (2,)
"""
    code, out = await planted(tmp_path, source)
    assert code == 1, out
    assert "1 failed" in out and "LEFT RUNNING" in out
    assert "_connection_worker_thread" in out  # aiosqlite's worker, named


async def test_a_child_process_left_running_fails_the_session_and_is_killed(
    tmp_path: Path,
) -> None:
    marker = f"planted-child-{uuid.uuid4().hex}"
    source = f"""\
import subprocess, sys

def test_leaves_a_child_running():
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "{marker}"])
"""
    code, out = await planted(tmp_path, source)
    assert code == 1, out
    assert "LEFT RUNNING" in out and f"{marker}): killed" in out
    assert not [pid for pid in _pids() if marker.encode() in _cmdline(pid)]


async def test_children_are_reaped_even_one_that_ignores_sigterm() -> None:
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)"  # noqa: E501
    owner = Children()
    polite = await owner.start(sys.executable, "-c", "import time; time.sleep(60)")
    deaf = await owner.start(sys.executable, "-c", stubborn, stdout=asyncio.subprocess.PIPE)
    assert deaf.stdout is not None
    await asyncio.wait_for(deaf.stdout.readline(), 10)  # SIGTERM is ignored from here on
    await owner.aclose()
    assert polite.returncode == -signal.SIGTERM
    assert deaf.returncode == -signal.SIGKILL
    await reap(polite)  # reaping twice is harmless


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
