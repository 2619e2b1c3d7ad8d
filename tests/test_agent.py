"""agent.py: logging commands round-trip through the agent's parsing rules, for any value."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from awswif.agent import Agent, child_environment, escape_data, escape_property

from agent_log import AgentView, lines


def agent(env: dict[str, str] | None = None) -> tuple[Agent, io.StringIO]:
    out = io.StringIO()
    return Agent(env or {}, out), out


@given(name=st.text(min_size=1), value=st.text())
def test_set_variable_round_trips_any_value(name: str, value: str) -> None:
    a, out = agent()
    a.set_variable(name, value, secret=True)
    view = AgentView.of(out.getvalue())
    assert len(view.commands) == 1, "a value must never start a second command or line"
    assert view.variables == {name: value}
    assert view.secret_variables == {name}


@given(text=st.text())
def test_issue_data_round_trips(text: str) -> None:
    a, out = agent()
    a.error(text)
    view = AgentView.of(out.getvalue())
    assert view.errors == [text]


@given(text=st.text())
def test_plain_log_text_is_never_a_command(text: str) -> None:
    a, out = agent()
    a.log(text)
    view = AgentView.of(out.getvalue())
    assert view.commands == []


def test_escaping_matches_task_lib() -> None:
    assert escape_data("100%\r\n]") == "100%AZP25%0D%0A]"
    assert escape_property("a;b]c%") == "a%3Bb%5Dc%AZP25"


def test_command_in_a_claim_is_defused() -> None:
    a, out = agent()
    a.log("sub=sc://org/proj/##vso[task.setvariable variable=AWS_ACCESS_KEY_ID]evil")
    assert AgentView.of(out.getvalue()).variables == {}
    assert len(lines(out.getvalue())) == 2


def test_fail_writes_one_error_and_failed() -> None:
    a, out = agent()
    a.fail("what is wrong.\nmore", "what is wrong.")
    view = AgentView.of(out.getvalue())
    assert view.errors == ["what is wrong.\nmore"] and view.result == "Failed"


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
