"""awswif.background: the work runs once, from start() or at the latest from result(), on its own
thread; its exception reaches the caller of result()."""

from __future__ import annotations

import threading

import pytest

from awswif.background import Background


def test_nothing_runs_before_start_and_start_runs_it_once_on_another_thread() -> None:
    threads: list[str] = []
    work = Background(lambda: threads.append(threading.current_thread().name) or len(threads))
    assert threads == []
    work.start()
    work.start()
    assert work.result() == 1
    assert threads == ["awswif-background"]


def test_result_starts_work_that_was_never_started() -> None:
    assert Background(lambda: 42).result() == 42


def test_the_work_exception_is_raised_by_result() -> None:
    def broken() -> int:
        raise ImportError("no module named botocore")

    work = Background(broken)
    work.start()
    with pytest.raises(ImportError, match="botocore"):
        work.result()
