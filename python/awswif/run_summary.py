"""The run's summary on the pipeline run's page (the Extensions tab): which roles in which accounts,
until when, and how later steps use them. Markdown the agent uploads with `##vso[task.uploadsummary]`.

The agent reads the file later, not while the command is handled: its upload queue opens it about a
second after the step, at the latest when it drains at job end, and then cleans Agent.TempDirectory
(Agent.Worker TaskCommandExtension.cs TaskUploadSummaryCommand queues the path only;
JobServerQueue.cs uploads every 1000 ms; JobRunner.cs drains the queue before TempDirectoryManager
cleans the folder). So it lives in its own folder there, which the post-job step never deletes: it
holds no secret, and deleting it early would silently lose the upload."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .aws_files import FOLDER, private_folder
from .errors import UserError

if TYPE_CHECKING:
    from .inputs import TaskInputs
    from .sessions import Session

SUMMARY_PREFIX = "summary-"
# The attachment's name is the file's (TaskUploadSummaryCommand: Path.GetFileName), shown as its title.
FILE_NAME = "AWS credentials.md"


def markdown(inputs: TaskInputs, sessions: Sequence[Session], expiration_of: dict[str, str]) -> str:
    main = sessions[0]
    lines = [
        f"**AwsWifAssume** assumed {len(sessions)} role{'s' if len(sessions) > 1 else ''} "
        f"with session name `{_cell(inputs.session_name)}` through the {inputs.connection.display_name} "
        f"`{inputs.connection.id}`.",
        "",
        "| Profile | Account | Role | Region | Kind | Expires (UTC) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for session in sessions:
        profile = session.profile
        kind = "refreshing" if inputs.plan.refreshing else ("chained" if profile.kind == "chained" else "web identity")
        lines.append(f"| {_cell(profile.name)} | {profile.account_id} | `{_cell(profile.role_arn)}` | "
                     f"{profile.region or inputs.region} | {kind} | {expiration_of[profile.name]} |")
    identity = next((s.identity for s in sessions if s.identity), None)
    if identity and (identity.tags or identity.source_identity):
        lines += ["", "Chained sessions carry "
                  + ", ".join(f"`{_cell(k)}={_cell(v)}`" for k, v in identity.tags)
                  + (f" (transitive: {', '.join(identity.transitive_keys)})" if identity.transitive_keys else "")
                  + (f"; source identity `{_cell(identity.source_identity)}`" if identity.source_identity else "")
                  + "."]
    lines += ["", "**Later steps of this job**: " + _how_to_use(inputs, main.credentials.assumed_role_arn)]
    return "\n".join(lines) + "\n"


def _how_to_use(inputs: TaskInputs, assumed: str) -> str:
    if inputs.plan.refreshing:
        return ("`AWS_CONFIG_FILE` has a refreshing profile for each role (`default` is the main role): AWS SDKs, the "
                "AWS CLI and Terraform refresh them through `credential_process` however long a step runs. Map "
                "`SYSTEM_ACCESSTOKEN: $(System.AccessToken)` in the steps that use them.")
    if inputs.plan.profiles:
        return ("`AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE` hold a profile for each role: `aws --profile "
                "NAME`, Terraform `provider \"aws\" { profile = \"NAME\" }`; `default` is the main role.")
    toolkit = (" AWS Toolkit tasks without an AWS connection use them by themselves (`AWS.AccessKeyID` and friends)."
               if inputs.aws_toolkit_variables else "")
    if inputs.credentials_folder:
        return "`AWS_SHARED_CREDENTIALS_FILE` (profile `default`) needs no mapping." + toolkit
    return ("map `AWS_ACCESS_KEY_ID: $(AWS_ACCESS_KEY_ID)`, `AWS_SECRET_ACCESS_KEY: $(AWS_SECRET_ACCESS_KEY)` and "
            "`AWS_SESSION_TOKEN: $(AWS_SESSION_TOKEN)` in `env:`; `AWS_REGION` and `AWS_ACCOUNT_ID` are set."
            + toolkit)


def _cell(text: str) -> str:
    # A table cell ends at "|" and a code span at "`"; neither may come from a value.
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")


def write(temp_directory: str, text: str) -> Path:
    """`<Agent.TempDirectory>/aws-wif/summary-<16 hex>/AWS credentials.md`, new and never there before."""
    base = Path(temp_directory) / FOLDER
    private_folder(base, _refuse)
    folder = base / f"{SUMMARY_PREFIX}{secrets.token_hex(8)}"
    try:
        os.mkdir(folder, 0o700)
        path = folder / FILE_NAME
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        with os.fdopen(os.open(path, flags, 0o600), "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    except OSError as exc:
        raise _refuse(base, exc.strerror or str(exc)) from None
    return path


def _refuse(path: Path, why: str) -> UserError:
    return UserError(f"The run summary cannot be written in {path}: {why}.")
