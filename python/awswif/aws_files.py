"""The AWS shared credentials and config files a run writes for later steps, as the AWS CLI, the SDKs
and Terraform read them (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE): with profiles both, with
credentialsFile alone only the credentials file. They live in a fresh directory
under the job's temporary folder: the directory 0700, the files 0600, nothing written through a
symbolic link, nothing left behind when writing fails. The post-job step (task/post.js) deletes
the directory.

config holds `[default]` and `[profile NAME]` with the region, and a non-secret `[awswif NAME]`
record of how each session was made (harmless to SDKs: botocore files unknown sections away, the
Go SDK skips sections without the `profile ` prefix), which `awswif credential-process` reads."""

from __future__ import annotations

import configparser
import io
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .errors import UserError
from .profiles import CHAINED
from .session_tags import ChainedIdentity
from .sts import AwsCredentials

if TYPE_CHECKING:
    from .inputs import TaskInputs
    from .sessions import Session

FOLDER = "aws-wif"
RUN_PREFIX = "run-"
MAIN_PROFILE = "default"


@dataclass(frozen=True)
class FileProfile:
    name: str  # "default" for the main role
    region: str
    # None when the profile gets its credentials some other way (credential_process, #11).
    credentials: Optional[AwsCredentials]
    record: Mapping[str, str] = field(default_factory=dict)
    # More keys for the profile's own config section (e.g. credential_process).
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunFiles:
    directory: Path
    credentials: Path
    config: Path


def file_profiles(inputs: TaskInputs, sessions: Sequence[Session]) -> list[FileProfile]:
    """One profile per session, each with the record of how it was made (no secret in it)."""
    from .profile_record import ProfileRecord

    result = []
    for session in sessions:
        profile = session.profile
        main = profile.name == MAIN_PROFILE
        record = ProfileRecord(
            name=profile.name,
            role_arn=profile.role_arn,
            session_name=inputs.session_name,
            duration_seconds=profile.duration_seconds,
            region=profile.region or inputs.region,
            connection_id=inputs.connection_id,
            oidc_request_uri=inputs.oidc_request_uri,
            collection_id=inputs.collection_id,
            sts_endpoint=inputs.sts_endpoint,
            kind=profile.kind,
            token_endpoint_hosts=inputs.token_endpoint_hosts,
            retry_max_attempts=inputs.retry_max_attempts,
            source_profile=MAIN_PROFILE if profile.kind == CHAINED else None,
            session_policy=inputs.plan.policies.inline if main else None,
            policy_arns=inputs.plan.policies.arns if main else (),
            external_id=profile.external_id,
            identity=session.identity or ChainedIdentity(),
        )
        result.append(FileProfile(profile.name, record.region, session.credentials, record.fields()))
    return result


def write_run_files(temp_directory: str, profiles: Sequence[FileProfile],
                    process_line: Optional[Callable[[str, Path], str]] = None) -> RunFiles:
    """`process_line(profile name, config path)`: with refreshingProfiles, every profile gets that
    credential_process line and no keys in the credentials file (keys there would win over it)."""
    directory = new_run_directory(temp_directory)
    files = RunFiles(directory, directory / "credentials", directory / "config")
    if process_line is not None:
        profiles = [replace(p, credentials=None,
                            config={**p.config, "credential_process": process_line(p.name, files.config)})
                    for p in profiles]
    try:
        write_private_file(files.credentials, credentials_text(profiles))
        write_private_file(files.config, config_text(profiles))
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return files


def write_credentials_file(temp_directory: str, credentials: AwsCredentials) -> Path:
    """credentialsFile: true without profiles: the shared-credentials file alone (profile default), in a
    run directory of its own, so two steps (two accounts) in one job keep their own files."""
    directory = new_run_directory(temp_directory, _refuse_credentials_file)
    path = directory / "credentials"
    try:
        write_private_file(path, credentials_text([FileProfile(MAIN_PROFILE, "", credentials)]),
                           _refuse_credentials_file)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return path


def new_run_directory(temp_directory: str, refuse: Optional[Callable[[Path, str], UserError]] = None) -> Path:
    """A directory of this run's own, `<Agent.TempDirectory>/aws-wif/run-<16 hex digits>`, created 0700
    and never there before. The post-job step deletes only a directory of exactly this shape
    (task/post.js), whatever a variable names."""
    refuse = refuse or _refuse
    base = Path(temp_directory) / FOLDER
    private_folder(base, refuse)
    directory = base / f"{RUN_PREFIX}{secrets.token_hex(8)}"
    try:
        os.mkdir(directory, 0o700)
    except OSError as exc:
        raise refuse(base, exc.strerror or str(exc)) from None
    return directory


def credentials_text(profiles: Sequence[FileProfile]) -> str:
    ini = _parser()
    for profile in profiles:
        if profile.credentials is None:
            continue
        ini[profile.name] = {
            "aws_access_key_id": profile.credentials.access_key_id,
            "aws_secret_access_key": profile.credentials.secret_access_key,
            "aws_session_token": profile.credentials.session_token,
        }
    return _text(ini)


def config_text(profiles: Sequence[FileProfile]) -> str:
    ini = _parser()
    for profile in profiles:
        section = MAIN_PROFILE if profile.name == MAIN_PROFILE else f"profile {profile.name}"
        ini[section] = {"region": profile.region, **profile.config}
    for profile in profiles:
        ini[f"awswif {profile.name}"] = dict(profile.record)
    return _text(ini)


def read_records(config_file: Path) -> dict[str, dict[str, str]]:
    """The `[awswif NAME]` records of a config file this module wrote, by profile name."""
    ini = _parser()
    ini.read(config_file, encoding="utf-8")
    prefix = "awswif "
    return {s[len(prefix):]: dict(ini[s]) for s in ini.sections() if s.startswith(prefix)}


def _parser() -> configparser.RawConfigParser:
    # No interpolation: values (a session policy) may hold '%'.
    return configparser.RawConfigParser(interpolation=None, delimiters=("=",))


def _text(ini: configparser.RawConfigParser) -> str:
    for section in ini.sections():
        for key, value in ini.items(section):
            if "\n" in value or "\r" in value or not value.isascii():
                raise UserError(f"The value of {key} in [{section}] has a line break or a non-ASCII character and "
                                "cannot go into an AWS file.", "Re-run the job; if it persists, report it.")
    out = io.StringIO()
    ini.write(out)
    return out.getvalue()


def write_private_file(path: Path, content: str, refuse: Optional[Callable[[Path, str], UserError]] = None) -> None:
    """Create the file readable by this user only; refuse anything already there, including a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags, 0o600)
    except OSError as exc:
        raise (refuse or _refuse)(path, exc.strerror or str(exc)) from None
    # ASCII: every SDK reads it, whatever the locale (values are checked or escaped to ASCII before).
    with os.fdopen(descriptor, "w", encoding="ascii", newline="\n") as handle:
        handle.write(content)


def private_folder(folder: Path, refuse: Optional[Callable[[Path, str], UserError]] = None) -> None:
    """The agent's temporary folder's aws-wif folder: ours, a real folder, closed to others."""
    refuse = refuse or _refuse
    if _is_link(folder):
        raise refuse(folder, "it is a symbolic link or junction")
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise refuse(folder, exc.strerror or str(exc)) from None
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise refuse(folder, "it is not a folder")
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o077):
        raise refuse(folder, "another user owns it or can read it")


def _is_link(path: Path) -> bool:
    """A symbolic link, or on Windows any reparse point: a junction is one, and is_symlink misses it."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    return stat.S_ISLNK(info.st_mode) or bool(getattr(info, "st_file_attributes", 0) & _REPARSE_POINT)


_REPARSE_POINT = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT (stat.FILE_ATTRIBUTE_REPARSE_POINT exists on Windows only)


def _refuse_credentials_file(path: Path, why: str) -> UserError:
    return UserError(
        f"The credentials file cannot be written at {path}: {why}.",
        "Something else on this agent prepared that path; remove it (or turn off credentialsFile) and re-run.",
    )


def _refuse(path: Path, why: str) -> UserError:
    return UserError(
        f"The AWS credentials and config files cannot be written at {path}: {why}.",
        "Something else on this agent prepared that path; remove it and re-run.",
    )
