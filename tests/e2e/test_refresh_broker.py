"""Concurrent refreshes share one process's start-up (python/awswif/refresh_broker.py): the first refresh of a
run folder serves the others that start while it works, over a Unix socket in that folder. Real processes:
the credential_process line run as botocore runs it, against the issuer and STS stand-ins."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from credential_process_steps import config_line, record, run_process, step_environment, write_config
from fakes import Issuer, Sts

pytestmark = pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)


def test_ten_at_once_are_served_by_one_leader_each_with_its_own_session(issuer: Issuer, sts: Sts,
                                                                       tmp_path: Path) -> None:
    config = write_config(tmp_path / "run", {"default": record(issuer, sts)})
    env = step_environment(tmp_path / "home", config, issuer, SYSTEM_DEBUG="true")
    sts.delay = 0.3  # the leader is still at work when the others start
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: run_process(config, env), range(10)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    answers = [json.loads(r.stdout) for r in results]
    # Every call still gets its own fresh token and its own session.
    assert len({a["AccessKeyId"] for a in answers}) == 10
    assert len(issuer.token_requests) == 10 and len(sts.calls) == 10
    served = [r for r in results if "served by the refresh that leads" in r.stderr]
    assert served, "no call was served by a leader"
    # Nothing left in the run folder but the files and the empty lock; no secret on disk.
    left = {p.name: p.read_bytes() for p in config.parent.iterdir()}
    assert set(left) == {"config", "refresh.lock"} and left["refresh.lock"] == b""
    for answer in answers:
        assert answer["SecretAccessKey"].encode() not in b"".join(left.values())


def _leader_running(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    import shlex

    process = subprocess.Popen(shlex.split(config_line(config)), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not (config.parent / "refresh.sock").exists():
        assert time.monotonic() < deadline and process.poll() is None, "no leader came up"
        time.sleep(0.01)
    return process


def _ask(path: Path, request: dict[str, str]) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(20)
        connection.connect(str(path))
        connection.sendall(json.dumps(request).encode() + b"\n")
        connection.shutdown(socket.SHUT_WR)
        return b"".join(iter(lambda: connection.recv(65536), b""))


def test_the_leader_answers_only_the_jobs_token_for_its_own_file(issuer: Issuer, sts: Sts, tmp_path: Path) -> None:
    config = write_config(tmp_path / "run", {"default": record(issuer, sts)})
    env = step_environment(tmp_path / "home", config, issuer)
    sts.delay = 1.5
    leader = _leader_running(config, env)
    try:
        sock = config.parent / "refresh.sock"
        results: dict[str, bytes] = {}

        def ask(name: str, request: dict[str, str]) -> None:
            results[name] = _ask(sock, request)

        requests = {
            "wrong token": {"profile": "default", "config": str(config), "token": "not-the-job-token"},
            "other file": {"profile": "default", "config": str(tmp_path / "elsewhere" / "config"),
                           "token": issuer.access_token},
            "right": {"profile": "default", "config": str(config), "token": issuer.access_token},
        }
        threads = [threading.Thread(target=ask, args=item) for item in requests.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        _out, err = leader.communicate(timeout=60)
    assert leader.returncode == 0, err
    assert results["wrong token"] == b"" and results["other file"] == b""
    answer = json.loads(results["right"])
    assert answer["code"] == 0 and json.loads(answer["out"])["AccessKeyId"] in {k for k in sts.sessions}
    assert not (config.parent / "refresh.sock").exists()


def test_a_leader_that_died_leaves_no_one_waiting(issuer: Issuer, sts: Sts, tmp_path: Path) -> None:
    """A socket file no one listens on (its leader was killed): the next call leads."""
    config = write_config(tmp_path / "run", {"default": record(issuer, sts)})
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(config.parent / "refresh.sock"))
    stale.close()
    start = time.monotonic()
    result = run_process(config, step_environment(tmp_path / "home", config, issuer))
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start < 5
    assert not (config.parent / "refresh.sock").exists()
