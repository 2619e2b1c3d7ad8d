"""The `credential_process` line on Windows, as each SDK family splits and runs it: string-level tests of
command_line's line against each family's own rule, each rule taken from its source.

- botocore (boto3, AWS CLI v1 and v2): botocore/credentials.py ProcessProvider._retrieve_credentials_using
  runs `compat_shell_split(credential_process)` and Popen on the list (no shell); on Windows that is
  botocore/compat.py _windows_shell_split (the C runtime's rules). The tests run botocore's own function,
  and Python's subprocess.list2cmdline (what Popen does with a list on Windows) for the way back.
- Go (aws-sdk-go-v2 credentials/processcreds/provider.go DefaultNewCommandBuilder.NewCommand, v1.21.3; so
  Terraform's AWS provider): `exec.CommandContext(ctx, "cmd.exe", "/C", line)` on Windows, whose command line
  Go builds with syscall makeCmdLine/appendEscapeArg (GOROOT src/syscall/exec_windows.go: an argument with a
  space is wrapped in quotes, an inner quote becomes \\"). Modelled below, checked against Go's own function
  when `go` is here and against Go's TestEscapeArg table (src/syscall/exec_windows_test.go).
- JavaScript v3 (@aws-sdk/credential-provider-process 3.972.86, dist-cjs/index.js: `exec(credentialProcess)`):
  Node's child_process (normalizeSpawnArguments) runs `<comspec> /d /s /c "<line>"` with
  windowsVerbatimArguments, which libuv (src/win/process.c make_program_args) joins with spaces unquoted. The
  tests run Node's own exec under the platform fake (tests/support/fake_platform.js) and read what it would start.
- .NET (aws/aws-sdk-net sdk/src/Core/Amazon.Runtime/Credentials/ProcessAWSCredentials.cs; so AWS Tools for
  PowerShell): FileName "cmd.exe", Arguments `/c {line.Trim()}`; dotnet/runtime System.Diagnostics.Process
  ProcessUtils.Windows.cs BuildCommandLine quotes the file name and appends a space and Arguments as given.
- cmd.exe, which the last three run, as `cmd /?` documents it: after /C or /K, (1) quotes are kept if there is
  no /S, exactly two quotes, none of & < > ( ) @ ^ | between them, whitespace between them, and the text
  between them names an executable file; (2) otherwise, if the first character is a quote, it and the last
  quote are removed. Then %NAME% is replaced by the variable's value where NAME is set, and left as it is
  otherwise, the scan going on from the second % (command-line mode, not a batch file: StackOverflow 4094699,
  "How does the Windows Command Interpreter (CMD.EXE) parse scripts?", `set b=a` then `echo %a %b% c%` gives
  `%a a c%`). Outside quotes ^ escapes the next character and is removed, & | < > end the command, and
  ( ) are acted on where a command or block stands (the model stops at any of these). Delayed expansion (!)
  is off unless a registry setting turns it on (`cmd /?`): not modelled; command_line refuses `!`.
  The program cmd.exe starts gets the rest of the line; its C runtime splits it (botocore's own splitter).
- GetShortPathNameW (learn.microsoft.com, fileapi.h): the 8.3 form of an existing path, each component that
  has a short name replaced; it fails for a path that does not exist; a volume may keep no short names, and
  then the long names come back. Volume below models that, for paths of a Windows agent named here.
- The config file is written as ASCII (awswif/aws_files.py write_private_file), and botocore reads it in the
  locale's code page (botocore/configloader.py raw_config_parse: RawConfigParser.read(path) without an
  encoding): a non-ASCII path cannot go in."""

from __future__ import annotations

import json
import ntpath
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore.compat import _windows_shell_split, compat_shell_split

from awswif import credential_line
from awswif.credential_process import ENTRY_SCRIPT, check_command_line, command_line
from awswif.errors import UserError

from agent_env import NODE
from paths import FAKE_PLATFORM

FAKE = FAKE_PLATFORM
COMSPEC = r"C:\Windows\system32\cmd.exe"
FLAGS = ["-E", "-s", "-S"]


# -- the Windows volume: which paths exist, and their 8.3 names ------------------------------------------------------
@dataclass
class Volume:
    """Paths that exist, and the short name of each component that has one (`long component path` -> name)."""

    paths: list[str]
    short_names: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.existing = set()
        for path in self.paths:
            while True:
                self.existing.add(path.lower())
                parent = ntpath.dirname(path)
                if parent == path:
                    break
                path = parent

    def get_short_path_name(self, path: str) -> str | None:
        """GetShortPathNameW: None (the call fails) for a path that does not exist."""
        if path.lower() not in self.existing:
            return None
        short = {k.lower(): v for k, v in self.short_names.items()}
        return self._map(path, lambda prefix, name: short.get(prefix.lower(), name))

    def long(self, path: str) -> str:
        """The path with every short component replaced by its long name (the file a program opens)."""
        if not ntpath.splitdrive(path)[0]:
            return path  # not a path: a flag, the profile name
        longs = {(ntpath.dirname(k).lower(), v.lower()): ntpath.basename(k) for k, v in self.short_names.items()}
        out = ""
        for part in _parts(path):
            out = ntpath.join(out, longs.get((out.lower(), part.lower()), part)) if out else part
        return out

    def is_executable(self, text: str) -> bool:
        return text.lower() in self.existing and text.lower().endswith((".exe", ".com"))

    @staticmethod
    def _map(path: str, rename: Callable[[str, str], str]) -> str:
        out, long_prefix = "", ""
        for part in _parts(path):
            long_prefix = ntpath.join(long_prefix, part) if long_prefix else part
            name = rename(long_prefix, part) if out else part
            out = ntpath.join(out, name) if out else name
        return out


def _parts(path: str) -> list[str]:
    drive, rest = ntpath.splitdrive(path)
    return [drive + "\\"] + [p for p in rest.split("\\") if p]


@dataclass(frozen=True)
class Agent:
    """A Windows agent's Python, the task's code folder and Agent.TempDirectory, on one volume."""

    python: str
    code: str
    temp: str
    short_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def volume(self) -> Volume:
        return Volume([self.python, ntpath.join(self.code, ENTRY_SCRIPT), self.temp], self.short_names)

    @property
    def config(self) -> str:
        # As aws_files names it: <Agent.TempDirectory>\aws-wif\run-<16 hex digits>\config, not yet written.
        return ntpath.join(self.temp, "aws-wif", "run-0123456789abcdef", "config")

    @property
    def arguments(self) -> list[str]:
        return [self.python, *FLAGS, ntpath.join(self.code, ENTRY_SCRIPT), "--config", self.config,
                "--profile", "default"]


@pytest.fixture
def on_volume(monkeypatch: pytest.MonkeyPatch) -> Callable[[Agent], str]:
    """command_line on that agent: GetShortPathNameW answers from the agent's volume."""

    def line(agent: Agent) -> str:
        monkeypatch.setattr(credential_line, "_short_name", agent.volume.get_short_path_name)
        return command_line(agent.python, agent.code, "default", agent.config, platform="win32", isolated=True)

    return line


# -- cmd.exe, as `cmd /?` documents it ---------------------------------------------------------------------------------
class CmdActs(Exception):
    """cmd.exe acts on a character outside quotes (& | < > ends the command, ( ) a block): the line is not
    one program's command line any more."""


def cmd_switches(command_line_: str) -> tuple[list[str], str]:
    """cmd.exe's own command line: its switches up to /C (or /K), and the remainder after it."""
    rest = command_line_[len(_argv0(command_line_)):]
    switches = []
    while True:
        rest = rest.lstrip(" \t")
        if rest[:2].lower() in ("/c", "/k"):
            return switches, rest[2:]
        assert rest.startswith("/"), rest
        token = rest.split(None, 1)[0]
        switches.append(token.lower())
        rest = rest[len(token):]


def cmd_quote_rule(remainder: str, s_switch: bool, is_executable: Callable[[str], bool]) -> str:
    """`cmd /?`: how the remainder after /C keeps or loses its quotes."""
    text = remainder.lstrip(" \t")
    quotes = [i for i, c in enumerate(text) if c == '"']
    if not s_switch and len(quotes) == 2:
        inner = text[quotes[0] + 1:quotes[1]]
        if not set(inner) & set("&<>()@^|") and re.search(r"\s", inner) and is_executable(inner):
            return text
    if text.startswith('"'):
        last = text.rfind('"')
        text = text[1:last] + text[last + 1:] if last > 0 else text[1:]
    return text


def cmd_percent(text: str, env: Mapping[str, str]) -> str:
    """%NAME% on a command line: the value where NAME is set (names ignore case), else kept, the scan going
    on from the second %."""
    values = {k.upper(): v for k, v in env.items()}
    out, i = "", 0
    while i < len(text):
        if text[i] != "%":
            out += text[i]
            i += 1
            continue
        end = text.find("%", i + 1)
        if end < 0:
            out += text[i:]
            break
        name = text[i + 1:end]
        if name and name.upper() in values:
            out += values[name.upper()]
            i = end + 1
        else:
            out += "%" + name
            i = end
    return out


def cmd_run(text: str, env: Mapping[str, str]) -> list[str]:
    """The program cmd.exe starts for one command line and the arguments its C runtime reads."""
    text = cmd_percent(text, env)
    line, quoted, i = "", False, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            quoted = not quoted
        elif not quoted and c == "^":
            i += 1
            c = text[i] if i < len(text) else ""
        elif not quoted and c in "&|<>()":
            raise CmdActs(c)
        line += c
        i += 1
    line = line.lstrip(" \t")
    token, quoted = "", False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif not quoted and c in " \t,;=":
            break
        token += c
    program = token.replace('"', "")
    return [program, *_windows_shell_split(line[len(token):])]


def through_cmd(command_line_: str, volume: Volume, env: Mapping[str, str]) -> list[str]:
    switches, remainder = cmd_switches(command_line_)
    return cmd_run(cmd_quote_rule(remainder, "/s" in switches, volume.is_executable), env)


def _argv0(command_line_: str) -> str:
    """The C runtime's first argument: to the closing quote if it starts with one, else to whitespace."""
    if command_line_.startswith('"'):
        return command_line_[:command_line_.index('"', 1) + 1]
    return re.match(r"[^ \t]*", command_line_).group(0)  # type: ignore[union-attr]


# -- each SDK family ---------------------------------------------------------------------------------------------------
def go_escape_arg(arg: str) -> str:
    """syscall.appendEscapeArg (GOROOT src/syscall/exec_windows.go)."""
    if arg == "":
        return '""'
    needs_backslash = any(c in '"\\' for c in arg)
    has_space = any(c in " \t" for c in arg)
    if not needs_backslash and not has_space:
        return arg
    if not needs_backslash:
        return f'"{arg}"'
    out, slashes = '"' if has_space else "", 0
    for c in arg:
        if c == "\\":
            slashes += 1
        elif c == '"':
            out += "\\" * slashes + "\\"
            slashes = 0
        else:
            slashes = 0
        out += c
    if has_space:
        out += "\\" * slashes + '"'
    return out


def go_command_line(args: list[str]) -> str:
    """syscall.makeCmdLine."""
    return " ".join(go_escape_arg(a) for a in args)


def node_exec(lines: list[str]) -> list[str]:
    """The command lines Node's child_process.exec(line) starts on Windows (what the JS SDK v3 calls), read from
    Node's own code with the platform faked: the spawn it would do is captured, never done."""
    assert NODE, "node is needed"
    script = (
        "const cp = require('child_process'); const seen = [];"
        "cp.ChildProcess.prototype.spawn = function (o) {"
        "  seen.push({ args: o.args, verbatim: !!o.windowsVerbatimArguments }); throw new Error('captured'); };"
        "for (const line of JSON.parse(process.argv[1])) {"
        "  try { cp.exec(line); } catch (e) { if (e.message !== 'captured') throw e; } }"
        "process.stdout.write(JSON.stringify(seen));"
    )
    proc = subprocess.run([NODE, "--require", str(FAKE), "-e", script, json.dumps(lines)], capture_output=True,
                          text=True, timeout=60, env={"FAKE_PLATFORM": "win32", "comspec": COMSPEC})
    assert proc.returncode == 0, proc.stderr
    spawned = json.loads(proc.stdout)
    assert all(s["verbatim"] for s in spawned), "cmd.exe gets its arguments verbatim (libuv joins them with spaces)"
    return [" ".join(s["args"]) for s in spawned]


def dotnet_command_line(line: str) -> str:
    return f'"cmd.exe" /c {line.strip()}'


ENV = {"PATH": r"C:\Windows\system32", "OFF": "-x-", "SYSTEMROOT": r"C:\Windows"}


def sdk_argvs(line: str, volume: Volume, env: Mapping[str, str] = ENV) -> dict[str, list[str] | str]:
    """What each family starts for the line: a program and its arguments, or why cmd.exe made it something else."""
    def run(command_line_: str) -> list[str] | str:
        try:
            return through_cmd(command_line_, volume, env)
        except CmdActs as acted:
            return f"cmd.exe acts on {acted}"

    botocore = compat_shell_split(line, "win32")
    # Popen(list) on Windows: list2cmdline, read back by the child's C runtime.
    assert _windows_shell_split(subprocess.list2cmdline(botocore)) == botocore
    (js,) = node_exec([line])
    return {"botocore": botocore, "go": run(go_command_line(["cmd.exe", "/C", line])), "js": run(js),
            "dotnet": run(dotnet_command_line(line))}


def assert_every_sdk_runs(line: str, agent: Agent) -> None:
    """Every family starts the agent's Python with the task's arguments, naming the same files."""
    volume = agent.volume
    argvs = sdk_argvs(line, volume)
    assert all(argv == argvs["botocore"] for argv in argvs.values()), argvs
    argv = argvs["botocore"]
    assert isinstance(argv, list) and len(argv) == len(agent.arguments)
    assert [volume.long(a) for a in argv] == agent.arguments


# -- the agents ---------------------------------------------------------------------------------------------------------
HOSTED = Agent(r"C:\hostedtoolcache\windows\Python\3.12.4\x64\python.exe", r"D:\a\_tasks\AwsWifAssume_1\1.0.0\lib",
               r"D:\a\_temp")
SPACES = dict(python=r"C:\Program Files\Python312\python.exe",
              code=r"C:\agent work\_work\_tasks\AwsWifAssume_1\1.0.0\lib", temp=r"C:\agent work\_work\_temp")
SPACES_SHORT = {r"C:\Program Files": "PROGRA~1", r"C:\agent work": "AGENTW~1"}
X86 = r"C:\Program Files (x86)\Python312-32\python.exe"


def test_a_plain_agent_gets_one_line_every_sdk_runs(on_volume: Callable[[Agent], str]) -> None:
    line = on_volume(HOSTED)
    assert '"' not in line
    assert_every_sdk_runs(line, HOSTED)


@pytest.mark.parametrize("agent", [
    Agent(**SPACES, short_names=SPACES_SHORT),
    Agent(X86, HOSTED.code, HOSTED.temp, short_names={r"C:\Program Files (x86)": "PROGRA~2"}),
    Agent(r"C:\Users\Jürgen\Python312\python.exe", r"C:\Users\Jürgen\agent\_work\_tasks\lib",
          r"C:\Users\Jürgen\agent\_work\_temp", short_names={r"C:\Users\Jürgen": "JRGEN~1"}),
], ids=["spaces", "parentheses", "non-ascii"])
def test_a_path_with_a_short_name_is_written_by_it(on_volume: Callable[[Agent], str], agent: Agent) -> None:
    """The config file does not exist when the line is written: its folder's short name, and the rest as named."""
    line = on_volume(agent)
    assert '"' not in line and line.isascii()
    assert_every_sdk_runs(line, agent)
    assert line.endswith(r"\aws-wif\run-0123456789abcdef\config --profile default")


def test_a_lone_percent_is_read_alike(on_volume: Callable[[Agent], str]) -> None:
    """cmd.exe expands only between two %: one in the whole line is no variable, whatever the step has set."""
    agent = Agent(r"C:\tools\100%OFF\python.exe", HOSTED.code, HOSTED.temp)
    line = on_volume(agent)
    assert line.count("%") == 1
    assert_every_sdk_runs(line, agent)


REFUSED = {
    # No 8.3 names on the volume (ReFS, Dev Drive, or `fsutil 8dot3name set`): no form without the space.
    "spaces-no-8.3": (Agent(**SPACES), "has a space, and no 8.3 short name without one"),
    # 8.3-legal names keep their characters: GetShortPathNameW gives them back as they are.
    "ampersand": (Agent(HOSTED.python, r"D:\R&D\_work\_tasks\lib", r"D:\R&D\_work\_temp"), "the character '&'"),
    "caret": (Agent(HOSTED.python, r"D:\a^b\_work\_tasks\lib", r"D:\a^b\_work\_temp"), "the character '^'"),
    "parentheses-no-8.3": (Agent(r"C:\Py(3)\python.exe", HOSTED.code, HOSTED.temp), "the character '('"),
    "two-percents": (Agent(HOSTED.python, r"D:\50%OFF%\_tasks\lib", r"D:\50%OFF%\_temp"), "two '%' in the line"),
    "non-ascii-no-8.3": (Agent(HOSTED.python, HOSTED.code, r"D:\Température"), "the non-ASCII character 'é'"),
    "exclamation": (Agent(HOSTED.python, r"D:\now!\_tasks\lib", HOSTED.temp), "the character '!'"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_path_no_line_can_carry_for_every_sdk_is_refused(on_volume: Callable[[Agent], str], case: str) -> None:
    agent, reason = REFUSED[case]
    with pytest.raises(UserError) as refused:
        on_volume(agent)
    assert reason in refused.value.what and "every AWS SDK runs alike on Windows" in refused.value.what
    assert "refreshingProfiles off" in refused.value.fix


def _quoted(agent: Agent) -> str:
    """The other line there is: each path that needs it double-quoted (command_line's fallback before)."""
    return " ".join(f'"{a}"' if re.search(r'[\s&()^%!]', a) else a for a in agent.arguments)


def test_why_a_path_with_spaces_is_refused() -> None:
    """Unquoted, botocore splits it; quoted, Go's cmd.exe /C starts no program of that name, and .NET's
    `cmd.exe /c` loses the first and last quote (more than two quotes): only botocore and the JS SDK run it."""
    agent = Agent(**SPACES)
    plain = " ".join(agent.arguments)
    assert compat_shell_split(plain, "win32")[0] == r"C:\Program"
    argvs = sdk_argvs(_quoted(agent), agent.volume)
    assert argvs["botocore"] == argvs["js"] == agent.arguments
    assert isinstance(argvs["go"], list) and argvs["go"][0] == "\\C:\\Program Files\\Python312\\python.exe\\"
    assert isinstance(argvs["dotnet"], list) and argvs["dotnet"][0] == r"C:\Program"


def test_a_quoted_python_alone_is_still_lost_by_go() -> None:
    """With only the interpreter quoted (two quotes, an executable between: cmd /? rule 1), .NET keeps the
    quotes and runs it; Go's \\" still reaches cmd.exe, so no quoted line serves Terraform."""
    agent = Agent(r"C:\Program Files\Python312\python.exe", HOSTED.code, HOSTED.temp)
    line = _quoted(agent)
    assert line.count('"') == 2
    argvs = sdk_argvs(line, agent.volume)
    assert argvs["botocore"] == argvs["js"] == argvs["dotnet"] == agent.arguments
    assert argvs["go"] != agent.arguments


@pytest.mark.parametrize("case", ["ampersand", "caret"])
def test_why_cmd_specials_are_refused(case: str) -> None:
    """Unquoted, cmd.exe acts on & and removes ^ where botocore keeps both; quoted, Go loses the quotes."""
    agent, _ = REFUSED[case]
    argvs = sdk_argvs(" ".join(agent.arguments), agent.volume)
    assert argvs["botocore"] == agent.arguments
    for family in ("go", "js", "dotnet"):
        assert argvs[family] != agent.arguments, family
    if case == "ampersand":
        assert argvs["go"] == "cmd.exe acts on &"
    else:
        assert isinstance(argvs["go"], list) and argvs["go"][4] == rf"D:\ab\_work\_tasks\lib\{ENTRY_SCRIPT}"
    assert sdk_argvs(_quoted(agent), agent.volume)["go"] != agent.arguments


def test_why_two_percents_are_refused() -> None:
    """Where the step has a variable named as the text between them (OFF here), cmd.exe expands it."""
    agent, _ = REFUSED["two-percents"]
    argvs = sdk_argvs(" ".join(agent.arguments), agent.volume)
    assert argvs["botocore"] == agent.arguments
    assert isinstance(argvs["go"], list) and argvs["go"][4] == rf"D:\50-x-\_tasks\lib\{ENTRY_SCRIPT}"
    assert argvs["js"] == argvs["dotnet"] == argvs["go"]
    assert sdk_argvs(" ".join(agent.arguments), agent.volume, env={})["go"] == agent.arguments, \
        "without such a variable it would run: the line's meaning would depend on the step"


def test_why_a_non_ascii_path_is_refused() -> None:
    """The config file is ASCII; written as UTF-8 instead, botocore on Windows reads it in the code page."""
    path = r"D:\Température\aws-wif\run-0123456789abcdef\config"
    assert path.encode("utf-8").decode("cp1252") != path


def test_the_refusal_comes_before_any_network_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """check_command_line names the same line for this agent's Python, code and Agent.TempDirectory, before the
    run folder or the config file exist."""
    agent = Agent(**SPACES, short_names=SPACES_SHORT)
    monkeypatch.setattr(credential_line, "_short_name", agent.volume.get_short_path_name)
    check_command_line(agent.temp, python=agent.python, code_folder=agent.code, platform="win32")
    monkeypatch.setattr(credential_line, "_short_name", Agent(**SPACES).volume.get_short_path_name)
    with pytest.raises(UserError, match="has a space"):
        check_command_line(agent.temp, python=agent.python, code_folder=agent.code, platform="win32")


# -- the models, against their sources ---------------------------------------------------------------------------------
# Go's own table (src/syscall/exec_windows_test.go TestEscapeArg), input -> output.
GO_ESCAPE_ARG = [
    ("", '""'), ("a", "a"), (" ", '" "'), ("\\", "\\"), ('"', '\\"'), ('\\"', '\\\\\\"'), ('\\\\"', '\\\\\\\\\\"'),
    ("\\\\ ", '"\\\\ "'), (" \\\\", '" \\\\\\\\"'), ("a ", '"a "'), ("C:\\", "C:\\"),
    ("C:\\Program Files (x32)\\Common\\", '"C:\\Program Files (x32)\\Common\\\\"'),
    ("C:\\Users\\Игорь\\", "C:\\Users\\Игорь\\"), ("\\\\?\\C:\\Windows", "\\\\?\\C:\\Windows"),
    ("\\\\server\\share\\file", "\\\\server\\share\\file"),
]


@pytest.mark.parametrize(("arg", "escaped"), GO_ESCAPE_ARG)
def test_the_go_model_matches_gos_table(arg: str, escaped: str) -> None:
    assert go_escape_arg(arg) == escaped


def test_the_go_model_is_gos_own_function(tmp_path: Path) -> None:
    """makeCmdLine and appendEscapeArg compiled from this machine's GOROOT, on the lines the tests use."""
    go = shutil.which("go")
    if not go:
        pytest.skip("needs the go tool")
    goroot = subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip()
    source = (Path(goroot) / "src/syscall/exec_windows.go").read_text()
    functions = [re.search(rf"^func {name}\(.*?^}}\n", source, re.M | re.S) for name in ("appendEscapeArg", "makeCmdLine")]
    assert all(functions), "GOROOT's exec_windows.go has appendEscapeArg and makeCmdLine"
    main = ('package main\n\nimport (\n\t"encoding/json"\n\t"os"\n)\n\n'
            + "\n".join(f.group(0) for f in functions if f)
            + '\nfunc main() {\n\tvar lists [][]string\n\tif err := json.NewDecoder(os.Stdin).Decode(&lists); err != nil {'
              '\n\t\tpanic(err)\n\t}\n\tout := []string{}\n\tfor _, args := range lists {\n\t\tout = append(out, '
              'makeCmdLine(args))\n\t}\n\t_ = json.NewEncoder(os.Stdout).Encode(out)\n}\n')
    (tmp_path / "main.go").write_text(main)
    lines = [" ".join(HOSTED.arguments), _quoted(Agent(**SPACES)), " ".join(REFUSED["caret"][0].arguments),
             *[arg for arg, _ in GO_ESCAPE_ARG]]
    lists = [["cmd.exe", "/C", line] for line in lines]
    proc = subprocess.run([go, "run", "main.go"], cwd=tmp_path, input=json.dumps(lists), capture_output=True,
                          text=True, timeout=300, env={**os.environ, "GOFLAGS": "", "GOTOOLCHAIN": "local"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [go_command_line(args) for args in lists]


def test_the_cmd_model_follows_cmd_help() -> None:
    """`cmd /?`'s own examples of the quote rule, and the percent rule's example."""
    volume = Volume([r"C:\my prog.exe"])
    exe = volume.is_executable
    assert cmd_quote_rule(' "C:\\my prog.exe" param1', False, exe) == '"C:\\my prog.exe" param1'  # rule 1
    assert cmd_quote_rule(' "C:\\my prog.exe" "param 1"', False, exe) == 'C:\\my prog.exe" "param 1'  # rule 2
    assert cmd_quote_rule(' "C:\\my prog.exe" param1', True, exe) == "C:\\my prog.exe param1"  # /S: rule 2
    assert cmd_percent("%a %b% c%", {"b": "a"}) == "%a a c%"
    assert cmd_percent("%a %b% c%", {"a ": "b"}) == "bb% c%"
    assert cmd_run('"C:\\my prog.exe" a^&b "c&d"', {}) == ["C:\\my prog.exe", "a&b", "c&d"]
    with pytest.raises(CmdActs):
        cmd_run("C:\\prog.exe a&b", {})
