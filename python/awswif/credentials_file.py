"""The optional credentials file: an AWS shared-credentials file in a directory of this run's own under
the job's temporary folder, so that later steps (Terraform, the AWS CLI, SDKs) find the credentials
through the plain variable AWS_SHARED_CREDENTIALS_FILE without mapping secrets into each step.
Readable by this user only, never written through a symbolic link, and deleted (with its directory)
by the task's post-job step."""

from __future__ import annotations

from pathlib import Path

from .aws_files import new_run_directory, write_private_file
from .errors import UserError

FILE_NAME = "credentials"


def write_credentials_file(temp_directory: str, access_key_id: str, secret_access_key: str,
                           session_token: str) -> Path:
    """The file's path; its directory is new, so two steps (two accounts) in one job keep their own."""
    path = new_run_directory(temp_directory, _refuse) / FILE_NAME
    content = (
        "[default]\n"
        f"aws_access_key_id = {access_key_id}\n"
        f"aws_secret_access_key = {secret_access_key}\n"
        f"aws_session_token = {session_token}\n"
    )
    try:
        write_private_file(path, content)
    except UserError:
        path.parent.rmdir()
        raise
    return path


def _refuse(path: Path, why: str) -> UserError:
    return UserError(
        f"The credentials file cannot be written at {path}: {why}.",
        "Something else on this agent prepared that path; remove it (or turn off credentialsFile) and re-run.",
    )
