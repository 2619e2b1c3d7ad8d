"""A model of one job on the Azure Pipelines agent: how the agent reads a task's output, what it
does with each logging command, what later steps, the task's post-job step and later jobs then see.

Every rule names the agent source it comes from: microsoft/azure-pipelines-agent at commit 42bde98
(src/...), and microsoft/azure-pipelines-task-lib for what a task-lib task does to its own
environment (node/internal.ts). Tests judge the product by these rules, not by our own.

Defaults are those of a Linux agent with its default knobs (AgentKnobs.cs): DECODE_PERCENTS=true,
SYSTEM_UNSAFEALLOWMULTILINESECRET=false, AZP_IGNORE_SECRETS_SHORTER_THAN=0,
DISABLE_INPUT_TRIMMING=false, AGENT_ENABLE_VARIABLE_INPUT_TRIMMING=false, agent.readOnlyVariables unset.
Containers: the job container's path mappings and the translation of variable values for steps in it
(Container, Job._translator); not the docker commands themselves. Not modelled: task restrictions
(task.json "restrictions"), the artifact/build/release/
telemetry/codecoverage command areas (accepted, no effect), issue source paths, timeline details."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union
from urllib.parse import quote

TaskJson = Union[Mapping[str, Any], Path, str]

# --- Command.cs (TryParse) and CommandStringConvertor.cs ------------------------------------------------------
PREFIX = "##vso["  # Command.cs LoggingCommandPrefix, found with ordinal IndexOf: case-sensitive
# CommandStringConvertor._specialSymbolsMapping, in this order; "%AZP25" -> "%" last (DecodePercents knob, default true)
_SPECIAL = ((";", "%3B"), ("\r", "%0D"), ("\n", "%0A"), ("]", "%5D"))


def unescape(value: str, decode_percents: bool = True) -> str:
    """CommandStringConvertor.Unescape."""
    for token, replacement in _SPECIAL:
        value = value.replace(replacement, token)
    return value.replace("%AZP25", "%") if decode_percents else value


def escape(value: str, decode_percents: bool = True) -> str:
    """CommandStringConvertor.Escape ("%" first, then the special symbols)."""
    if decode_percents:
        value = value.replace("%", "%AZP25")
    for token, replacement in _SPECIAL:
        value = value.replace(token, replacement)
    return value


def split_lines(output: str) -> list[str]:
    """Agent.Sdk/ProcessInvoker.cs StartReadStream: StreamReader.ReadLine ends a line at LF, CRLF or a lone CR,
    and yields no empty last line after a final terminator."""
    parts = re.split(r"\r\n|\n|\r", output)
    if parts and parts[-1] == "":
        parts.pop()
    return parts


@dataclass
class Command:
    area: str
    event: str
    properties: dict[str, str]  # keys as written; look them up with prop() (OrdinalIgnoreCase dictionary)
    data: str
    line: str

    @property
    def name(self) -> str:
        return f"{self.area}.{self.event}".lower()

    def prop(self, key: str) -> str | None:
        for k, v in self.properties.items():
            if k.lower() == key.lower():
                return v
        return None


def parse_line(line: str, decode_percents: bool = True) -> Command | None:
    """Command.TryParse: `##vso[` anywhere, command info up to the FIRST `]`, name up to the first space,
    exactly `area.event`, properties split on `;` then on the first `=` (empty pieces dropped, so `key=`
    is ignored), keys case-insensitive and not trimmed; values and data unescaped."""
    start = line.find(PREFIX)
    if start < 0:
        return None
    end = line.find("]", start)
    if end < 0:
        return None
    info = line[start + len(PREFIX) : end]
    space = info.find(" ")
    name = info if space < 0 else info[:space]
    area_event = [p for p in name.split(".") if p]
    if len(area_event) != 2:
        return None
    properties: dict[str, str] = {}
    if space > 0:
        for piece in (p for p in info[space + 1 :].split(";") if p):
            key, _, value = piece.partition("=")
            if key and value:
                # Dictionary(StringComparer.OrdinalIgnoreCase): a later key replaces an earlier one of any case.
                for old in [k for k in properties if k.lower() == key.lower()]:
                    del properties[old]
                properties[key] = unescape(value, decode_percents)
    return Command(area_event[0], area_event[1], properties, unescape(line[end + 1 :], decode_percents), line)


def parse_bool(value: str | None) -> bool:
    """Boolean.TryParse as TaskCommandExtension uses it: "true"/"false" in any case, surrounding blanks
    allowed; anything else is false."""
    return (value or "").strip().lower() == "true"


# TaskResult (Microsoft.TeamFoundation.DistributedTask.WebApi), in enum order 0..5.
TASK_RESULTS = ("Succeeded", "SucceededWithIssues", "Failed", "Canceled", "Skipped", "Abandoned")


def merge_results(current: str | None, coming: str) -> str:
    """Util/TaskResultUtil.cs MergeTaskResults: Canceled/Skipped/Abandoned stick, otherwise the worse wins."""
    if current is None:
        return coming
    if TASK_RESULTS.index(current) > TASK_RESULTS.index("Failed"):
        return current
    return coming if TASK_RESULTS.index(coming) >= TASK_RESULTS.index(current) else current


def parse_task_result(text: str | None) -> str | None:
    """TaskCompleteCommand: Enum.TryParse<TaskResult>(text) without ignoreCase, so names are case-sensitive;
    a number is accepted too."""
    text = (text or "").strip()
    if text in TASK_RESULTS:
        return text
    if text.isdigit() and int(text) < len(TASK_RESULTS):
        return TASK_RESULTS[int(text)]
    return None


# --- the secret masker (Agent.Sdk/SecretMasking, HostContext.cs CreateSecretMasker) -----------------------------
def _json_string_escape(value: str) -> str:
    # ValueEncoders.JsonStringEscape: the value as a JSON string body (SecretMaskerL0 Encoder_JsonStringEscape).
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _uri_data_escape(value: str) -> str:
    # ValueEncoders.UriDataEscape = Uri.EscapeDataString: everything but RFC 3986 unreserved characters.
    return quote(value, safe="-_.~")


def _backslash_escape(value: str) -> str:
    # ValueEncoders.BackslashEscape: the value with \\ \' \" \t read as escapes (SecretMaskerL0 Encoder_BackslashEscape).
    for escaped, char in (("\\\\", "\\"), ("\\'", "'"), ('\\"', '"'), ("\\t", "\t")):
        value = value.replace(escaped, char)
    return value


# HostContext.cs: the three encoders every value is also registered under.
ENCODERS = (_json_string_escape, _uri_data_escape, _backslash_escape)
# AdditionalMaskingRegexes.cs UrlSecretPattern: the password of a URL's userinfo, always masked.
# (The agent's look-behind `(?<=//[^:/?#\n]+:)` is written here as a group before the password.)
_URL_MATCH = r"(?:[\w\.~\-]|(?:%|%AZP25)[0-9a-fA-F]{2}|[!\$&'\(\)\*\+,;=]|:)+"
URL_SECRET = re.compile(r"//[^:/?#\n]+:(" + _URL_MATCH + r")(?=@)")


class SecretMasker:
    """LoggedSecretMasker over the legacy SecretMasker: literal values and their encoded forms, masked as
    "***" wherever they occur in one log line (each line is masked on its own: ExecutionContext.Write), so a
    value containing a line break never matches. Values shorter than min_length are ignored (knob
    AZP_IGNORE_SECRETS_SHORTER_THAN, default 0, capped at 6: LoggedSecretMasker.MinSecretLengthLimit)."""

    def __init__(self, min_length: int = 0) -> None:
        self.values: set[str] = set()
        self.min_length = min(min_length, 6)

    def add(self, value: str | None) -> None:
        if not value:
            return
        self.values.add(value)
        for encode in ENCODERS:
            encoded = encode(value)
            if encoded:
                self.values.add(encoded)

    def mask(self, line: str) -> str:
        spans = [m.span(1) for m in URL_SECRET.finditer(line)]
        for value in self.values:
            if len(value) < self.min_length:
                continue
            start = line.find(value)
            while start >= 0:
                spans.append((start, start + len(value)))
                start = line.find(value, start + 1)
        if not spans:
            return line
        merged: list[list[int]] = []
        for s, e in sorted(spans):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        out, last = [], 0
        for s, e in merged:
            out += [line[last:s], "***"]
            last = e
        return "".join([*out, line[last:]])


# --- variables (Agent.Worker/Variables.cs) --------------------------------------------------------------------
# Constants.cs Variables.ReadOnlyVariables (lower-cased): system variables a task may not overwrite.
READ_ONLY_VARIABLES = frozenset(n.lower() for n in (  # noqa: SIM905
    "agent.acceptteeeula agent.builddirectory agent.cloudid agent.containerid agent.containermapping "
    "agent.containernetwork agent.diagnostic FIX_POSSIBLE_GIT_OUT_OF_MEMORY_PROBLEM agent.gituseschannel "
    "agent.homedirectory agent.id agent.isselfhosted agent.jobname agent.jobstatus agent.machinename agent.name "
    "agent.os agent.osarchitecture agent.osversion agent.usebasicauthforproxy agent.proxybypasslist "
    "agent.proxypassword agent.proxyurl agent.proxyusername agent.readOnlyVariables agent.retainDefaultEncoding "
    "agent.RootDirectory agent.runMode agent.ServerOMDirectory agent.services agent.cainfo agent.clientcert "
    "agent.clientcertarchive agent.clientcertkey agent.clientcertpassword agent.skipcertvalidation "
    "agent.TempDirectory agent.ToolsDirectory USE_GIT_LONG_PATHS USE_GIT_SINGLE_THREAD agent.version "
    "agent.workfolder agent.WorkingDirectory build.artifactstagingdirectory build.binariesdirectory build.clean "
    "build.definitionname build.gated.runci build.gated.shelvesetname build.buildNumber pipeline.repository.name "
    "build.repository.clean build.repository.git.submodulecheckout build.repository.id "
    "build.repository.localpath build.Repository.name build.repository.provider build.repository.tfvc.workspace "
    "build.repository.uri build.sourcebranch build.sourcetfvcshelveset build.sourceversion "
    "build.sourceversionauthor build.sourceVersionMessage build.sourcesdirectory build.stagingdirectory "
    "build.syncSources build.useserverworkspaces common.testresultsdirectory agent.clean.buildDirectory "
    "agent.source.git.lfs agent.source.git.shallowFetchDepth agent.source.skip pipeline.workspace "
    "agent.releaseDirectory system.artifactsDirectory release.attemptNumber release.disableRobocopy "
    "release.definitionId release.definitionName release.releaseDescription release.artifact.download.buffersize "
    "release.environmentName release.environmentUri release.releaseId release.releaseName "
    "release.artifact.download.parallellimit release.requestedForId release.releaseUri release.releaseWebUrl "
    "release.requestedFor release.robocopyMT release.skipartifactsDownload system.accessToken "
    "system.collectionid system.culture system.debug system.defaultworkingdirectory system.definitionid "
    "system.definitionName system.enableAccessToken system.hosttype system.isazurevm system.isdockercontainer "
    "system.jobAttempt system.jobDisplayName system.jobId system.jobName system.phaseAttempt "
    "system.phaseDisplayName system.phaseName system.planId system.prefergitfrompath "
    "system.pullrequest.targetbranch system.selfmanagegitcreds system.servertype system.sourceVersionMessage "
    "system.stageAttempt system.stageDisplayName system.stageName system.TeamFoundationServerUri "
    "system.teamproject system.teamProjectId system.workfolder task.displayname task.skipTranslatorForCheckout"
).split())


@dataclass
class Variable:
    name: str
    value: str
    secret: bool = False
    readonly: bool = False


class Variables:
    """Variables.cs: names compare case-insensitively (OrdinalIgnoreCase); the last spelling set is kept."""

    def __init__(self, masker: SecretMasker) -> None:
        self._masker = masker
        self._raw: dict[str, Variable] = {}
        self._expanded: dict[str, Variable] = {}

    def set(self, name: str, value: str, secret: bool = False, readonly: bool = False) -> None:
        """Variables.Set: once secret always secret, once read-only always read-only; a secret value is
        registered with the masker; stored as-is (expanded only at the next step start)."""
        key = name.lower()
        old = self._expanded.get(key)
        secret = secret or bool(old and old.secret)
        readonly = readonly or bool(old and old.readonly)
        if secret and value:
            self._masker.add(value)
        variable = Variable(name, value, secret, readonly)
        self._raw[key] = self._expanded[key] = variable

    def get(self, name: str) -> str | None:
        variable = self._expanded.get(name.lower())
        return None if variable is None else variable.value

    def is_readonly(self, name: str) -> bool:
        """Variables.IsReadOnly: the variable's flag, or a name in Constants.Variables.ReadOnlyVariables (this
        list only counts for an existing variable)."""
        variable = self._expanded.get(name.lower()) or self._raw.get(name.lower())
        return variable is not None and (variable.readonly or variable.name.lower() in READ_ONLY_VARIABLES)

    def is_secret(self, name: str) -> bool:
        variable = self._expanded.get(name.lower())
        return bool(variable and variable.secret)

    @property
    def public(self) -> list[Variable]:
        return [v for v in self._expanded.values() if not v.secret]

    @property
    def private(self) -> list[Variable]:
        return [v for v in self._expanded.values() if v.secret]

    def recalculate(self) -> list[str]:
        """RecalculateExpanded (StepsRunner.cs calls it before every step): `$(name)` inside variable values
        is replaced recursively by existing variables; a value that reaches a secret becomes secret; a cycle
        or 50 levels leaves the variable unexpanded, with a warning."""
        warnings: list[str] = []
        expanded: dict[str, Variable] = dict(self._raw)
        for key, variable in self._raw.items():
            try:
                value, secret = self._expand_raw(variable.value, [key], variable.secret)
            except _ExpansionStop as stop:
                warnings.append(f"Variable '{variable.name}' {stop}")
                continue
            if value != variable.value:
                if secret and value:
                    self._masker.add(value)
                expanded[key] = Variable(variable.name, value, secret, variable.readonly)
        self._expanded = expanded
        return warnings

    def _expand_raw(self, value: str, stack: list[str], secret: bool) -> tuple[str, bool]:
        out, start = value, 0
        while True:
            prefix = out.find("$(", start)
            suffix = out.find(")", prefix + 2) if prefix >= 0 else -1
            if prefix < 0 or suffix < 0:
                return out, secret
            nested = out[prefix + 2 : suffix]
            variable = self._raw.get(nested.lower()) if nested else None
            if variable is None:
                start = prefix + 1
                continue
            if len(stack) + 1 >= 50:
                raise _ExpansionStop("exceeds the maximum depth 50")
            if nested.lower() in stack:
                raise _ExpansionStop("contains a cyclical reference")
            inner, secret = self._expand_raw(variable.value, [*stack, nested.lower()], secret or variable.secret)
            out = out[:prefix] + inner + out[suffix + 1 :]
            start = prefix + len(inner)

    def source(self) -> dict[str, str]:
        """Variables.ExpandValues' source: every variable, secrets included, by case-insensitive name."""
        return {key: v.value for key, v in self._expanded.items()}


class _ExpansionStop(Exception):
    pass


def expand_values(text: str, source: Mapping[str, str], ignore_case: bool) -> str:
    """Util/VarUtil.cs ExpandValues: one pass, no recursion; `$(name)` of an existing entry is replaced, any
    other `$(...)` stays literal; the name is not trimmed."""
    lookup = {k.lower(): v for k, v in source.items()} if ignore_case else dict(source)
    start = 0
    while start < len(text):
        prefix = text.find("$(", start)
        suffix = text.find(")", prefix + 2) if prefix >= 0 else -1
        if prefix < 0 or suffix < 0:
            break
        name = text[prefix + 2 : suffix]
        key = name.lower() if ignore_case else name
        if name and key in lookup:
            text = text[:prefix] + lookup[key] + text[suffix + 1 :]
            start = prefix + len(lookup[key])
        else:
            start = prefix + 1
    return text


def env_name(name: str) -> str:
    """Util/VarUtil.cs ConvertToEnvVariableFormat (preserveCase false): `.` and space become `_`, upper case."""
    return name.replace(".", "_").replace(" ", "_").upper()


def task_lib_get_variable(environment: Mapping[str, str], name: str) -> str | None:
    """tl.getVariable(name) in a later task-lib task (azure-pipelines-task-lib 4.17.3, commit 30fdda7,
    node/internal.ts): _getVariableKey replaces `.` and space with `_` and upper-cases; _loadData moves every
    SECRET_<KEY> into the vault at load; _getVariable answers from the vault for a secret, else from
    process.env[<KEY>]."""
    key = name.replace(".", "_").replace(" ", "_").upper()
    if f"SECRET_{key}" in environment:
        return environment[f"SECRET_{key}"]
    return environment.get(key)


# task-lib node/internal.ts _loadData: what a task-lib task (a script step's CmdLine/Bash task) removes from its
# own environment before it starts the user's script.
TASK_LIB_REMOVES_PREFIXES = ("INPUT_", "ENDPOINT_AUTH_", "SECUREFILE_TICKET_", "SECRET_", "VSTS_TASKVARIABLE_")
TASK_LIB_REMOVES = ("VSTS_PUBLIC_VARIABLES", "VSTS_SECRET_VARIABLES", "COMMAND_CORRELATION_ID")


def load_task_json(task_json: TaskJson) -> Mapping[str, Any]:
    if isinstance(task_json, Mapping):
        return task_json
    path = Path(task_json)
    if path.is_dir():
        path = path / "task.json"
    loaded: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


# --- one step's outcome ---------------------------------------------------------------------------------------
@dataclass
class StepResult:
    ref_name: str
    output: str
    commands: list[Command] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)  # lines that are not commands, as the task wrote them
    log: list[str] = field(default_factory=list)  # the step's log as the agent shows it (masked)
    variables: dict[str, str] = field(default_factory=dict)  # plain job variables this step set
    output_variables: dict[str, str] = field(default_factory=dict)  # name -> value of <ref_name>.<name>
    secret_variables: set[str] = field(default_factory=set)  # names (plain or output) set as secrets
    task_variables: dict[str, str] = field(default_factory=dict)
    masked: set[str] = field(default_factory=set)  # values this step registered with the masker
    errors: list[str] = field(default_factory=list)  # error issues: the task's and the agent's own
    warnings: list[str] = field(default_factory=list)
    # Files queued by task.uploadsummary, as given (the agent reads each one later: JobServerQueue.cs).
    summaries: list[str] = field(default_factory=list)
    reported: str | None = None  # the result task.complete gave (merged, as the agent merges them)
    result: str = "Succeeded"  # the step's result on the timeline
    command_failures: list[str] = field(default_factory=list)  # commands the agent could not process
    # task.complete's data: the timeline record's CurrentOperation (ExecutionContext.Progress), NOT masked.
    current_operation: str | None = None

    def leaks(self, secrets: Iterable[str]) -> list[str]:
        """Lines that show a secret: in the raw output anywhere but the data of the setsecret/issecret command
        that hands it to the agent, and in the agent's rendered log (which echoes a command it rejects)."""
        wanted = [s for s in secrets if s]
        found = []
        for line in split_lines(self.output):
            command = parse_line(line)
            text = line
            if command is not None and (
                command.name == "task.setsecret"
                or (command.name in ("task.setvariable", "task.settaskvariable") and parse_bool(command.prop("issecret")))
            ):
                text = line[: line.find("]", line.find(PREFIX)) + 1]
            found += [line for s in wanted if s in text or s in unescape(text)]
        found += [line for line in self.log for s in wanted if s in line]
        return found


class CommandError(Exception):
    """An exception a worker command throws: WorkerCommandManager fails the step and echoes the input."""


def _first_mapping(value: str, mappings: list[tuple[str, str]]) -> str:
    for source, target in mappings:
        if value == source:
            return target
        if value.startswith(source + "/"):
            return target + value[len(source):]
    return value


# --- container jobs -------------------------------------------------------------------------------------------
@dataclass
class Container:
    """A job container (`container:` of the job): HostContext.cs CreateContainerInfo maps the agent's tools,
    work and root folders to /__t, /__w and /__a (Linux), in that order; ContainerOperationProvider.cs sets
    Agent.ContainerId (job container) and Agent.ContainerMapping ({"<alias>": {"id": "<id>"}}) when it starts."""

    alias: str
    container_id: str
    tools: str
    work: str
    root: str

    @property
    def mappings(self) -> list[tuple[str, str]]:
        return [(self.tools, "/__t"), (self.work, "/__w"), (self.root, "/__a")]

    def translate(self, value: str) -> str:
        """Agent.Sdk/ContainerInfo.cs TranslateToContainerPath: the first mapping the value equals or starts
        with (followed by a separator) is replaced; anything else is left as it is."""
        return _first_mapping(value, self.mappings)

    def translate_to_host(self, value: str) -> str:
        """ContainerInfo.cs TranslateToHostPath: the reverse, for paths a step in the container names."""
        return _first_mapping(value, [(inside, host) for host, inside in self.mappings])


# --- the job --------------------------------------------------------------------------------------------------
@dataclass
class TimelineOutput:
    value: str
    secret: bool


class Job:
    """One job's state on the agent: variables, task variables per task instance, the secret masker, and the
    output variables sent to the server's timeline."""

    def __init__(self, variables: Mapping[str, str] | None = None, secrets: Mapping[str, str] | None = None, *,
                 name: str = "job", agent_environment: Mapping[str, str] | None = None, newline: str = "\n",
                 decode_percents: bool = True, allow_multiline_secret: bool = False,
                 read_only_variables: bool = False, masker_min_length: int = 0,
                 container: Container | None = None) -> None:
        self.name = name
        self.masker = SecretMasker(masker_min_length)
        self.variables = Variables(self.masker)
        for key, value in (variables or {}).items():
            self.variables.set(key, value)
        for key, value in (secrets or {}).items():
            self.variables.set(key, value, secret=True)
        # The agent's own process environment: VarUtil.ExpandEnvironmentVariables' second expansion pass, and
        # the base environment every step process inherits (StepHost).
        self.agent_environment = dict(agent_environment or {})
        self.newline = newline  # Environment.NewLine: what the multi-line secret check looks for
        self.decode_percents = decode_percents
        self.allow_multiline_secret = allow_multiline_secret
        self.read_only_variables = read_only_variables  # variable agent.readOnlyVariables: throw instead of warn
        self.task_variables: dict[str, Variables] = {}
        self.outputs: dict[str, dict[str, TimelineOutput]] = {}  # step ref name -> timeline record variables
        self.prepend_path: list[str] = []
        self.steps: list[StepResult] = []
        self.container = container
        if container is not None:  # ContainerOperationProvider.cs StartContainersAsync / StartContainerAsync
            self.variables.set("Agent.ContainerMapping", json.dumps({container.alias: {"id": container.container_id}}))
            self.variables.set("Agent.ContainerId", container.container_id)

    # -- running a task ------------------------------------------------------------------------------------
    def run_task(self, task_json: TaskJson, output: str, ref_name: str = "assume", *, stderr: str = "",
                 exit_code: int = 0) -> StepResult:
        """A Node task step: its stdout lines, then its stderr lines (NodeHandler.cs hands both streams to
        OnDataReceived; their interleaving is not defined), each through WorkerCommandManager.TryProcessCommand."""
        warnings = self.variables.recalculate()  # StepsRunner.cs, before every step, warnings on the step
        definition = load_task_json(task_json)
        # TaskRunner.cs: OutputVariables from task.json's outputVariables (ExecutionContext: OrdinalIgnoreCase set)
        declared = {str(v["name"]).lower() for v in definition.get("outputVariables") or [] if v and v.get("name")}
        step = StepResult(ref_name, output + ("\n" + stderr if stderr else ""))
        state = _StepState(declared)
        for warning in warnings:
            self._issue(step, "warning", warning)
        for line in split_lines(output) + split_lines(stderr):
            if state.force_completed:  # NodeHandler.OnDataReceived drops output after task.complete done=true
                break
            self._on_line(step, state, line)
        if exit_code != 0:  # NodeHandler: a non-zero exit code fails the step
            self._issue(step, "error", f"Exit code {exit_code} returned from process: file name 'node', arguments "
                                       "'<target>'.")
            state.result = merge_results(state.result, "Failed")
        step.reported = state.reported
        result = state.result
        if state.command_result is not None:  # StepsRunner.cs: merge the command result into the step result
            result = merge_results(result, state.command_result)
        step.result = result or "Succeeded"  # ExecutionContext.Complete: no result means Succeeded
        self.steps.append(step)
        return step

    def _on_line(self, step: StepResult, state: _StepState, line: str) -> None:
        """WorkerCommandManager.TryProcessCommand, then ExecutionContext.Output for a line that is no command."""
        command = parse_line(line, self.decode_percents) if line else None
        if command is None:
            if "##vso" in line:
                self._issue(step, "warning", f"'{line}' contains logging command keyword '##vso', but it's not a "
                                             "legal command. Please see the list of accepted commands: "
                                             "https://go.microsoft.com/fwlink/?LinkId=817296")
            step.plain.append(line)
            step.log.append(self.masker.mask(line))
            return
        step.commands.append(command)
        area = command.area.lower()
        if area != "task":
            if area not in ("artifact", "build", "codecoverage", "release", "telemetry", "plugininternal"):
                self._issue(step, "warning", f"Cannot find command extension for ##vso[{command.area}.command]. "
                                             "Please reference documentation (http://go.microsoft.com/fwlink/?LinkId=817296)")
            return
        try:
            self._task_command(step, state, command)
        except CommandError as problem:
            # WorkerCommandManager: the whole input line is echoed (masked only with what is registered so far).
            self._issue(step, "error", f"Unable to process command '{line}' successfully. Please reference "
                                       "documentation (http://go.microsoft.com/fwlink/?LinkId=817296)")
            self._issue(step, "error", str(problem))
            step.command_failures.append(line)
            state.command_result = "Failed"
        if self._debug() and command.event.lower() != "debug":
            step.log.append(self.masker.mask(f"##[debug]Processed: {unescape(line, self.decode_percents)}"))

    def _debug(self) -> bool:
        return parse_bool(self.variables.get("system.debug"))

    def _issue(self, step: StepResult, kind: str, message: str) -> None:
        """ExecutionContext.AddIssue: masked, written to the log with its tag (WellKnownTags ##[error]/##[warning])."""
        message = self.masker.mask(message)
        (step.errors if kind == "error" else step.warnings).append(message)
        if message:
            step.log.append(f"##[{kind}]{message}")

    def _add_secret(self, step: StepResult, value: str) -> None:
        """TaskCommandHelper.AddSecret: the value as given; with DECODE_PERCENTS=false also its %AZP25-decoded form."""
        if value:
            self._register(step, value)
            if not self.decode_percents:
                self._register(step, unescape(value, True))

    def _register(self, step: StepResult, value: str) -> None:
        self.masker.add(value)
        step.masked.add(value)

    def _task_command(self, step: StepResult, state: _StepState, c: Command) -> None:
        """TaskCommandExtension.cs: event names case-insensitive; an unknown event throws (CommandNotFound2)."""
        event = c.event.lower()
        if event == "setvariable":
            self._set_variable(step, state, c)
        elif event == "settaskvariable":
            self._set_task_variable(step, c)
        elif event == "setsecret":
            self._add_secret(step, c.data)
        elif event in ("logissue", "issue"):
            kind = c.prop("type")
            if kind is None:
                self._issue(step, "warning", "Can't create TaskIssue from logging event.")
            elif kind.lower() in ("error", "warning"):
                self._issue(step, kind.lower(), c.data)
            else:
                raise CommandError(f"issue type {kind} is not an expected issue type.")
        elif event == "complete":
            result = parse_task_result(c.prop("result"))
            if result is None:
                raise CommandError("Command doesn't have valid result value.")
            state.result = merge_results(state.result, result)
            state.reported = merge_results(state.reported, result)
            state.force_completed = parse_bool(c.prop("done"))
            step.current_operation = c.data
        elif event == "debug":
            if self._debug():
                step.log.append(self.masker.mask(f"##[debug]{c.data}"))
        elif event == "prependpath":
            if not c.data:
                raise CommandError("Parameter 'prependpath' cannot be null or empty.")
            self.prepend_path = [p for p in self.prepend_path if p != c.data] + [c.data]
        elif event == "setendpoint":
            if (c.prop("field") or "").lower() == "authparameter":
                self._add_secret(step, c.data)
        elif event == "uploadsummary":
            # TaskCommandExtension.cs TaskUploadSummaryCommand -> TaskAddAttachmentCommand: the path (host form)
            # must be a file now, else the command throws; only the path is queued (QueueFileUpload,
            # deleteSource false). The upload loop opens it later (every 1000 ms, and when the queue drains at
            # job end, before TempDirectoryManager cleans Agent.TempDirectory): see summary_readable_at_job_end.
            # A step in the job's container names a container path: the command translates it first.
            path = self.container.translate_to_host(c.data) if self.container is not None else c.data
            if not path or not Path(path).is_file():
                raise CommandError(f"Can't attach (Distributedtask.Core.Summary) file: {path}. File does not exist.")
            step.summaries.append(path)
        elif event not in ("setprogress", "logdetail", "addattachment", "uploadfile"):
            raise CommandError(f"##vso[task.{c.event}] is not a recognized command for task command extension. "
                               "Please reference documentation (http://go.microsoft.com/fwlink/?LinkId=817296).")

    def _set_variable(self, step: StepResult, state: _StepState, c: Command) -> None:
        """TaskSetVariableCommand.Execute, then ExecutionContext.SetVariable."""
        name = c.prop("variable")
        if not name:
            raise CommandError("Required field 'variable' is missing in ##vso[task.setvariable] command.")
        secret, is_output, readonly = (parse_bool(c.prop(k)) for k in ("issecret", "isoutput", "isreadonly"))
        if self.variables.is_readonly(name):
            message = f"Overwriting readonly variable '{name}'"
            if self.read_only_variables:
                raise CommandError(message + " is not permitted.")
            self._issue(step, "warning", message + ". This behavior will be disabled in the future.")
        if secret:
            if c.data and self.newline in c.data and not self.allow_multiline_secret:
                raise CommandError("Secrets cannot contain multiple lines")
            # The escaped form of the data is what AddSecret registers here; Variables.Set adds the value itself.
            self._add_secret(step, escape(c.data, self.decode_percents))
        # ExecutionContext.SetVariable: isoutput, or a name task.json declares (case-insensitively), makes an
        # output: a timeline record variable and the job variable "<refName>.<name>" only, read-only if isoutput.
        if is_output or name.lower() in state.declared:
            self.outputs.setdefault(step.ref_name, {})[name] = TimelineOutput(c.data, secret)
            target = f"{step.ref_name}.{name}"
            self.variables.set(target, c.data, secret=secret, readonly=is_output or readonly)
            step.output_variables[name] = c.data
        else:
            target = name
            self.variables.set(name, c.data, secret=secret, readonly=readonly)
            step.variables[name] = c.data
        if self.variables.is_secret(target):  # Variables.Set: a variable that was secret stays secret
            step.secret_variables.add(name)
            if c.data:
                step.masked.add(c.data)

    def _set_task_variable(self, step: StepResult, c: Command) -> None:
        """TaskSetTaskVariableCommand.Execute: the task instance's own store, shared with its post-job step."""
        name = c.prop("variable")
        if not name:
            raise CommandError("Required field 'variable' is missing in ##vso[task.settaskvariable] command.")
        secret, readonly = parse_bool(c.prop("issecret")), parse_bool(c.prop("isreadonly"))
        store = self.task_variables.setdefault(step.ref_name, Variables(self.masker))
        if store.is_readonly(name):
            if self.read_only_variables:
                raise CommandError(f"Overwriting readonly task variable '{name}' is not permitted.")
            self._issue(step, "warning", f"Overwriting readonly task variable '{name}'.")
        if secret and c.data and self.newline in c.data and not self.allow_multiline_secret:
            raise CommandError("Secrets cannot contain multiple lines")
        store.set(name, c.data, secret=secret, readonly=readonly)
        step.task_variables[name] = c.data
        if secret:
            step.masked.add(c.data)

    # -- what later steps see ------------------------------------------------------------------------------
    def _translator(self, in_container: bool) -> Callable[[str], str]:
        """ExecutionContext.cs TranslatePathForStepTarget, installed as Variables.StringTranslator: for a step that
        runs in the job's container, every variable value (in the environment, in macro expansion, in
        prepended PATH entries: Handler.cs) is translated to the container's paths; on the host, left alone."""
        if in_container and self.container is not None:
            return self.container.translate
        return lambda value: value

    def expand(self, text: str, in_container: bool = False) -> str:
        """TaskRunner.cs: runtime variables' ExpandValues (all variables, secrets included, names
        case-insensitive), then VarUtil.ExpandEnvironmentVariables from the agent's own environment (names
        case-sensitive on Linux). Whatever is still unknown stays literal."""
        translate = self._translator(in_container)
        source = {k: translate(v) for k, v in self.variables.source().items()}
        text = expand_values(text, source, ignore_case=True)
        return expand_values(text, self.agent_environment, ignore_case=self.newline == "\r\n")

    def task_inputs(self, task_json: TaskJson, given: Mapping[str, str] | None = None,
                    in_container: bool = False) -> dict[str, str]:
        """TaskRunner.cs: task.json defaults (trimmed), the step's inputs (keys and values trimmed) over them,
        then macro expansion (a value from a variable is not trimmed again: EnableVariableInputTrimming off)."""
        inputs = {str(i["name"]).strip(): str(i.get("defaultValue") or "").strip()
                  for i in load_task_json(task_json).get("inputs") or [] if str(i.get("name") or "").strip()}
        for key, value in (given or {}).items():
            match = next((k for k in inputs if k.lower() == key.strip().lower()), key.strip())
            if match:
                inputs[match] = (value or "").strip()
        return {k: self.expand(v, in_container) for k, v in inputs.items()}

    def handler_environment(self, env_mapping: Mapping[str, str] | None = None, *,
                            inputs: Mapping[str, str] | None = None, ref_name: str | None = None,
                            base: Mapping[str, str] | None = None, in_container: bool = False) -> dict[str, str]:
        """What a Node handler's process receives (NodeHandler.RunAsync); `in_container`: the step runs in the
        job's container (no `target: host`), so variable values come translated (see _translator)."""
        self.variables.recalculate()  # StepsRunner.cs, before every step
        translate = self._translator(in_container)
        environment = dict(self.agent_environment if base is None else base)
        # TaskRunner.cs: the step's YAML env: (keys and values trimmed), expanded like an input. Handler.Environment
        # starts from it, and the variables below are added after it, so a variable of the same name wins.
        step_env = {k.strip(): self.expand((v or "").strip(), in_container) for k, v in (env_mapping or {}).items()
                    if k.strip()}
        environment.update(step_env)
        # Handler.AddVariablesToEnvironment: public variables under their env names (agent.jobstatus also as is),
        # VSTS_PUBLIC_VARIABLES; secrets only as SECRET_<NAME>, VSTS_SECRET_VARIABLES.
        for variable in self.variables.public:
            if variable.name.lower() == "agent.jobstatus":
                environment[variable.name] = translate(variable.value)
            environment[env_name(variable.name)] = translate(variable.value)
        environment["VSTS_PUBLIC_VARIABLES"] = json.dumps([v.name for v in self.variables.public])
        for variable in self.variables.private:
            environment[f"SECRET_{env_name(variable.name)}"] = translate(variable.value)
        environment["VSTS_SECRET_VARIABLES"] = json.dumps([v.name for v in self.variables.private])
        # Handler.AddInputsToEnvironment
        for key, value in (inputs or {}).items():
            environment[f"INPUT_{env_name(key)}"] = value
        # Handler.AddTaskVariablesToEnvironment: this task instance's task variables, public and secret alike.
        if ref_name is not None and ref_name in self.task_variables:
            store = self.task_variables[ref_name]
            for variable in store.public + store.private:
                environment[f"VSTS_TASKVARIABLE_{env_name(variable.name)}"] = variable.value
        # Handler.AddPrependPathToEnvironment
        if self.prepend_path:
            prepend = [translate(p) for p in reversed(self.prepend_path)]
            environment["PATH"] = ":".join([*prepend, environment.get("PATH", "")]).rstrip(":")
        return environment

    def step_environment(self, env_mapping: Mapping[str, str] | None = None,
                         base: Mapping[str, str] | None = None, in_container: bool = False) -> dict[str, str]:
        """What a later `script:` step's own script sees: the handler environment of its task-lib task
        (CmdLine@2/Bash@3), minus what task-lib takes out of its environment before starting the script."""
        environment = self.handler_environment(env_mapping, base=base, in_container=in_container)
        return {k: v for k, v in environment.items()
                if not k.startswith(TASK_LIB_REMOVES_PREFIXES) and k not in TASK_LIB_REMOVES}

    def post_job_environment(self, ref_name: str, task_json: TaskJson | None = None,
                             inputs: Mapping[str, str] | None = None,
                             base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The task's post-job step (JobExtension.cs: same task instance, its TaskVariables, condition always):
        a Node handler environment with VSTS_TASKVARIABLE_* (secret ones included, unmasked) and the inputs."""
        resolved = self.task_inputs(task_json, inputs) if task_json is not None else dict(inputs or {})
        return self.handler_environment(inputs=resolved, ref_name=ref_name, base=base)


@dataclass
class _StepState:
    declared: set[str]
    result: str | None = None
    reported: str | None = None
    command_result: str | None = None
    force_completed: bool = False


# --- later jobs ------------------------------------------------------------------------------------------------
def job_outputs(job: Job) -> dict[str, str]:
    """The output variables the agent sent with each step's timeline record (ExecutionContext.SetVariable:
    `_record.Variables[name]`, secrets flagged IsSecret), keyed `<step>.<name>` as the server exposes them."""
    return {f"{step}.{name}": out.value for step, outs in job.outputs.items() for name, out in outs.items()}


_DEPENDENCY = re.compile(r"^\s*dependencies\.([A-Za-z0-9_]+)\.outputs\[\s*'([^']+)'\s*\]\s*$")


@dataclass
class Deployment:
    """A deployment job (learn.microsoft.com, "Deployment jobs"): each lifecycle hook it runs (preDeploy, deploy,
    routeTraffic, postRouteTraffic, on: failure/success) is a job of its own on an agent, with its own variables,
    so nothing one hook's steps set reaches another hook. Its outputs reach later jobs under a prefix ("Support
    for output variables"): for runOnce the deployment's own name (`dependencies.A.outputs['A.step.var']`), with
    an environment resource `<hook>_<resource>`, for canary `<hook>_<increment>`, for rolling
    `<hook>_<resource>`."""

    name: str
    strategy: str  # runOnce | rolling | canary
    hooks: dict[str, Job] = field(default_factory=dict)  # hook name -> the job that ran it
    resource: str | None = None
    increment: int | None = None

    def prefix(self, hook: str) -> str:
        if self.strategy == "canary":
            return f"{hook}_{self.increment}"
        if self.strategy == "rolling" or self.resource:
            return f"{hook}_{self.resource}"
        return self.name

    def outputs(self) -> dict[str, str]:
        return {f"{self.prefix(hook)}.{key}": value for hook, job in self.hooks.items()
                for key, value in job_outputs(job).items()}


def dependencies_output(jobs: Mapping[str, Job | Deployment], expression: str) -> str:
    """A later job's `$[ dependencies.<job>.outputs['<step>.<name>'] ]` (learn.microsoft.com, "Set variables in
    scripts" / "Set an output variable for use in future jobs"): the output the step of that job sent; the
    server's expression context compares names case-insensitively; a missing output is an empty string."""
    match = _DEPENDENCY.match(expression)
    if not match:
        raise ValueError(f"not a dependencies output expression: {expression}")
    job_name, key = match.groups()
    job = next((j for n, j in jobs.items() if n.lower() == job_name.lower()), None)
    if job is None:
        return ""
    outputs = job.outputs() if isinstance(job, Deployment) else job_outputs(job)
    return next((v for k, v in outputs.items() if k.lower() == key.lower()), "")
