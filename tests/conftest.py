"""Shared fixtures for tests/unit, tests/e2e and tests/packaging: the local issuer and STS, moto's server,
and the task's folder as the agent runs it (the source tree, or extracted from the built .vsix).

The stand-ins and helpers the tests import live in tests/support (put on sys.path here, with the
package's python/ folder); a test module never imports another test module."""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from awswif.trust import trust_policy  # noqa: E402

from agent_env import ACCOUNT, ROLE_ARN  # noqa: E402
from fakes import Issuer, Sts  # noqa: E402
from vsix import Built, build_vsix  # noqa: E402


@pytest.fixture(params=["azure-devops", "entra"])
def issuer(request: pytest.FixtureRequest) -> Iterator[Issuer]:
    server = Issuer(request.param)
    yield server
    server.close()


@pytest.fixture
def sts(issuer: Issuer) -> Iterator[Sts]:
    server = Sts()
    server.add_provider(ACCOUNT, issuer.issuer, issuer.jwks_url)
    server.add_role(ROLE_ARN, trust_policy(ACCOUNT, issuer.issuer, [issuer.subject]), max_session_duration=7200)
    yield server
    server.close()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's server on loopback: the AWS side where a test needs real AWS APIs (IAM, STS, Organizations,
    CloudFormation, S3) rather than the STS stand-in."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def source_task_dir() -> Path:
    return ROOT / "task"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp("build")
    result = build_vsix(base / "dist", base / "stage")
    assert result.returncode == 0, result.stderr
    (vsix,) = (base / "dist").glob("*.vsix")
    return Built(vsix, base / "stage", result.stdout)


@pytest.fixture(scope="session")
def vsix_task_dir(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The task as an agent unpacks it from the .vsix: no __pycache__, only what the build shipped."""
    target = tmp_path_factory.mktemp("extracted")
    with zipfile.ZipFile(built.vsix) as archive:
        archive.extractall(target)
    return target / "AwsWifAssumeV1"


@pytest.fixture(params=["source", "vsix"])
def task_dir(request: pytest.FixtureRequest) -> Path:
    """Both ways the task runs: from the source tree, and extracted from the built .vsix."""
    if request.param == "source":
        return ROOT / "task"
    return request.getfixturevalue("vsix_task_dir")
