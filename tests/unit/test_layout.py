"""The house's shape, held: the people's tools (awswif/cli/) sit on the shared core and the core never
imports them, so the task and the refresh load nothing of the CLI (docs/architecture.md). And the test
tree's: tests/unit, tests/e2e and tests/packaging hold the tests, tests/support what they share, and
nothing in tests/unit needs node, the .vsix, moto, OpenTofu or Go, so that `tests/run.py --quick` stays quick."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from paths import ROOT, SUPPORT, TESTS

PACKAGE = ROOT / "python" / "awswif"
TEST_FOLDERS = ("unit", "e2e", "packaging")


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


# -- the test tree -------------------------------------------------------------------------------------
def all_test_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("test_*.py") if ".node" not in p.parts)


def top_level_imports(path: Path) -> set[str]:
    """The top-level name of every module a file imports, wherever in the file the import stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_every_test_is_in_one_of_the_three_folders() -> None:
    files = all_test_files()
    assert len(files) > 40
    assert {p.relative_to(TESTS).parts[0] for p in files} == set(TEST_FOLDERS)
    assert all(len(p.relative_to(TESTS).parts) == 2 for p in files), "no deeper folders"
    # pytest's default (prepend) import mode, without __init__.py, imports each test module by its basename.
    names = [p.name for p in files]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert not {p.stem for p in SUPPORT.glob("*.py")} & {p.stem for p in files}


def test_no_test_module_imports_another() -> None:
    """What two test modules share lives in tests/support, so that each folder runs on its own."""
    offenders = {p.name: sorted(m for m in top_level_imports(p) if m.startswith("test_")) for p in all_test_files()}
    assert {k: v for k, v in offenders.items() if v} == {}


# What a fast test does not touch: the launcher run by node, the built .vsix and tfx-cli, moto, OpenTofu, the Go
# probe. The fixtures and helpers that reach them, by name, and the support modules that are them.
SLOW_NAMES = {"run_launcher", "NODE", "task_dir", "source_task_dir", "vsix_task_dir", "built", "moto_url",
              "build_vsix", "build_in", "tfx_create", "tofu_binary", "probe_binary", "run_probe"}
SLOW_MODULES = {"launcher", "vsix", "opentofu", "awsbase_probe", "moto"}
PROGRAMS = ("node", "tofu", "go")  # a subprocess argv naming one of them


def slow_support_modules() -> set[str]:
    """SLOW_MODULES, and every support module that imports one of them, directly or through another."""
    slow = set(SLOW_MODULES)
    support = {p.stem: top_level_imports(p) for p in SUPPORT.glob("*.py")}
    while True:
        more = {name for name, imports in support.items() if name not in slow and imports & slow}
        if not more:
            return slow
        slow |= more


def identifiers(path: Path) -> set[str]:
    """Every name a file uses: variables, attributes, arguments (so fixtures), imported names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, ast.alias):
            found.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.Constant) and node.value in PROGRAMS:
            found.add(f"program {node.value}")
    return found


def test_unit_tests_need_no_node_vsix_moto_or_go() -> None:
    slow = slow_support_modules()
    assert {"launcher", "vsix", "moto_iam", "many_accounts", "installed_task", "s3_backend"} <= slow
    assert not slow & {"agent_env", "agent_model", "fakes", "awswif_cli", "paths"}
    unit = sorted((TESTS / "unit").glob("test_*.py"))
    assert len(unit) > 10
    offenders = {}
    for path in unit:
        names = identifiers(path)
        if path.name == Path(__file__).name:  # this file names the programs to look for them
            names -= {f"program {p}" for p in PROGRAMS}
        found = sorted((names & (SLOW_NAMES | {f"program {p}" for p in PROGRAMS})) | (top_level_imports(path) & slow))
        if found:
            offenders[path.name] = found
    assert offenders == {}, "these belong in tests/e2e or tests/packaging"


def test_isort_knows_every_support_module_as_local() -> None:
    """ruff's isort sorts the support modules into the local section only if ruff.toml names them."""
    text = (ROOT / "ruff.toml").read_text(encoding="utf-8")
    listed = set(re.findall(r'"(\w+)"', re.search(r"known-local-folder = \[(.*?)\]", text, re.S)[1]))  # type: ignore[index]
    assert {p.stem for p in SUPPORT.glob("*.py")} <= listed
