"""The optional credentials file: an AWS shared-credentials file in the job's temporary folder, so
that later steps (Terraform, the AWS CLI, SDKs) find the credentials through the plain variable
AWS_SHARED_CREDENTIALS_FILE without mapping secrets into each step. Readable by this user only,
never written through a symbolic link, and deleted by the task's post-job step."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .aws_files import FOLDER, private_folder
from .errors import UserError

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def credentials_path(temp_directory: str, account_id: str, role_arn: str) -> Path:
    # One file per role: two steps for two accounts in one job keep their own files.
    role = _UNSAFE.sub("-", role_arn.rsplit("/", 1)[-1])
    return Path(temp_directory) / FOLDER / f"{account_id}-{role}.credentials"


def write_credentials_file(path: Path, access_key_id: str, secret_access_key: str, session_token: str) -> None:
    private_folder(path.parent, _refuse)
    if path.is_symlink():
        raise _refuse(path, "it is a symbolic link")
    if path.exists():
        if not path.is_file():
            raise _refuse(path, "something other than a file is there")
        path.unlink()  # an earlier step's file for the same role: replaced, never appended to
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags, 0o600)
    except OSError as exc:
        raise _refuse(path, exc.strerror or str(exc)) from None
    content = (
        "[default]\n"
        f"aws_access_key_id = {access_key_id}\n"
        f"aws_secret_access_key = {secret_access_key}\n"
        f"aws_session_token = {session_token}\n"
    )
    with os.fdopen(descriptor, "w", encoding="ascii", newline="\n") as handle:
        handle.write(content)


def _refuse(path: Path, why: str) -> UserError:
    return UserError(
        f"The credentials file cannot be written at {path}: {why}.",
        "Something else on this agent prepared that path; remove it (or turn off credentialsFile) and re-run.",
    )
