"""The files later steps read (aws_files.py), written for real in a temporary folder: what the config
file holds for profiles with their own region and for chained roles, and how the run folder refuses
what an earlier step prepared."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from awswif.aws_files import FileProfile, config_text, new_run_directory, write_run_files
from awswif.errors import UserError
from awswif.profile_record import ProfileRecord, read_record
from awswif.session_tags import ChainedIdentity

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
