"""The Azure Pipelines side: what the agent put in our environment, and the logging commands we
write back. The only module that reads the environment or writes the stdout protocol, so that
escaping and secret handling live in one place."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Optional, TextIO

from .errors import UserError
from .redaction import redact, remember

# Prefixes the agent uses for values a child process must never inherit.
_SECRET_ENV_PREFIXES = ("SECRET_", "ENDPOINT_AUTH_", "INPUT_", "SECUREFILE_TICKET_", "VSTS_TASKVARIABLE_")
# Secrets the agent (or a pipeline's env: mapping) passes under plain names.
_SECRET_ENV_NAMES = {"SYSTEM_ACCESSTOKEN", "AGENT_PROXYPASSWORD"}


# `##vso[` starts a command anywhere in a line, `##[` a log format tag, and a line with `##vso` that is no
# command draws an agent warning (WorkerCommandManager.TryProcessCommand, CommandKeywordDetected).
_COMMAND_START = re.compile(r"##(?=vso|\[)", re.IGNORECASE)
_LINE_BREAK = re.compile(r"\r\n|\n|\r")
# The agent replaces $(name) in an input only when a variable of that name exists, and leaves any
# other $(...) as text (Agent.Worker/TaskRunner.cs, Util/VarUtil.cs ExpandValues).
_UNEXPANDED_MACRO = re.compile(r"\$\(([^)]+)\)")


def escape_data(value: str) -> str:
    """Escape a logging command's data exactly as the agent unescapes it (``%`` first)."""
    return value.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace("]", "%5D").replace(";", "%3B")


def neutralize(text: str) -> str:
    """Plain log text must never be read as a command: the agent acts on ``##vso[`` anywhere in
    a line, and token claims (a connection name in ``sub``) are chosen by users."""
    return _COMMAND_START.sub("## ", text)


def mangle(name: str) -> str:
    return name.replace(".", "_").replace(" ", "_").upper()


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for any process we start: the agent's secrets stay with us."""
    return {k: v for k, v in environ.items() if not _is_secret_name(k)}


def _is_secret_name(name: str) -> bool:
    upper = name.upper()
    return upper.startswith(_SECRET_ENV_PREFIXES) or upper in _SECRET_ENV_NAMES


# The name of a variable (not a secret): launcher.js lists there the inputs that hold a secret.
SECRET_INPUTS = "AWSWIF_SECRET_INPUTS"  # noqa: S105  # nosec B105
# What a failed step reports as its result text (see Agent.fail).
FAILED_SUMMARY = "AwsWifAssume did not get AWS credentials: see the error in the log."


class Agent:
    """Reads what the agent passed to the task and writes logging commands to stdout."""

    def __init__(self, environ: Mapping[str, str], out: TextIO) -> None:
        self._env = environ
        self._out = out
        # INPUT_* names whose value holds a secret variable's value (set by launcher.js, after the job's
        # variables, so no earlier step chooses it).
        self._secret_inputs = {n.strip().upper() for n in environ.get(SECRET_INPUTS, "").split(",") if n.strip()}

    # -- reading -----------------------------------------------------------------------------
    def input(self, name: str) -> str:
        value = self._env.get(f"INPUT_{mangle(name)}", "").strip()
        if f"INPUT_{mangle(name)}" in self._secret_inputs and value:
            # It holds a secret variable's value (the launcher found it): no message may quote it.
            remember(value, minimum=1)
        macro = _UNEXPANDED_MACRO.search(value)
        if macro:
            raise UserError(
                f"The {name} input is '{value}': no variable named {macro.group(1)} exists in this job, so "
                f"the agent passed $({macro.group(1)}) on as text.",
                "Define that variable before this step (variables:, a variable group, or an earlier step's "
                "task.setvariable), check its spelling, or write the value directly.",
            )
        return value

    def boolean_input(self, name: str, default: bool = False) -> bool:
        """A boolean input as the agent passes it ("true"/"false", any case); empty is the default."""
        value = self.input(name).lower()
        if value not in ("", "true", "false"):
            raise UserError(f"The {name} input is '{value}'.", "Use true or false.")
        return value == "true" if value else default

    def variable(self, name: str) -> str:
        return self._env.get(mangle(name), "").strip()

    def secret_variable(self, name: str) -> str:
        return self._env.get(f"SECRET_{mangle(name)}", "")

    def env(self, name: str) -> str:
        return self._env.get(name, "").strip()

    def _endpoint_variable(self, name: str) -> str:
        # The agent names endpoint variables with the connection id as Guid.ToString() gives it, in
        # lower case (Agent.Worker/Handlers/Handler.cs, AddEndpointsToEnvironment), and only the key
        # part upper-cased; Windows upper-cases every name. Match without regard to case.
        value = self._env.get(name)
        if value is not None:
            return value
        upper = name.upper()
        return next((v for k, v in self._env.items() if k.upper() == upper), "")

    def endpoint_auth_parameter(self, endpoint_id: str, key: str) -> str:
        return self._endpoint_variable(f"ENDPOINT_AUTH_PARAMETER_{endpoint_id}_{mangle(key)}")

    def endpoint_data(self, endpoint_id: str, key: str) -> str:
        """A value of the connection's `data` (the fields its type asks for besides credentials)."""
        return self._endpoint_variable(f"ENDPOINT_DATA_{endpoint_id}_{mangle(key)}").strip()

    def endpoint_auth_scheme(self, endpoint_id: str) -> str:
        scheme = self._endpoint_variable(f"ENDPOINT_AUTH_SCHEME_{endpoint_id}")
        if scheme:
            return scheme
        try:
            auth = json.loads(self._endpoint_variable(f"ENDPOINT_AUTH_{endpoint_id}") or "{}")
        except ValueError:
            return ""
        return str(auth.get("scheme", "")) if isinstance(auth, dict) else ""

    def endpoint_known(self, endpoint_id: str) -> bool:
        suffix = f"_{mangle(endpoint_id)}"
        return any(k.startswith("ENDPOINT_") and k.upper().endswith(suffix) for k in self._env)

    @property
    def debug(self) -> bool:
        return self.variable("System.Debug").lower() == "true"

    # -- writing -----------------------------------------------------------------------------
    def _command(self, name: str, data: str = "", **properties: Optional[str]) -> None:
        props = ";".join(f"{k}={escape_property(v)}" for k, v in properties.items() if v is not None)
        self._out.write(f"##vso[{name}{' ' + props if props else ''}]{escape_data(data)}\n")
        self._out.flush()

    def log(self, text: str = "") -> None:
        # Redacted as well as masked: the agent masks only the values registered before this line.
        for line in redact(text).splitlines() or [""]:
            self._out.write(neutralize(line) + "\n")
        self._out.flush()

    def debug_log(self, text: str) -> None:
        if self.debug:
            self._command("task.debug", redact(text))

    def set_secret(self, value: str) -> None:
        remember(value)
        # The agent masks each log line on its own, so a value with a line break would never match:
        # register every line of it instead (the agent ends a line at LF, CRLF and a lone CR).
        for line in dict.fromkeys(_LINE_BREAK.split(value)):
            if line:
                self._command("task.setsecret", line)

    def set_variable(self, name: str, value: str, *, secret: bool = False, output: bool = False) -> None:
        if secret and _LINE_BREAK.search(value):
            # The agent refuses a secret with a line break, fails the step and echoes the command unmasked
            # (TaskCommandExtension.cs, WorkerCommandManager.cs): callers check values before exporting.
            raise ValueError(f"secret variable {name} must be a single line")
        if secret:
            # Registered first: should the agent refuse the setvariable (a read-only variable of that
            # name with agent.readOnlyVariables on), the command line it echoes in its error is masked.
            self.set_secret(value)
        self._command(
            "task.setvariable",
            value,
            variable=name,
            issecret="true" if secret else None,
            isoutput="true" if output else None,
        )

    def set_task_variable(self, name: str, value: str) -> None:
        """Shared with this task instance's post-job step (env VSTS_TASKVARIABLE_<NAME>)."""
        self._command("task.settaskvariable", value, variable=name)

    def upload_summary(self, path: str) -> None:
        """A Markdown file for the run's page (Extensions tab); the agent reads it after the step."""
        self._command("task.uploadsummary", path)

    def warning(self, text: str) -> None:
        self._command("task.logissue", redact(text), type="warning")

    def error(self, text: str) -> None:
        self._command("task.logissue", redact(text), type="error")

    def fail(self, text: str) -> None:
        """The error (masked by the agent, shown with the run) and a Failed result. The result's text
        becomes the timeline record's current operation, which the agent does not mask
        (TaskCommandExtension.cs, TaskCompleteCommand): it is fixed, never a value from the job."""
        self.error(text)
        self._command("task.complete", FAILED_SUMMARY, result="Failed")

    def succeed(self, text: str = "") -> None:
        self._command("task.complete", text, result="Succeeded")


def from_process() -> Agent:
    # The agent decodes task output as UTF-8 whatever the platform's console encoding is.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8", errors="replace", line_buffering=True)
    environ = dict(os.environ)
    # As task-lib does: once read, the agent's secrets leave the process environment, so that no
    # process started later (by us or by a library) can inherit them.
    for name in [k for k in os.environ if _is_secret_name(k)]:
        del os.environ[name]
    return Agent(environ, sys.stdout)
