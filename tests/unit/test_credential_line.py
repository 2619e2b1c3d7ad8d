"""credential_line.command_line: the `credential_process` line quoted for every reader. On POSIX it splits
back into the same arguments for shlex, botocore and `sh -c` (the Go SDK, so Terraform); on Windows it
carries no quote, or is refused where no line would run alike for every SDK family
(tests/e2e/test_credential_process_line.py has each family's rule, run with its own code)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.compat import compat_shell_split

from awswif.credential_process import ENTRY_SCRIPT, command_line
from awswif.errors import UserError

AWKWARD = "/tmp/agent work/it's a $HOME \"folder\" & more"


def test_posix_lines_split_back_into_the_same_arguments(tmp_path: Path) -> None:
    # An "interpreter" in a folder with a space that prints the arguments it was given.
    python = tmp_path / "py thon" / "python3"
    python.parent.mkdir()
    python.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    python.chmod(0o755)
    line = command_line(str(python), AWKWARD, "default", f"{AWKWARD}/config", platform="linux", isolated=True)
    expected = [str(python), "-E", "-s", "-S", f"{AWKWARD}/{ENTRY_SCRIPT}", "--config", f"{AWKWARD}/config",
                "--profile", "default"]
    assert shlex.split(line) == expected
    assert compat_shell_split(line, "linux") == expected  # botocore on Linux and macOS
    # The Go SDK (and so Terraform) runs the value through sh -c.
    through_sh = subprocess.run(["sh", "-c", line], capture_output=True, text=True, env={"HOME": "/nowhere"})
    assert json.loads(through_sh.stdout) == expected[1:], through_sh.stderr


def test_plain_posix_paths_stay_unquoted() -> None:
    line = command_line("/usr/bin/python3", "/agent/_work/_tasks/AwsWifAssume_1/1.0.0/lib", "ci", "/tmp/aws-wif/c",
                        platform="darwin", isolated=False)
    assert line == (f"/usr/bin/python3 -E -s /agent/_work/_tasks/AwsWifAssume_1/1.0.0/lib/{ENTRY_SCRIPT} "
                    "--config /tmp/aws-wif/c --profile ci")


def test_windows_lines_carry_no_quote_unless_a_path_has_spaces() -> None:
    plain = command_line(r"C:\hostedtoolcache\windows\Python\3.12.4\x64\python.exe",
                         r"D:\a\_tasks\AwsWifAssume_1\1.0.0\lib", "default", r"D:\a\_temp\aws-wif\run-1\config",
                         platform="win32", isolated=True)
    # No quote at all: cmd.exe /C (Go, Java, .NET SDKs) and botocore's splitter read it alike.
    assert '"' not in plain
    assert compat_shell_split(plain, "win32") == [
        r"C:\hostedtoolcache\windows\Python\3.12.4\x64\python.exe", "-E", "-s", "-S",
        rf"D:\a\_tasks\AwsWifAssume_1\1.0.0\lib\{ENTRY_SCRIPT}", "--config", r"D:\a\_temp\aws-wif\run-1\config",
        "--profile", "default"]


def test_windows_paths_with_spaces_and_no_short_name_are_refused() -> None:
    """Off Windows there are no 8.3 short names: a path with a space then has no form that cmd.exe (Go, .NET)
    and botocore read alike, so the line is refused rather than written to fail later
    (tests/e2e/test_credential_process_line.py has each SDK's rule)."""
    with pytest.raises(UserError, match="has a space"):
        command_line(r"C:\Program Files\Python312\python.exe", r"C:\agent work\_tasks\lib", "default",
                     r"C:\agent work\_temp\aws-wif\run-1\config", platform="win32", isolated=True)


def test_a_windows_path_that_cannot_be_quoted_is_refused() -> None:
    with pytest.raises(UserError):
        command_line(r"C:\Python\python.exe", 'C:\\odd "name"\\lib', "default", r"C:\t\config", platform="win32")
