"""Terraform's S3 backend as docs/many-accounts.md shows it (state through a profile), and moto's S3 server
behind the recording front (fakes.S3Front), one state bucket per account: for the tests that run OpenTofu
(opentofu.py) as a later step of the task's job."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_env import ACCOUNT, ROLE_ARN
from fakes import S3Front
from many_accounts import DIRECT_ACCOUNT, DIRECT_ARN, SPOKE_ACCOUNT, SPOKE_ARN
from opentofu import tofu_binary
from paths import ROOT

# The three accounts of docs/many-accounts.md: the main role, `shared` (a direct profile), `prod` (a chained one).
ROLES = {"default": (ACCOUNT, ROLE_ARN), "shared": (DIRECT_ACCOUNT, DIRECT_ARN), "prod": (SPOKE_ACCOUNT, SPOKE_ARN)}

# The page that shows the S3 backend block (many accounts: state through a profile).
PAGE = ROOT / "docs" / "many-accounts.md"


def readme_backend(bucket: str, profile: str, s3: str, sts: str) -> str:
    """The S3 backend block of docs/many-accounts.md (state through a profile), pointed at this bucket and
    profile and at the stand-ins' endpoints (moto serves buckets by path), plus one resource whose state
    it stores."""
    blocks = re.findall(r"```hcl\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
    block = next(b for b in blocks if 'backend "s3"' in b)
    block = re.sub(r'bucket\s*=\s*"[^"]*"', f'bucket = "{bucket}"', block)
    block = re.sub(r'profile\s*=\s*"[^"]*"', f'profile = "{profile}"', block)
    block = re.sub(r'(\n\s*region\s*=\s*"[^"]*")',
                   rf'\1\n    use_path_style = true\n    endpoints = {{\n      s3  = "{s3}"\n      sts = "{sts}"\n    }}',
                   block, count=1)
    return block + RESOURCE.format(profile=profile)


RESOURCE = """
resource "terraform_data" "deployed" {{
  input = "{profile}"
}}

output "deployed" {{
  value = terraform_data.deployed.output
}}
"""


@pytest.fixture(scope="module")
def tofu() -> Path:
    return tofu_binary()


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Front]:
    """moto's S3 server, one state bucket per account, behind the recording front."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto keeps its state in the process: start from none (its documented reset endpoint).
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()
    client = boto3.client("s3", endpoint_url=url, region_name="eu-west-1", aws_access_key_id="admin",
                          aws_secret_access_key="admin")
    for account, _ in ROLES.values():
        client.create_bucket(Bucket=f"tfstate-{account}",
                             CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    front = S3Front(url)
    front.admin = client  # type: ignore[attr-defined]
    yield front
    front.close()
    server.stop()
