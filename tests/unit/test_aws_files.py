"""The files later steps read (aws_files.py), written for real in a temporary folder and read back by
botocore: both files' texts, privacy and freshness per run, a profile with its own region and a chained
role's record, and how the run folder refuses what an earlier step prepared."""

from __future__ import annotations

import configparser
import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest

from awswif.aws_files import (
    FileProfile,
    config_text,
    credentials_text,
    new_run_directory,
    read_records,
    write_run_files,
)
from awswif.errors import UserError
from awswif.profile_record import ProfileRecord, read_record
from awswif.session_tags import ChainedIdentity
from awswif.sts import AwsCredentials

MAIN = "arn:aws:iam::123456789012:role/deploy"

RECORD = ProfileRecord(name="vendor", role_arn="arn:aws:iam::444444444444:role/vendor", session_name="s1",
                       duration_seconds=900, region="us-west-2", connection_id="c", oidc_request_uri="",
                       collection_id=None, sts_endpoint=None, kind="chained", source_profile="default",
                       external_id="vendor-id-1",
                       identity=ChainedIdentity(tags=(("RequestedFor", "Zoë"),), source_identity="zoe"))


def test_a_profile_section_has_its_own_region_and_the_record_reads_back(tmp_path: Path) -> None:
    files = write_run_files(str(tmp_path), [FileProfile("vendor", RECORD.region, None, RECORD.fields())])
    ini = configparser.RawConfigParser()
    ini.read(files.config, encoding="ascii")  # ASCII: the tag's ë is JSON-escaped in the record
    assert ini["profile vendor"]["region"] == "us-west-2"
    assert '"Zo\\u00eb"' in ini["awswif vendor"]["session_tags"]
    assert read_record(str(files.config), "vendor") == RECORD


def test_the_config_text_refuses_a_line_break() -> None:
    with pytest.raises(UserError, match="line break"):
        config_text([FileProfile("p", "eu-west-1", None, {"kind": "web-identity\nregion = evil"})])


def test_a_planted_link_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "temp").mkdir()
    (tmp_path / "temp" / "aws-wif").symlink_to(elsewhere)
    with pytest.raises(UserError, match="symbolic link"):
        new_run_directory(str(tmp_path / "temp"))
    assert list(elsewhere.iterdir()) == []


def creds(n: int) -> AwsCredentials:
    return AwsCredentials(f"ASIA{n:016d}", f"secret%{n}", f"token{n}", datetime(2030, 1, 1, tzinfo=timezone.utc),
                          f"arn:aws:sts::123456789012:assumed-role/r{n}/s")


PROFILES = [
    FileProfile("default", "eu-west-1", creds(0), {"role_arn": MAIN, "kind": "web-identity",
                                                   "session_policy": '{"Statement":[{"Resource":"%s"}]}'}),
    FileProfile("prod", "eu-west-1", creds(1), {"role_arn": "arn:aws:iam::111111111111:role/x", "kind": "web-identity"}),
    FileProfile("spoke", "eu-west-1", None, {"kind": "chained", "source_profile": "default"},
                {"credential_process": "python3 -m awswif credential-process --profile spoke"}),
]


def test_file_texts_as_the_sdks_read_them() -> None:
    credentials = configparser.RawConfigParser(interpolation=None)
    credentials.read_string(credentials_text(PROFILES))
    assert credentials.sections() == ["default", "prod"], "a profile without static keys has no section"
    assert credentials["default"]["aws_secret_access_key"] == "secret%0"
    config = configparser.RawConfigParser(interpolation=None)
    config.read_string(config_text(PROFILES))
    assert config.sections() == ["default", "profile prod", "profile spoke", "awswif default", "awswif prod",
                                 "awswif spoke"]
    assert config["profile spoke"]["credential_process"].endswith("--profile spoke")
    assert "secret" not in config_text(PROFILES) and "token" not in config_text(PROFILES)


def test_files_are_private_and_fresh_per_run(tmp_path: Path) -> None:
    first = write_run_files(str(tmp_path), PROFILES)
    second = write_run_files(str(tmp_path), PROFILES)
    assert first.directory != second.directory and first.directory.parent == tmp_path / "aws-wif"
    assert stat.S_IMODE((tmp_path / "aws-wif").stat().st_mode) == 0o700
    assert stat.S_IMODE(first.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(first.credentials.stat().st_mode) == stat.S_IMODE(first.config.stat().st_mode) == 0o600
    assert read_records(first.config)["default"]["session_policy"] == '{"Statement":[{"Resource":"%s"}]}'

    # botocore itself reads them as the later steps' SDKs do.
    import botocore.session

    session = botocore.session.Session(profile="prod")
    session.set_config_variable("config_file", str(first.config))
    session.set_config_variable("credentials_file", str(first.credentials))
    assert session.get_credentials().secret_key == "secret%1"
    assert session.get_config_variable("region") == "eu-west-1"


@pytest.mark.parametrize("trap", ["symlink", "open", "file"])
def test_a_prepared_folder_is_refused(tmp_path: Path, trap: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder = tmp_path / "aws-wif"
    if trap == "symlink":
        folder.symlink_to(elsewhere)
    elif trap == "open":
        folder.mkdir()
        folder.chmod(0o755)
    else:
        folder.write_text("")
    with pytest.raises(UserError, match="cannot be written"):
        write_run_files(str(tmp_path), PROFILES)
    assert list(elsewhere.iterdir()) == []


def test_nothing_is_left_when_a_file_cannot_be_written(tmp_path: Path) -> None:
    broken = [FileProfile("default", "eu-west-1", creds(0), {"kind": "line\nbreak"})]
    with pytest.raises(UserError, match="line break"):
        write_run_files(str(tmp_path), broken)
    assert list((tmp_path / "aws-wif").iterdir()) == []
