"""Every identifier rule in one place: what a GUID, an IAM role or policy ARN, an account id, a region,
a session name, a profile name, an external id, a source identity and a session tag look like. The
task, credential_process and the CLI all check against these, so a value one accepts the others do
too. Where each rule comes from is named beside it. (Where a URL may point is destinations.py's.)"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
GUID_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
# IAM identifiers reference: role names are 1-64 characters of [\w+=,.@-]; a path is "/" or
# "/" + printable ASCII + "/"; ARNs 20-2048 characters (STS API reference, RoleArn).
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)
_ROLE_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::(?P<account>\d{12}):role/"
    r"(?P<path>(?:[\x21-\x7e]+/)*)(?P<name>[\w+=,.@-]{1,64})$",
    re.ASCII,
)
ARN_MIN, ARN_MAX = 20, 2048
# IAM API reference: a policy ARN names an AWS managed policy (account "aws") or one of an account's own.
POLICY_ARN = re.compile(r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::(?P<account>\d{12}|aws):policy/"
                        r"(?P<path>(?:[\x21-\x7e]+/)*)(?P<name>[\w+=,.@-]{1,128})$", re.ASCII)
ACCOUNT_ID = re.compile(r"^\d{12}$", re.ASCII)
REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
_PARTITION_REGION_PREFIX = {"aws-cn": "cn-", "aws-us-gov": "us-gov-"}
# STS API reference, RoleSessionName: 2-64 characters of [\w+=,.@-].
SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
SESSION_UNSAFE = re.compile(r"[^\w+=,.@-]+", re.ASCII)
# Profile names as the AWS CLI, the SDKs and Terraform accept them in a config section header.
PROFILE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$", re.ASCII)
# STS API reference, AssumeRole: ExternalId "Length Constraints: Minimum length of 2. Maximum length
# of 1224. Pattern: [\w+=,.@:\/-]*".
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$", re.ASCII)
# STS API reference, AssumeRole: SourceIdentity "Minimum length of 2. Maximum length of 64.
# Pattern: [\w+=,.@-]*"; IAM user guide: it may not begin with "aws:".
SOURCE_IDENTITY = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
# STS API reference, Tag: Key 1-128 and Value 0-256 characters of "[\p{L}\p{Z}\p{N}_.:/=+\-@]+";
# AssumeRole: "You can pass up to 50 session tags"; IAM user guide (tags): "aws:" is reserved.
TAG_KEY_MAX, TAG_VALUE_MAX, SESSION_TAGS_MAX = 128, 256, 50


def tag_text_ok(text: str) -> bool:
    """Letters, separators (spaces), numbers of any script and _ . : / = + - @ (\\p{L}\\p{Z}\\p{N}; the
    re module has no \\p classes, so the categories are checked one character at a time)."""
    import unicodedata

    return all(c in "_.:/=+-@" or unicodedata.category(c)[0] in "LZN" for c in text)


@dataclass(frozen=True)
class RoleArn:
    """An IAM role ARN, taken apart once: which partition (so which STS), which account, which role."""

    text: str
    partition: str
    account: str
    path: str
    name: str

    @classmethod
    def parse(cls, value: str) -> Optional[RoleArn]:
        match = _ROLE_ARN.match(value)
        if not match or not ARN_MIN <= len(value) <= ARN_MAX:
            return None
        return cls(value, match["partition"], match["account"], match["path"], match["name"])

    def __str__(self) -> str:
        return self.text


def is_role_arn(value: str) -> bool:
    return RoleArn.parse(value) is not None


def parse_policy_arn(value: str) -> Optional[re.Match[str]]:
    """A policy ARN taken apart (partition, account, path, name), within the ARN length limits."""
    match = POLICY_ARN.match(value)
    return match if match and ARN_MIN <= len(value) <= ARN_MAX else None


def partition_of(arn: str) -> str:
    """The partition of any well-formed ARN (arn:PARTITION:...)."""
    return arn.split(":", 2)[1]


def region_in_partition(region: str, partition: str) -> bool:
    prefix = _PARTITION_REGION_PREFIX.get(partition)
    if prefix:
        return region.startswith(prefix)
    return not any(region.startswith(p) for p in _PARTITION_REGION_PREFIX.values())
