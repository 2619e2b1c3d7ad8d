"""Where things are, for the tests, the stand-ins and the benchmarks: the checkout, the test tree and the
data the tests read (golden outputs, the official task.json schema). One place, so that a test's own
location in tests/unit, tests/e2e or tests/packaging never decides what it reads."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: build.py, task/, python/, docs/
TESTS = ROOT / "tests"
SUPPORT = TESTS / "support"
GOLDEN = SUPPORT / "golden"  # the awswif command's expected outputs (UPDATE_GOLDEN=1 rewrites them)
SCHEMAS = SUPPORT / "schemas"
FAKE_PLATFORM = SUPPORT / "fake_platform.js"  # node --require: process.platform as another OS has it
