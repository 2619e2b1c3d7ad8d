"""The `credential_process` line the task writes into each refreshing profile: this interpreter and the
entry script by absolute path, quoted so that every AWS SDK reads it alike (or refused, before any
network call, where no line can be). Kept apart from credential_process.py, which serves the line, so
that the task can check its line without loading what a refresh needs."""

from __future__ import annotations

import ntpath
import posixpath
import shlex
import sys
from pathlib import Path
from typing import Optional

from .errors import UserError

# The file a credential_process line runs: beside the awswif package, so that Python puts the code
# (and, in the .vsix, its vendored dependencies) first on sys.path. build.py ships it in lib/.
ENTRY_SCRIPT = "awswif_credential_process.py"


def code_dir() -> str:
    """The folder holding the awswif package (and, in the .vsix, its vendored dependencies)."""
    return str(Path(__file__).resolve().parent.parent)


def command_line(python: str, code_dir: str, profile: str, config_file: str, *,
                 isolated: Optional[bool] = None, platform: Optional[str] = None) -> str:
    """The `credential_process` value: this interpreter and the entry script by absolute path.

    The value is read in several ways, and must mean the same to all (README, "Long-running jobs";
    tests/e2e/test_credential_process_line.py holds each rule with its source): botocore (boto3, AWS CLI v1
    and v2) splits it itself, with POSIX shlex rules, or on Windows with the C runtime's rules (double
    quotes only, backslashes literal); the Go SDK (Terraform) hands it to `sh -c`, or on Windows to
    `cmd.exe /C`, the JavaScript SDK v3 to `cmd.exe /d /s /c "..."` and the .NET SDK (AWS Tools for
    PowerShell) to `cmd.exe /c`. Single-quoting (shlex.quote) is read alike by shlex and sh. On Windows,
    cmd.exe strips the first and last quote of a line that starts with one, and Go escapes inner quotes
    as \\" which cmd.exe passes on and the C runtime reads as a literal quote: only a line without any
    quote works everywhere. So a path cmd.exe or botocore would act on (a space, `&`, `^`, ...) is given
    by its 8.3 short name, and one that has none without such a character is refused (UserError), as is
    a non-ASCII path (the config file is ASCII) and a line with two `%` (cmd.exe expands %NAME%).

    `isolated`: run with -S (no site-packages), as the launcher runs the .vsix's code; by default,
    whatever this process was started with."""
    platform = platform or sys.platform
    no_site = bool(sys.flags.no_site) if isolated is None else isolated
    flags = ["-E", "-s", "-S"] if no_site else ["-E", "-s"]
    script = (ntpath if platform == "win32" else posixpath).join(code_dir, ENTRY_SCRIPT)
    # The profile's name last: it never needs a quote, so the value never starts and ends with one. The
    # Go SDK's config reader (Terraform) strips a quote pair wrapping a whole value
    # (aws-sdk-go-v2 config/internal/ini/strings.go, unquote), which broke a line whose paths were quoted.
    arguments = [python, *flags, script, "--config", config_file, "--profile", profile]
    if platform == "win32":
        written = [_windows_argument(a) for a in arguments]
        _check_percents(written)
        return " ".join(written)
    _check_go_comments(arguments)
    return " ".join(shlex.quote(a) for a in arguments)


def _check_go_comments(arguments: list[str]) -> None:
    """The Go SDK's config reader also cuts a value at a blank followed by `#` or `;`, quotes or not
    (aws-sdk-go-v2 config/internal/ini/strings.go, trimPropertyComment): Terraform would run a cut line."""
    for value in arguments:
        if any(blank + mark in value for blank in " \t" for mark in "#;"):
            raise UserError(
                f"refreshingProfiles cannot write a credential_process line for {value}: the Go SDK (Terraform) "
                "reads ' #' and ' ;' in an AWS config file as the start of a comment.",
                "Keep the agent's work folder and Python under paths without ' #' or ' ;'.")


def check_command_line(files_folder: str, *, python: Optional[str] = None, code_folder: Optional[str] = None,
                       platform: Optional[str] = None) -> None:
    """Before any network call: the UserError that command_line will raise for this agent's paths (this
    Python, this code, a config file in a run folder under `files_folder`, Agent.TempDirectory), if any.
    The run folder's own name (aws_files: aws-wif/run-<16 hex digits>) never needs quoting."""
    from .aws_files import FOLDER, RUN_PREFIX

    platform = platform or sys.platform
    config = (ntpath if platform == "win32" else posixpath).join(files_folder, FOLDER, RUN_PREFIX + "0" * 16,
                                                                     "config")
    command_line(python or sys.executable, code_folder or code_dir(), "default", config, platform=platform)


# What cmd.exe acts on even in the middle of a word (`cmd /?`: the special characters & < > ( ) @ ^ |;
# `!` where a registry setting turns on delayed expansion; , ; = end its command name), what botocore's
# splitter acts on (space, tab, quote), and anything beyond printable ASCII (the config file is ASCII:
# botocore reads it in the locale's code page). `%` is allowed: see _check_percents.
_WINDOWS_SPECIAL = frozenset('"&<>()@^|!,;=')


def _windows_plain(value: str) -> bool:
    return bool(value) and all("!" <= c <= "~" and c not in _WINDOWS_SPECIAL for c in value)


def _windows_argument(value: str) -> str:
    if _windows_plain(value):
        return value
    short = _short_path(value)
    if _windows_plain(short):
        return short
    raise UserError(
        "refreshingProfiles cannot write a credential_process line that every AWS SDK runs alike on Windows for "
        f"'{value}': {_trouble(short)}",
        _WINDOWS_FIX)


_WINDOWS_FIX = ("Keep the agent's work folder and Python under paths of ASCII letters, digits and - _ . ~ $ # only "
                "(or with spaces on a volume that keeps 8.3 short names), or leave refreshingProfiles off (later steps "
                "then get sessions of durationSeconds).")


def _trouble(value: str) -> str:
    """Why a path (as short as it gets) cannot go into the line, from its first such character."""
    for c in value:
        if c in " \t":
            return ("the path has a space, and no 8.3 short name without one. Terraform and the Go SDK run the line "
                    "with cmd.exe /C, which takes no quoted path, and botocore splits an unquoted one at the space.")
        if not " " <= c <= "~":
            return (f"the path has the non-ASCII character '{c}', and no 8.3 short name without it. The AWS config "
                    "file holds ASCII only: botocore reads it in the locale's code page.")
        if c in _WINDOWS_SPECIAL:
            return (f"the path has the character '{c}', and no 8.3 short name without it. Terraform and the Go, "
                    "JavaScript and .NET SDKs run the line with cmd.exe, which acts on it, and a quoted path does "
                    "not survive Go's cmd.exe /C.")
    return "the path is empty."


def _check_percents(written: list[str]) -> None:
    """cmd.exe expands %NAME% on a command line when NAME is a variable of the step's environment, and
    leaves a lone % as it is: one % in the whole line is read alike by cmd.exe and botocore, two may not
    be (which depends on the step's variables), so such a line is refused."""
    paths = [w for w in written if "%" in w]
    if sum(p.count("%") for p in paths) > 1:
        named = ", ".join(f"'{p}'" for p in paths)
        raise UserError(
            "refreshingProfiles cannot write a credential_process line that every AWS SDK runs alike on Windows for "
            f"{named}: with two '%' in the line, cmd.exe (which Terraform and the Go, "
            "JavaScript and .NET SDKs run it with) expands the text between them when a variable has that name.",
            _WINDOWS_FIX)


def _short_path(path: str) -> str:
    """The 8.3 name of a path on Windows: of its deepest folder that exists (the config file is named
    before it is written), with the rest as given. The path itself where no part has a short name (off
    Windows, or on a volume that keeps none)."""
    head, tail = path, ""
    while True:
        short = _short_name(head)
        if short is not None:
            return ntpath.join(short, tail) if tail else short
        parent, name = ntpath.split(head)
        if not name or parent == head:
            return path
        head, tail = parent, ntpath.join(name, tail) if tail else name


def _short_name(path: str) -> Optional[str]:
    """kernel32 GetShortPathNameW: None where the path does not exist (or off Windows)."""
    if sys.platform != "win32":
        return None
    import ctypes

    buffer = ctypes.create_unicode_buffer(32768)
    length = ctypes.windll.kernel32.GetShortPathNameW(path, buffer, len(buffer))
    return buffer.value if 0 < length < len(buffer) else None
