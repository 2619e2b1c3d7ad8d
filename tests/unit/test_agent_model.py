"""The agent model's rules (tests/support/agent_model.py), each on hand-written task output, so that a test
that relies on the model relies on rules that are checked. Source references are in the model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_model import Job, StepResult, dependencies_output, escape, job_outputs, parse_line, split_lines, unescape

PLAIN_TASK: dict[str, Any] = {"inputs": [], "outputVariables": []}

# task/task.json's outputVariables before issue #9 (commit 79dccf2): the AWS_* names later steps read.
OLD_TASK: dict[str, Any] = {"inputs": [], "outputVariables": [{"name": n} for n in (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
    "AWS_CREDENTIAL_EXPIRATION", "AWS_ACCOUNT_ID", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ASSUMED_ROLE_ARN")]}


def run(output: str, task: dict[str, Any] | None = None, job: Job | None = None, ref_name: str = "assume",
        stderr: str = "", exit_code: int = 0) -> tuple[Job, StepResult]:
    job = job or Job()
    return job, job.run_task(task or PLAIN_TASK, output, ref_name, stderr=stderr, exit_code=exit_code)


# -- parsing ----------------------------------------------------------------------------------------------
def test_command_anywhere_in_a_line_up_to_the_first_bracket() -> None:
    command = parse_line("time: ##vso[task.setvariable variable=a;isSecret=True]x]y")
    assert command is not None and command.name == "task.setvariable"
    assert command.prop("ISSECRET") == "True" and command.data == "x]y"
    assert parse_line("##VSO[task.setvariable variable=a]x") is None, "the prefix is case-sensitive"
    assert parse_line("##vso[task.setvariable variable=a x") is None
    assert parse_line("##vso[setvariable variable=a]x") is None, "area.event is required"


def test_property_keys_are_not_trimmed_and_empty_values_are_dropped() -> None:
    command = parse_line("##vso[task.setvariable variable=a; issecret=true;isoutput=]x")
    assert command is not None
    assert command.prop("issecret") is None and command.prop(" issecret") == "true"
    assert command.prop("isoutput") is None


@given(st.text())
def test_escape_round_trips(value: str) -> None:
    assert unescape(escape(value)) == value
    line = f"##vso[task.setvariable variable={escape(value)}]{escape(value)}"
    command = parse_line(line)
    assert command is not None and command.data == value and len(split_lines(line)) == 1
    if value:
        assert command.prop("variable") == value


def test_percent_decoding() -> None:
    assert unescape("100%AZP25 %3B%5D%0D%0A") == "100% ;]\r\n"
    assert unescape("100%AZP25", decode_percents=False) == "100%AZP25"


def test_lines_end_at_lf_crlf_and_lone_cr() -> None:
    assert split_lines("a\nb\r\nc\rd\n") == ["a", "b", "c", "d"]


# -- setvariable and outputs -----------------------------------------------------------------------------
def test_a_declared_output_name_is_output_only_whatever_setvariable_says() -> None:
    task: dict[str, Any] = {"outputVariables": [{"name": "AWS_REGION"}]}
    job, step = run("##vso[task.setvariable variable=aws_region]eu-west-1\n", task)
    assert step.variables == {} and step.output_variables == {"aws_region": "eu-west-1"}
    assert job.variables.get("AWS_REGION") is None and job.variables.get("assume.aws_region") == "eu-west-1"
    env = job.step_environment()
    assert "AWS_REGION" not in env and env["ASSUME_AWS_REGION"] == "eu-west-1"


def test_isoutput_sets_ref_name_variable_and_timeline_output() -> None:
    job, step = run("##vso[task.setvariable variable=awsRegion;isOutput=true]eu-west-1\n", ref_name="creds")
    assert step.output_variables == {"awsRegion": "eu-west-1"} and step.variables == {}
    assert job.expand("$(creds.awsRegion) $(awsRegion)") == "eu-west-1 $(awsRegion)"
    assert job.step_environment()["CREDS_AWSREGION"] == "eu-west-1"
    assert job.variables.is_readonly("creds.awsRegion"), "isoutput makes the <step>.<name> variable read-only"
    assert job_outputs(job) == {"creds.awsRegion": "eu-west-1"}
    assert dependencies_output({"A": job}, "dependencies.A.outputs['creds.awsRegion']") == "eu-west-1"
    assert dependencies_output({"A": job}, "dependencies.A.outputs['creds.AWS_REGION']") == ""


def test_plain_variable_reaches_later_steps_under_its_env_name() -> None:
    job, step = run("##vso[task.setvariable variable=My.Var Name]v\n")
    assert step.variables == {"My.Var Name": "v"}
    assert job.step_environment()["MY_VAR_NAME"] == "v"
    assert job.expand("$(my.var name)") == "v", "macro names compare case-insensitively"


def test_old_task_json_gives_literal_macros_to_the_documented_mapping() -> None:
    """Issue #9: with AWS_* declared in outputVariables, a later step's env: AWS_ACCESS_KEY_ID:
    $(AWS_ACCESS_KEY_ID) received the text "$(AWS_ACCESS_KEY_ID)"."""
    output = ("##vso[task.setvariable variable=AWS_ACCESS_KEY_ID;issecret=true]ASIAEXAMPLE\n"
              "##vso[task.setvariable variable=AWS_REGION]eu-west-1\n")
    mapping = {"AWS_ACCESS_KEY_ID": "$(AWS_ACCESS_KEY_ID)"}
    old, _ = run(output, OLD_TASK)
    env = old.step_environment(mapping)
    assert env["AWS_ACCESS_KEY_ID"] == "$(AWS_ACCESS_KEY_ID)" and "AWS_REGION" not in env
    new, _ = run(output, PLAIN_TASK)
    env = new.step_environment(mapping)
    assert env["AWS_ACCESS_KEY_ID"] == "ASIAEXAMPLE" and env["AWS_REGION"] == "eu-west-1"


def test_secrets_reach_a_later_step_only_through_env_mapping() -> None:
    job, step = run("##vso[task.setvariable variable=TOKEN;issecret=true]s3cr3t-value\n")
    assert step.secret_variables == {"TOKEN"}
    handler = job.handler_environment()
    assert handler["SECRET_TOKEN"] == "s3cr3t-value", "a task-lib task reads it from SECRET_TOKEN"
    assert "s3cr3t-value" not in job.step_environment().values(), "task-lib removes SECRET_* before the script"
    assert job.step_environment({"TOKEN": "$(TOKEN)"})["TOKEN"] == "s3cr3t-value"


def test_a_job_variable_wins_over_env_mapping_of_the_same_name() -> None:
    job, _ = run("##vso[task.setvariable variable=AWS_REGION]eu-west-1\n")
    env = job.step_environment({"AWS_REGION": "us-east-1", "OTHER": "$(AWS_REGION)"})
    assert env["AWS_REGION"] == "eu-west-1" and env["OTHER"] == "eu-west-1"


def test_macros_unknown_stay_literal_known_expand_once() -> None:
    job = Job({"a": "$(b)", "b": "B", "c": "$(c)"})
    job.variables.recalculate()
    assert job.expand("$(a)|$(missing)|$()|$(A") == "B|$(missing)|$()|$(A"
    assert job.variables.get("c") == "$(c)", "a cycle leaves the variable unexpanded"
    job.agent_environment["FROM_AGENT"] = "agent"
    assert job.expand("$(FROM_AGENT) $(from_agent)") == "agent $(from_agent)", "then the agent's own environment"


def test_a_variable_built_from_a_secret_is_secret() -> None:
    job = Job({"url": "https://x/$(token)"}, {"token": "tok-123"})
    job.variables.recalculate()
    assert job.variables.is_secret("url")
    assert "URL" not in job.step_environment()


def test_readonly_variable_warns_by_default_and_fails_with_the_knob() -> None:
    _, step = run("##vso[task.setvariable variable=system.debug]true\n", job=Job({"System.Debug": "false"}))
    assert step.result == "Succeeded" and "readonly" in step.warnings[0]
    _, step = run("##vso[task.setvariable variable=system.debug]true\n",
                  job=Job({"System.Debug": "false"}, read_only_variables=True))
    assert step.result == "Failed"


# -- secrets and masking ------------------------------------------------------------------------------------
def test_secret_with_a_newline_fails_the_step_and_is_echoed() -> None:
    job, step = run("##vso[task.setvariable variable=K;issecret=true]line1%0Aline2\n")
    assert step.result == "Failed" and step.variables == {}
    assert job.variables.get("K") is None
    assert step.leaks(["line1\nline2", "line1%0Aline2"]), "the agent echoes the rejected command unmasked"
    _, step = run("##vso[task.setvariable variable=K;issecret=true]a%0Db\n")
    assert step.result == "Succeeded", "a lone CR is no Environment.NewLine on Linux"


def test_masking_starts_when_the_agent_reads_the_secret() -> None:
    output = "before tok-123\n##vso[task.setsecret]tok-123\nafter tok-123 and tok%2D123 and \"tok-123\"\n"
    _, step = run(output)
    assert step.log == ["before tok-123", "after *** and tok%2D123 and \"***\""]
    assert step.leaks(["tok-123"]) == ["before tok-123", "after tok-123 and tok%2D123 and \"tok-123\"",
                                       "before tok-123"]


def test_encoded_forms_are_masked() -> None:
    _, step = run("##vso[task.setsecret]p@ss word\nurl p%40ss%20word\n")
    assert step.log == ["url ***"]


def test_a_multi_line_setsecret_masks_nothing_line_by_line() -> None:
    _, step = run("##vso[task.setsecret]first%0Asecond\nfirst\nsecond\n")
    assert step.result == "Succeeded" and step.log == ["first", "second"]


def test_url_passwords_are_always_masked() -> None:
    _, step = run("proxy https://user:pa%3Bss@proxy:8080/\n")
    assert step.log == ["proxy https://user:***@proxy:8080/"]


def test_stderr_commands_count() -> None:
    _, step = run("", stderr="##vso[task.logissue type=error]bad\n##vso[task.complete result=Failed]bad\n")
    assert step.errors == ["bad"] and step.result == "Failed"


# -- results, issues, unknown commands --------------------------------------------------------------------------
@pytest.mark.parametrize(("command", "result"), [
    ("##vso[task.complete result=Succeeded]", "Succeeded"),
    ("##vso[task.complete result=SucceededWithIssues]", "SucceededWithIssues"),
    ("##vso[task.complete result=Failed]", "Failed"),
    ("##vso[task.complete result=succeeded]", "Failed"),  # case-sensitive: the command itself fails
    ("##vso[task.complete]", "Failed"),
    ("##vso[task.logissue type=error]only an error", "Succeeded"),
    ("##vso[task.logissue type=info]x", "Failed"),
    ("##vso[task.logissue]x", "Succeeded"),
    ("##vso[task.nosuchevent]x", "Failed"),
    ("##vso[nosucharea.event]x", "Succeeded"),
    ("##vso[task.setvariable]x", "Failed"),
])
def test_step_results(command: str, result: str) -> None:
    _, step = run(command + "\n")
    assert step.result == result


def test_results_merge_worst_wins_and_exit_code_fails() -> None:
    _, step = run("##vso[task.complete result=Failed]\n##vso[task.complete result=Succeeded]\n")
    assert step.result == "Failed"
    _, step = run("##vso[task.complete result=Succeeded]\n", exit_code=1)
    assert step.result == "Failed" and step.reported == "Succeeded"


def test_complete_data_goes_to_the_timeline_unmasked() -> None:
    _, step = run("##vso[task.setsecret]tok-123\n##vso[task.complete result=Failed]failed with tok-123\n")
    assert step.current_operation == "failed with tok-123" and step.leaks(["tok-123"]) != []


def test_done_drops_later_output() -> None:
    _, step = run("##vso[task.complete result=Succeeded;done=true]\n##vso[task.setvariable variable=x]y\n")
    assert step.variables == {}


def test_a_broken_command_keyword_warns() -> None:
    _, step = run("##vso[task.setvariable variable=x\n")
    assert "not a legal command" in step.warnings[0]


# -- task variables and the post-job step --------------------------------------------------------------------
def test_task_variables_reach_only_the_same_instance_post_job_step() -> None:
    job, step = run("##vso[task.settaskvariable variable=file]/tmp/f\n"
                    "##vso[task.settaskvariable variable=key;issecret=true]k-123\n")
    assert step.task_variables == {"file": "/tmp/f", "key": "k-123"}
    post = job.post_job_environment("assume")
    assert post["VSTS_TASKVARIABLE_FILE"] == "/tmp/f" and post["VSTS_TASKVARIABLE_KEY"] == "k-123"
    assert "VSTS_TASKVARIABLE_FILE" not in job.post_job_environment("other")
    assert "VSTS_TASKVARIABLE_FILE" not in job.step_environment() and "FILE" not in job.step_environment()


def test_inputs_defaults_trimming_and_macros() -> None:
    job = Job({"region": " eu-west-1 "})
    task: dict[str, Any] = {"inputs": [{"name": "region", "defaultValue": " x "}, {"name": "roleArn", "defaultValue": ""}]}
    assert job.task_inputs(task) == {"region": "x", "roleArn": ""}
    assert job.task_inputs(task, {"Region": "  $(region)  "}) == {"region": " eu-west-1 ", "roleArn": ""}
    assert job.post_job_environment("assume", task, {"roleArn": "arn"})["INPUT_ROLEARN"] == "arn"
