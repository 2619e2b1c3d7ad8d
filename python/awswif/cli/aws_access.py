"""botocore clients for `awswif setup`: the caller's own (the normal credential chain: AWS_PROFILE,
SSO, the environment), and in each account of a many-accounts setup those of a role assumed there
(OrganizationAccountAccessRole by default: AWS Organizations creates it in the accounts it creates)."""

from __future__ import annotations

import threading
from typing import Any, Optional

from ..errors import UserError
from ..identifiers import partition_of

SESSION_NAME = "awswif-setup"


class Caller:
    """Who runs setup, and the clients made from their credentials."""

    def __init__(self, session: Any, region: str, identity: dict[str, str]) -> None:
        self._session = session
        self.region = region
        self.account_id = identity["Account"]
        self.arn = identity["Arn"]
        self.partition = partition_of(identity["Arn"])
        # botocore clients may be shared by threads, but creating them from one session may not.
        self._lock = threading.Lock()
        self._iam: Any = None

    @classmethod
    def sign_in(cls, region: Optional[str]) -> Caller:
        import botocore.session
        from botocore.exceptions import BotoCoreError, ClientError

        session = botocore.session.Session()
        region = region or session.get_config_variable("region") or "us-east-1"
        try:
            sts: Any = session.create_client("sts", region_name=region)
            identity = sts.get_caller_identity()
        except (BotoCoreError, ClientError) as exc:
            raise UserError(
                f"Could not use your AWS credentials ({exc}).",
                "Sign in first (aws sso login, AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) with "
                "permission to manage IAM OIDC providers and roles.",
            ) from None
        return cls(session, region, identity)

    def client(self, service: str, **credentials: str) -> Any:
        with self._lock:
            return self._session.create_client(service, region_name=self.region, **credentials)

    def iam(self) -> Any:
        if self._iam is None:
            self._iam = self.client("iam")
        return self._iam

    def organizations(self) -> Any:
        return self.client("organizations")

    def iam_in(self, account_id: str, role_name: str) -> Any:
        """An IAM client acting in account_id: the caller's own there, else the assumed role's."""
        if account_id == self.account_id:
            return self.iam()
        from botocore.exceptions import BotoCoreError, ClientError

        arn = f"arn:{self.partition}:iam::{account_id}:role/{role_name}"
        try:
            credentials = self.client("sts").assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME)["Credentials"]
        except (BotoCoreError, ClientError) as exc:
            raise UserError(
                f"Could not assume {arn} ({exc}).",
                f"Check that the role exists there and trusts account {self.account_id}, or name another with "
                "--assume-role-name (AWSControlTowerExecution in AWS Control Tower accounts).",
            ) from None
        return self.client("iam", aws_access_key_id=credentials["AccessKeyId"],
                           aws_secret_access_key=credentials["SecretAccessKey"],
                           aws_session_token=credentials["SessionToken"])
