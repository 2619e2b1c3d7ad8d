"""The identifier rules (identifiers.py), at their edges: each is the one the task, credential_process
and the CLI share, so an edge wrong here is wrong everywhere."""

from __future__ import annotations

import pytest

from awswif.identifiers import (
    EXTERNAL_ID,
    SOURCE_IDENTITY,
    RoleArn,
    partition_of,
    region_in_partition,
    tag_text_ok,
)


def test_a_role_arn_is_taken_apart_once() -> None:
    role = RoleArn.parse("arn:aws-us-gov:iam::123456789012:role/team/a/deploy")
    assert role is not None
    assert (role.partition, role.account, role.path, role.name) == ("aws-us-gov", "123456789012", "team/a/", "deploy")
    assert str(role) == "arn:aws-us-gov:iam::123456789012:role/team/a/deploy"


@pytest.mark.parametrize("value", [
    "arn:aws:iam::12345678901:role/x",  # 11 digits
    "arn:aws:sts::123456789012:assumed-role/x/s",
    "arn:aws:iam::123456789012:user/x",
    "arn:aws-xx:iam::123456789012:role/x",
    "arn:aws:iam::123456789012:role/" + "x" * 65,
    "arn:aws:iam::123456789012:role/p/" + "a/" * 1100 + "x",  # beyond 2048 characters
])
def test_what_is_not_a_role_arn(value: str) -> None:
    assert RoleArn.parse(value) is None


def test_partitions_and_their_regions() -> None:
    assert partition_of("arn:aws-cn:sts::123456789012:assumed-role/r/s") == "aws-cn"
    assert region_in_partition("cn-north-1", "aws-cn") and not region_in_partition("eu-west-1", "aws-cn")
    assert region_in_partition("us-gov-west-1", "aws-us-gov") and not region_in_partition("us-east-1", "aws-us-gov")
    assert region_in_partition("eu-west-1", "aws") and not region_in_partition("cn-north-1", "aws")


def test_external_id_and_source_identity_lengths_and_characters() -> None:
    assert EXTERNAL_ID.match("ab") and EXTERNAL_ID.match("a:b/c=d@e") and EXTERNAL_ID.match("x" * 1224)
    assert not EXTERNAL_ID.match("a") and not EXTERNAL_ID.match("x" * 1225) and not EXTERNAL_ID.match("a b")
    assert SOURCE_IDENTITY.match("azp-proj-42") and not SOURCE_IDENTITY.match("a:b") and not SOURCE_IDENTITY.match("x" * 65)


def test_tag_text_admits_letters_of_any_script_and_nothing_else_outside_the_list() -> None:
    assert tag_text_ok("refs/heads/main") and tag_text_ok("Zoë Ñandú 42 _.:/=+-@") and tag_text_ok("")
    for bad in ("a*b", "a#b", "a\tb", "a\nb", "a\"b", "a,b"):
        assert not tag_text_ok(bad), bad
