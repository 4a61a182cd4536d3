"""core/ must not know any platform: it imports no adapter, bot module or chat library."""

import ast
from pathlib import Path

FORBIDDEN = ("adapters", "bot", "telegram", "discord", "aiohttp")
CORE = Path(__file__).resolve().parent.parent / "core"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_core_imports_no_platform_or_adapter() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 5
    offenders = {
        f"{path.name}: {module}"
        for path in files
        for module in imported_modules(path)
        if module.split(".")[0] in FORBIDDEN
    }
    assert not offenders


def test_the_check_itself_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import telegram.ext\nfrom adapters.discord import x\n")
    assert imported_modules(sample) == {"telegram.ext", "adapters.discord"}
