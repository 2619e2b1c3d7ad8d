"""The `[awswif NAME]` record round-trips: what the task writes (profile_record.ProfileRecord.fields, through
aws_files.config_text into the config file) is exactly what credential_process reads back (read_record)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from awswif.aws_files import FileProfile, config_text
from awswif.errors import UserError
from awswif.profile_record import ProfileRecord, read_record
from awswif.session_tags import ChainedIdentity

FULL = ProfileRecord(
    name="prod", role_arn="arn:aws:iam::210987654321:role/path/deploy", session_name="azp-infra-4711",
    duration_seconds=7200, region="eu-west-1", connection_id="1f394f62-42ca-491a-9de7-6f84ccd4a97e",
    oidc_request_uri="https://dev.azure.com/contoso/x/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken",
    collection_id="0210151a-1448-4813-b66b-806dcf426397", sts_endpoint="https://sts.eu-west-1.amazonaws.com",
    token_endpoint_hosts=("tfs.contoso.com", "127.0.0.1"), retry_max_attempts=5,
    session_policy='{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":'
                   '{"StringEquals":{"aws:PrincipalTag/team":"Müller %s"}}}]}',
    policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::210987654321:policy/deploy"),
)
MINIMAL = ProfileRecord(name="default", role_arn="arn:aws:iam::123456789012:role/deploy", session_name="s1",
                        duration_seconds=3600, region="us-east-1", connection_id="c", oidc_request_uri="",
                        collection_id=None, sts_endpoint=None)
CHAINED = dataclasses.replace(MINIMAL, name="spoke", kind="chained", source_profile="default", connection_id="c")
# A vendor's role: its external id, and the tags (one with a letter beyond ASCII) and source identity sent.
VENDOR = dataclasses.replace(CHAINED, name="vendor", external_id="contoso-7f3a:prod/1", identity=ChainedIdentity(
    tags=(("AzureDevOps", "Pipelines"), ("RequestedFor", "Zoë O_Brien"), ("Team", "a=b")),
    transitive_keys=("Team",), source_identity="zoe@contoso.com"))


def write(tmp_path: Path, *records: ProfileRecord) -> Path:
    config = tmp_path / "config"
    config.write_text(config_text([FileProfile(r.name, r.region, None, r.fields()) for r in records]),
                      encoding="ascii")
    return config


@pytest.mark.parametrize("record", [FULL, MINIMAL, CHAINED, VENDOR], ids=["full", "minimal", "chained", "vendor"])
def test_what_is_written_is_what_is_read(record: ProfileRecord, tmp_path: Path) -> None:
    config = write(tmp_path, record, FULL if record is not FULL else MINIMAL)
    assert read_record(str(config), record.name) == record


def test_the_file_is_ascii_and_the_policy_comes_back_as_sent(tmp_path: Path) -> None:
    config = write(tmp_path, FULL)
    config.read_bytes().decode("ascii")
    assert read_record(str(config), "prod").session_policy == FULL.session_policy


def test_a_record_with_a_key_taken_out_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path, FULL)
    config.write_text("\n".join(x for x in config.read_text().splitlines() if not x.startswith("session_name")))
    with pytest.raises(UserError, match="has no session_name"):
        read_record(str(config), "prod")
