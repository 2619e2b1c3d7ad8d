"""agent.py: logging commands round-trip through the agent's parsing rules, for any value."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from awswif.agent import FAILED_SUMMARY, Agent, child_environment, escape_data, escape_property

from agent_model import Job, StepResult, split_lines


def agent(env: dict[str, str] | None = None) -> tuple[Agent, io.StringIO]:
    out = io.StringIO()
    return Agent(env or {}, out), out


def on_agent(out: io.StringIO) -> StepResult:
    """The output as one step of a job on the agent (tests/support/agent_model.py)."""
    return Job().run_task({"inputs": [], "outputVariables": []}, out.getvalue())


@given(name=st.text(min_size=1), value=st.text())
def test_set_variable_round_trips_any_value(name: str, value: str) -> None:
    a, out = agent()
    a.set_variable(name, value)
    view = on_agent(out)
    assert len(view.commands) == 1, "a value must never start a second command or line"
    assert view.variables == {name: value} and view.result == "Succeeded"


@given(name=st.text(min_size=1), value=st.text())
def test_secret_variable_round_trips_or_is_refused(name: str, value: str) -> None:
    a, out = agent()
    if "\n" in value or "\r" in value:
        # The agent would fail the step and echo the value: never written.
        with pytest.raises(ValueError, match="single line"):
            a.set_variable(name, value, secret=True)
        assert out.getvalue() == ""
        return
    a.set_variable(name, value, secret=True)
    view = on_agent(out)
    assert view.variables == {name: value} and view.secret_variables == {name} and view.result == "Succeeded"


def test_a_refused_secret_variable_is_not_echoed_in_clear() -> None:
    a, out = agent()
    a.set_variable("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG", secret=True)
    job = Job({"agent.readOnlyVariables": "true"}, read_only_variables=True)
    job.variables.set("AWS_SECRET_ACCESS_KEY", "from-the-pipeline", readonly=True)
    view = job.run_task({"inputs": [], "outputVariables": []}, out.getvalue())
    assert view.result == "Failed" and "Unable to process command" in view.errors[0]
    assert view.leaks(["wJalrXUtnFEMI/K7MDENG"]) == []


def test_multi_line_secret_is_registered_line_by_line() -> None:
    a, out = agent()
    a.set_secret("first-line\r\nsecond-line\rfirst-line")
    a.log("first-line and second-line")
    view = on_agent(out)
    assert view.log == ["*** and ***"] and view.result == "Succeeded"


@given(text=st.text())
def test_issue_data_round_trips(text: str) -> None:
    a, out = agent()
    a.error(text)
    view = on_agent(out)
    assert view.errors == [text] and view.result == "Succeeded"


@given(text=st.text())
def test_plain_log_text_is_never_a_command(text: str) -> None:
    a, out = agent()
    a.log(text)
    view = on_agent(out)
    assert view.commands == [] and view.warnings == []


def test_escaping_matches_task_lib() -> None:
    assert escape_data("100%\r\n]") == "100%AZP25%0D%0A]"
    assert escape_property("a;b]c%") == "a%3Bb%5Dc%AZP25"


def test_command_in_a_claim_is_defused() -> None:
    a, out = agent()
    a.log("sub=sc://org/proj/##vso[task.setvariable variable=AWS_ACCESS_KEY_ID]evil")
    assert on_agent(out).variables == {}
    assert len(split_lines(out.getvalue())) == 1


def test_command_keyword_in_log_text_draws_no_agent_warning() -> None:
    a, out = agent()
    a.log("subject sc://org/##vso/conn and ##VSO[x] and ##[error]")
    view = on_agent(out)
    assert view.warnings == [] and view.commands == [] and view.plain == ["subject sc://org/## vso/conn and ## VSO[x] and ## [error]"]


def test_fail_writes_one_error_and_failed() -> None:
    a, out = agent()
    a.fail("what is wrong.\nmore")
    view = on_agent(out)
    assert view.errors == ["what is wrong.\nmore"] and view.result == "Failed"
    # The result's text is the timeline's current operation, which the agent does not mask: fixed.
    assert view.current_operation == FAILED_SUMMARY


def test_child_environment_drops_agent_secrets() -> None:
    env = {"PATH": "/bin", "SECRET_SYSTEM_ACCESSTOKEN": "x", "ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN": "x",
           "INPUT_ROLEARN": "x", "endpoint_auth_abc": "x", "SYSTEM_TEAMPROJECT": "infra"}
    assert child_environment(env) == {"PATH": "/bin", "SYSTEM_TEAMPROJECT": "infra"}


def test_reads_inputs_and_endpoints_by_mangled_name() -> None:
    a, _ = agent({"INPUT_ROLEARN": "  arn  ", "SYSTEM_OIDCREQUESTURI": "u", "SECRET_SYSTEM_ACCESSTOKEN": "t",
                  "ENDPOINT_AUTH_SCHEME_ABC": "WorkloadIdentityFederation", "SYSTEM_DEBUG": "True"})
    assert a.input("roleArn") == "arn"
    assert a.variable("System.OidcRequestUri") == "u"
    assert a.secret_variable("System.AccessToken") == "t"
    assert a.endpoint_auth_scheme("abc") == "WorkloadIdentityFederation"
    assert a.debug


def test_secrets_leave_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import subprocess
    import sys

    from awswif import agent as agent_module

    secrets = {"SECRET_SYSTEM_ACCESSTOKEN": "s1", "ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN": "s2",
               "INPUT_ROLEARN": "arn:aws:iam::123456789012:role/x", "SYSTEM_ACCESSTOKEN": "s3",
               "AGENT_PROXYPASSWORD": "s4", "ENDPOINT_AUTH_ABC": "{}"}
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SYSTEM_TEAMPROJECT", "infra")
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    a = agent_module.from_process()
    assert a.input("roleArn") == "arn:aws:iam::123456789012:role/x"
    assert a.secret_variable("System.AccessToken") == "s1"
    child = subprocess.run([sys.executable, "-c", "import os, json; print(json.dumps(dict(os.environ)))"],
                           capture_output=True, text=True, check=True)
    inherited = json.loads(child.stdout)
    assert not set(secrets) & set(inherited)
    assert inherited["SYSTEM_TEAMPROJECT"] == "infra" and "SYSTEM_TEAMPROJECT" in os.environ
