"""A hostile job: an earlier step of the same job (or an odd server) tries to get the job access token, the
OIDC token or the AWS keys. Each finding of the review (issue 17) is a test here, through the task as
shipped (extracted from the built .vsix), with the agent model (tests/support/agent_model.py) applying what the
earlier step did the way the agent does:

- `##vso[task.setvariable]` overwrites any variable that is not read-only, System.OidcRequestUri and the
  AWS_* names included (Agent.Worker/TaskCommandExtension.cs TaskSetVariableCommand; Constants.cs
  ReadOnlyVariables is enforced only with the agent.readOnlyVariables knob);
- a later Node step gets the job's public variables in its environment after the step's own values
  (Handler.cs AddVariablesToEnvironment), so what the earlier step set is what the task reads;
- the task.complete text becomes the timeline record's current operation, which is not masked
  (TaskCommandExtension.cs TaskCompleteCommand, ExecutionContext.Progress).

The post-job step's path check and the launcher's environment allow-list have their own files
(tests/e2e/test_post_job.py, tests/e2e/test_launcher_env.py); the bounded retries are rows of tests/e2e/test_faults.py."""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import botocore.exceptions
import botocore.loaders
import botocore.session
import pytest

from awswif.errors import UserError

from agent_env import agent_environment
from agent_model import Job
from credential_process_steps import assert_one_line_failure, record, run_process, step_environment, write_config
from fakes import Issuer, Proxy, Reply, Sts, random_string
from launcher import Run, run_launcher

ONE_FAMILY = pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)

SCRIPT_STEP = {"inputs": [], "outputVariables": []}  # a script step, as far as the agent model needs one
# A host of the loopback range other than the stand-ins' 127.0.0.1: what the earlier step points tokens at.
ELSEWHERE = "127.0.0.2"


def earlier_step(job: Job, *commands: str) -> None:
    """An earlier step of the job writes these logging commands (a script step's stdout)."""
    step = job.run_task(SCRIPT_STEP, "\n".join(commands) + "\n", ref_name="earlier")
    assert step.command_failures == [], step.log


def run_task(job: Job, issuer: Issuer, sts: Sts | None, task_dir: Path, env_changes: dict[str, str] | None = None,
             **inputs: str | None) -> Run:
    """The task as the next step of `job`: the agent's handler environment over the stand-ins' one."""
    base = agent_environment(issuer, sts, task_dir, **inputs)
    base.update(env_changes or {})
    return run_launcher(task_dir, job.handler_environment(base=base), job=job)


def secrets_of(issuer: Issuer, *servers: Sts, extra: tuple[str, ...] = ()) -> list[str]:
    values = [issuer.access_token, *issuer.minted, *extra]
    for server in servers:
        for key, session in server.sessions.items():
            values += [key, session.secret_access_key, session.session_token]
    return values


@pytest.fixture
def elsewhere() -> Iterator[Sts]:
    """A server of the earlier step's choosing: it records whatever reaches it."""
    server = Sts(host=ELSEWHERE)
    yield server
    server.close()


# -- 1. no response body, parser text or traceback carries a credential ------------------------------------------
def broken_answer() -> tuple[Reply, tuple[str, str, str]]:
    """HTTP 200 from STS whose XML stops short (a connection closed early): botocore's parser error carries
    the raw body, keys included, and it is no BotoCoreError."""
    key, secret, token = "ASIA" + random_string(16).upper(), random_string(40), "IQoJb3JpZ2luX2Vj" + random_string(300)
    body = ('<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<AssumeRoleWithWebIdentityResult><Credentials>"
            f"<AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>"
            f"<SessionToken>{token}</SessionToken><Expiration>2026-")
    return Reply(200, body, {"Content-Type": "text/xml"}), (key, secret, token)


@ONE_FAMILY
@pytest.mark.parametrize("debug", ["true", "false"])
def test_a_broken_sts_answer_is_retried_and_its_keys_never_shown(issuer: Issuer, sts: Sts, vsix_task_dir: Path,
                                                                 debug: str) -> None:
    reply, keys = broken_answer()
    sts.replies = [reply]
    run = run_task(Job({"System.Debug": debug}), issuer, sts, vsix_task_dir)
    assert run.view.result == "Succeeded", run.stdout
    assert len(sts.calls) == 2 and "could not be read" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert run.leaks(*secrets_of(issuer, sts, extra=keys)) == []


@ONE_FAMILY
def test_broken_sts_answers_fail_with_one_error_and_no_keys(issuer: Issuer, sts: Sts, vsix_task_dir: Path) -> None:
    answers = [broken_answer() for _ in range(2)]
    sts.replies = [reply for reply, _ in answers]
    run = run_task(Job({"System.Debug": "true"}), issuer, sts, vsix_task_dir, retryMaxAttempts="2")
    assert run.view.result == "Failed" and len(run.view.errors) == 1
    assert "after 2 attempts" in run.view.errors[0] and "could not be read" in run.view.errors[0]
    assert run.view.variables == {}
    assert run.leaks(*secrets_of(issuer, sts, extra=tuple(k for _, keys in answers for k in keys))) == []


@ONE_FAMILY
def test_credential_process_shows_no_key_of_a_broken_answer(issuer: Issuer, sts: Sts, tmp_path: Path) -> None:
    config = write_config(tmp_path / "run", {"default": record(issuer, sts, retry_max_attempts="1")})
    reply, keys = broken_answer()
    sts.replies = [reply]
    result = run_process(config, step_environment(tmp_path / "home", config, issuer, SYSTEM_DEBUG="true"))
    assert_one_line_failure(result, "could not be read")
    assert not [k for k in (*keys, issuer.access_token, *issuer.minted) if k in result.stderr + result.stdout]


# -- 2. the job access token goes only to Azure DevOps or the hosts the author listed --------------------------
@ONE_FAMILY
def test_a_redirected_oidc_request_uri_gets_no_job_token(issuer: Issuer, sts: Sts, vsix_task_dir: Path) -> None:
    other = Issuer(host=ELSEWHERE)
    try:
        job = Job({"System.Debug": "true"})
        earlier_step(job, f"##vso[task.setvariable variable=System.OidcRequestUri]{other.request_uri}")
        run = run_task(job, issuer, sts, vsix_task_dir)
        assert run.view.result == "Failed" and len(run.view.errors) == 1, run.stdout
        assert f"points at {ELSEWHERE}" in run.view.errors[0] and "tokenEndpointHosts" in run.view.errors[0]
        assert other.token_requests == [] and issuer.token_requests == [] and sts.calls == []
        assert run.view.variables == {}
    finally:
        other.close()


@ONE_FAMILY
def test_the_author_lists_an_azure_devops_server_host(issuer: Issuer, sts: Sts, vsix_task_dir: Path) -> None:
    """The input is the author's: a host listed there is used (here the stand-in's, without which it fails)."""
    refused = run_task(Job(), issuer, sts, vsix_task_dir, tokenEndpointHosts="")
    assert refused.view.result == "Failed" and issuer.token_requests == []
    allowed = run_task(Job(), issuer, sts, vsix_task_dir, tokenEndpointHosts="tfs.contoso.com, 127.0.0.1")
    assert allowed.view.result == "Succeeded", allowed.stdout


@ONE_FAMILY
def test_credential_process_uses_the_recorded_token_endpoint(issuer: Issuer, sts: Sts, tmp_path: Path) -> None:
    """A step since the task may have changed SYSTEM_OIDCREQUESTURI: the refresh uses what the task recorded."""
    other = Issuer(host=ELSEWHERE)
    try:
        config = write_config(tmp_path / "run", {"default": record(issuer, sts)})
        env = step_environment(tmp_path / "home", config, issuer, SYSTEM_OIDCREQUESTURI=other.request_uri)
        result = run_process(config, env)
        assert result.returncode == 0, result.stderr
        assert other.token_requests == [] and len(issuer.token_requests) == 1
        # And a record naming a host the task would not send the token to is refused.
        bad = write_config(tmp_path / "bad", {"default": record(issuer, sts, oidc_request_uri=other.request_uri)})
        result = run_process(bad, step_environment(tmp_path / "home", bad, issuer))
        assert_one_line_failure(result, f"points at {ELSEWHERE}")
        assert other.token_requests == []
    finally:
        other.close()


# -- 3. the OIDC token goes only to the STS the task chose -----------------------------------------------------
@pytest.fixture
def blocking_proxy() -> Iterator[Proxy]:
    """Where a call to AWS itself would go: a proxy that records and refuses anything beyond loopback (no test
    ever reaches AWS)."""
    proxy = Proxy()
    yield proxy
    proxy.close()


@ONE_FAMILY
def test_aws_endpoint_url_variables_do_not_choose_sts(issuer: Issuer, elsewhere: Sts, blocking_proxy: Proxy,
                                                      vsix_task_dir: Path, tmp_path: Path) -> None:
    """AWS_ENDPOINT_URL and a config file's endpoint_url, set by an earlier step: the task still goes to the
    region's endpoint (here refused by the proxy, as no test reaches AWS); the elsewhere STS sees nothing."""
    config = tmp_path / "config"
    config.write_text(f"[default]\nendpoint_url = {elsewhere.url}\nservices = s\n"
                      f"[services s]\nsts =\n  endpoint_url = {elsewhere.url}\n", encoding="ascii")
    job = Job({"System.Debug": "true"})
    earlier_step(job, f"##vso[task.setvariable variable=AWS_ENDPOINT_URL]{elsewhere.url}",
                 f"##vso[task.setvariable variable=AWS_CONFIG_FILE]{config}",
                 f"##vso[task.setvariable variable=HTTPS_PROXY]{blocking_proxy.url}")
    run = run_task(job, issuer, None, vsix_task_dir, retryMaxAttempts="1")
    assert run.view.result == "Failed", run.stdout
    assert elsewhere.calls == []
    assert blocking_proxy.blocked == ["sts.eu-west-1.amazonaws.com:443"]
    assert run.leaks(*secrets_of(issuer)) == []


@ONE_FAMILY
def test_aws_endpoint_url_sts_must_name_an_aws_host(issuer: Issuer, elsewhere: Sts, vsix_task_dir: Path) -> None:
    job = Job()
    earlier_step(job, f"##vso[task.setvariable variable=AWS_ENDPOINT_URL_STS]{elsewhere.url}")
    run = run_task(job, issuer, None, vsix_task_dir)
    assert run.view.result == "Failed" and len(run.view.errors) == 1
    assert "not an AWS host" in run.view.errors[0] and "stsEndpoint" in run.view.errors[0]
    assert elsewhere.calls == [] and issuer.token_requests == []


@ONE_FAMILY
def test_aws_endpoint_url_sts_may_name_a_vpc_endpoint(issuer: Issuer, blocking_proxy: Proxy,
                                                      vsix_task_dir: Path) -> None:
    vpce = "vpce-0a1b2c3d4e5f-abcdefgh.sts.eu-west-1.vpce.amazonaws.com"
    run = run_task(Job(), issuer, None, vsix_task_dir, {"AWS_ENDPOINT_URL_STS": f"https://{vpce}",
                                                        "HTTPS_PROXY": blocking_proxy.url}, retryMaxAttempts="1")
    assert blocking_proxy.blocked == [f"{vpce}:443"], run.stdout


def test_botocore_data_in_home_does_not_redirect_sts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     blocking_proxy: Proxy, elsewhere: Sts) -> None:
    """~/.aws/models (botocore's customer data path, searched before its own) with an endpoint rule set that
    sends STS elsewhere: the task's client still calls AWS's endpoint (real botocore; the call ends at the
    proxy that refuses everything beyond loopback), and the elsewhere server sees nothing."""
    from awswif import sts as sts_module
    from awswif.retry import Deadline

    builtin = Path(botocore.loaders.Loader.BUILTIN_DATA_PATH) / "sts" / "2011-06-15"
    rules_file = next(builtin.glob("endpoint-rule-set-1.json*"))
    raw = gzip.decompress(rules_file.read_bytes()) if rules_file.suffix == ".gz" else rules_file.read_bytes()
    rules = re.sub(r'"url":\s*"[^"]+"', f'"url": "{elsewhere.url}"', raw.decode())
    planted = tmp_path / ".aws" / "models" / "sts" / "2011-06-15"
    planted.mkdir(parents=True)
    (planted / "endpoint-rule-set-1.json").write_text(rules)
    shutil.copy(next(builtin.glob("service-2.json*")), planted)
    monkeypatch.setattr(botocore.loaders.Loader, "CUSTOMER_DATA_PATH", str(tmp_path / ".aws" / "models"))
    monkeypatch.setenv("HTTPS_PROXY", blocking_proxy.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x" * 40)
    # What an unguarded botocore session does with that file: the plant works.
    naive = botocore.session.Session().create_client("sts", region_name="eu-west-1")
    with pytest.raises(botocore.exceptions.ClientError):  # the elsewhere server answered it
        naive.get_caller_identity()
    assert len(elsewhere.calls) == 1
    sts_module._botocore_session.cache_clear()
    try:
        client = sts_module.make_client("eu-west-1", None, "test", read_timeout=5)
        with pytest.raises(UserError, match="could not be reached"):
            sts_module.assume_role(client, "arn:aws:iam::123456789012:role/deploy", "s1", 900, "token",
                                   lambda: "token", Deadline(10, max_attempts=1), lambda _: None)
    finally:
        sts_module._botocore_session.cache_clear()
    assert len(elsewhere.calls) == 1
    assert blocking_proxy.blocked == ["sts.eu-west-1.amazonaws.com:443"]


# -- 6. inputs are never echoed where nothing masks them --------------------------------------------------------
INPUT_TRAPS = [
    ("roleSessionName", "$(mySecret)", "not a valid session name"),
    ("region", "$(mySecret)", "not an AWS region code"),
    ("stsEndpoint", "https://deploy:$(mySecret)@sts.example.com", "contains a user name or password"),
    ("timeoutSeconds", "$(mySecret)", "is not valid"),
]


@ONE_FAMILY
@pytest.mark.parametrize(("name", "value", "message"), INPUT_TRAPS, ids=[t[0] for t in INPUT_TRAPS])
def test_an_invalid_input_holding_a_secret_is_not_shown(issuer: Issuer, sts: Sts, vsix_task_dir: Path, name: str,
                                                        value: str, message: str) -> None:
    secret = "hunter2 " + random_string(24)
    job = Job({"System.Debug": "true"}, {"mySecret": secret})
    # TaskRunner.cs: the step's inputs, macro-expanded from every variable, secrets included.
    expanded = job.task_inputs(vsix_task_dir, {name: value})[name]
    assert secret in expanded
    run = run_task(job, issuer, sts, vsix_task_dir, **{name: expanded})
    assert run.view.result == "Failed" and len(run.view.errors) == 1 and message in run.view.errors[0]
    assert secret not in (run.view.current_operation or "")
    assert run.leaks(secret, secret.split()[1]) == []


# -- 8. the config file is ASCII -------------------------------------------------------------------------------
@ONE_FAMILY
def test_a_non_ascii_session_policy_leaves_the_config_file_ascii(issuer: Issuer, sts: Sts, vsix_task_dir: Path,
                                                                 tmp_path: Path) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Sid": "Deploy", "Effect": "Allow", "Action": "s3:*",
                                                      "Resource": "*",
                                                      "Condition": {"StringEquals": {"aws:PrincipalTag/team": "Müller"}}}]}
    env_changes = {"AGENT_TEMPDIRECTORY": str(tmp_path)}
    run = run_task(Job(), issuer, sts, vsix_task_dir, env_changes, refreshingProfiles="true",
                   sessionPolicy=json.dumps(policy, ensure_ascii=False))
    assert run.view.result == "Succeeded", run.stdout
    config = Path(run.view.variables["AWS_CONFIG_FILE"])
    config.read_bytes().decode("ascii")
    # The refresh sends STS exactly what the task sent.
    sent = [c["Policy"] for c in sts.calls if c["Action"] == "AssumeRoleWithWebIdentity"]
    env = step_environment(tmp_path / "home", config, issuer)
    env.pop("LANG")
    line = next(x.split(" = ", 1)[1] for x in config.read_text().splitlines() if x.startswith("credential_process"))
    result = subprocess.run(shlex.split(line), env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    refreshed = [c["Policy"] for c in sts.calls if c["Action"] == "AssumeRoleWithWebIdentity"]
    assert refreshed[-1] == sent[0] and "Müller" in sent[0]
    assert os.path.exists(config)
