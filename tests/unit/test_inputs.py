"""inputs.py: validation and the default session name."""

from __future__ import annotations

import io

import pytest

from awswif.agent import Agent
from awswif.errors import UserError
from awswif.identifiers import SESSION_NAME
from awswif.inputs import default_session_name, read_inputs

GOOD = {
    "INPUT_SERVICECONNECTION": "5A1B2C3D-0000-4000-8000-000000000001",
    "INPUT_ROLEARN": "arn:aws:iam::123456789012:role/team/deploy",
    "INPUT_REGION": "eu-west-1",
    "SYSTEM_OIDCREQUESTURI": "https://dev.azure.com/contoso/p/_apis/distributedtask/hubs/build/plans/x/jobs/y/oidctoken",
    "ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN": "job-token",
    "SYSTEM_TEAMPROJECT": "Infra Team",
    "BUILD_BUILDID": "42",
    "SYSTEM_COLLECTIONID": "01234567-89AB-cdef-0123-456789abcdef",
}


def read(**changes: str | None):  # type: ignore[no-untyped-def]
    env = dict(GOOD)
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return read_inputs(Agent(env, io.StringIO()))


def test_good_inputs() -> None:
    inputs = read()
    assert inputs.connection_id == "5a1b2c3d-0000-4000-8000-000000000001"
    assert inputs.account_id == "123456789012"
    assert inputs.session_name == "azp-Infra-Team-42"
    assert inputs.duration_seconds == 3600 and inputs.timeout_seconds == 180
    assert inputs.sts_endpoint is None
    assert inputs.collection_id == "01234567-89ab-cdef-0123-456789abcdef"
    assert "job-token" not in repr(inputs)


@pytest.mark.parametrize(("arn", "region"), [
    ("arn:aws-cn:iam::123456789012:role/deploy", "cn-north-1"),
    ("arn:aws-us-gov:iam::123456789012:role/deploy", "us-gov-west-1"),
    ("arn:aws:iam::123456789012:role/a/b/c/Deploy+=,.@-_", "ap-southeast-2"),
])
def test_partitions_and_paths(arn: str, region: str) -> None:
    assert read(INPUT_ROLEARN=arn, INPUT_REGION=region).region == region


def test_sts_endpoint_from_environment() -> None:
    assert read(AWS_ENDPOINT_URL_STS="https://vpce-1.sts.eu-west-1.vpce.amazonaws.com").sts_endpoint
    assert read(INPUT_STSENDPOINT="http://[::1]:4566").sts_endpoint == "http://[::1]:4566"
    with pytest.raises(UserError, match="AWS_ENDPOINT_URL_STS variable"):
        read(AWS_ENDPOINT_URL_STS="http://10.0.0.1")


def test_explicit_session_name_and_duration() -> None:
    inputs = read(INPUT_ROLESESSIONNAME="release@prod", INPUT_DURATIONSECONDS="43200")
    assert inputs.session_name == "release@prod" and inputs.duration_seconds == 43200


@pytest.mark.parametrize(("project", "run"), [
    ("Ünïcode Prøject", "123"), ("x" * 200, "20251125.7"), ("", ""), ("a/b", "99999999999"), ("--", "1"),
])
def test_default_session_name_is_always_valid(project: str, run: str) -> None:
    name = default_session_name(project, run)
    assert SESSION_NAME.match(name), name
    assert name.endswith(run.replace("/", "-")) or not run


def test_release_pipelines_use_the_release_id() -> None:
    assert read(BUILD_BUILDID=None, RELEASE_RELEASEID="7").session_name == "azp-Infra-Team-7"
