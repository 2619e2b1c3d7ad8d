"""The awswif command as the tests call it: in this process, with its output captured, and the flags
the trust-policy and setup tests share (moto_iam.py is the AWS side for `awswif setup` in one account)."""

from __future__ import annotations

import io
import sys

from awswif.cli import main

ORG = "01234567-89ab-cdef-0123-456789abcdef"
TENANT = "11111111-2222-3333-4444-555555555555"
ENTRA_SUBJECT = f"/eid1/c/pub/t/EREiIjMzREREVVVVVVVV/a/abc/sc/{ORG}/0d6a3f5e-1111-4222-8333-944445555666"
ADO_FLAGS = ["--organization-id", "VisualStudioOnline-0123456789ABCDEF0123456789ABCDEF", "--organization", "contoso",
             "--project", "infra", "--connection", "wifconnectionname", "--connection", "wif-prod"]
ENTRA_FLAGS = ["--tenant-id", TENANT, "--subject", ENTRA_SUBJECT]
POLICY_FLAGS = ["--role-name", "deploy", "--managed-policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess",
                "--max-session-duration", "7200"]


def awswif(*args: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    real_err = sys.stderr
    sys.stderr = err
    try:
        code = main(list(args), out=out, stdin=io.StringIO(stdin))
    finally:
        sys.stderr = real_err
    return code, out.getvalue(), err.getvalue()
