"""The house's shape, held: the people's tools (awswif/cli/) sit on the shared core and the core never
imports them, so the task and the refresh load nothing of the CLI (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from paths import ROOT

PACKAGE = ROOT / "python" / "awswif"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, as absolute names within awswif (relative imports resolved)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_the_core_never_imports_the_cli() -> None:
    core = [p for p in PACKAGE.glob("*.py") if p.name != "__main__.py"]
    assert len(core) > 20
    offenders = {p.name: sorted(m for m in imported_modules(p) if m == "awswif.cli" or m.startswith("awswif.cli."))
                 for p in core}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_dispatcher_loads_the_cli_only_for_its_commands() -> None:
    """__main__ imports awswif.cli inside the branch for people's commands, never at the top."""
    tree = ast.parse((PACKAGE / "__main__.py").read_text(encoding="utf-8"))
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not [n for n in top_level if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("cli")]
    assert "awswif.cli" in imported_modules(PACKAGE / "__main__.py")
