"""The profiles the task writes, read by the credential code of Terraform's hashicorp/aws provider itself.

The provider cannot be downloaded here, so tests/support/awsbase stands in for it: a Go program built from the
library the provider resolves credentials with, github.com/hashicorp/aws-sdk-go-base/v2, filling
awsbase.Config as the provider does for `provider "aws" { profile = NAME; endpoints { sts = URL } }`,
then calling STS GetCallerIdentity as data "aws_caller_identity" does (tests/support/awsbase_probe.py builds
and runs it). The task runs from the built .vsix through the real launcher; the probe runs as a later
step with the environment the agent model gives it. Every endpoint is a stand-in on 127.0.0.1, and a
tripwire (the instance metadata address and an HTTP(S) proxy for every other host) proves that nothing
else was asked.

Go sources cited below are in the module cache (`go env GOMODCACHE`, /root/go/pkg/mod here), at the
versions tests/support/awsbase/go.mod pins."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from awswif.trust import trust_policy

import installed_task
import many_accounts
from agent_env import ACCOUNT
from awsbase_probe import ProbeResults, run_probe
from fakes import Issuer, Proxy, Sts
from installed_task import Installed
from installed_task import installed as installed
from launcher import Run
from many_accounts import DIRECT_ACCOUNT, ONE_FAMILY, SECRET_NAMES, SPOKE_ACCOUNT
from many_accounts import accounts as accounts

SESSION = "azp-infra-4711"
IDENTITIES = {
    "default": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/{SESSION}",
    "prod": f"arn:aws:sts::{DIRECT_ACCOUNT}:assumed-role/direct/{SESSION}",
    "spoke": f"arn:aws:sts::{SPOKE_ACCOUNT}:assumed-role/spoke/{SESSION}",
}
ACCOUNTS = {"default": ACCOUNT, "prod": DIRECT_ACCOUNT, "spoke": SPOKE_ACCOUNT}
# aws-sdk-go-v2/credentials@v1.19.31/processcreds/provider.go: DefaultTimeout = time.Duration(1) * time.Minute
GO_PROCESS_TIMEOUT = 60.0
PROXY_NAMES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class Tripwire:
    """Where a request that must never happen would land: the instance metadata service's address
    (AWS_EC2_METADATA_SERVICE_ENDPOINT, a recorder on loopback) and an HTTP(S) proxy that records and
    refuses every request for a host outside loopback (loopback itself goes direct: Go's
    x/net/http/httpproxy never proxies it, and NO_PROXY names it for Python)."""

    def __init__(self) -> None:
        self.imds_requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                outer.imds_requests.append((self.command, self.path))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_POST = _record

            def log_message(self, *args: Any) -> None:
                pass

        self.imds = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.imds.daemon_threads = True
        threading.Thread(target=self.imds.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.proxy = Proxy()

    def environment(self) -> dict[str, str]:
        proxy = self.proxy.url
        return {"AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{self.imds.server_address[1]}/",
                "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "http_proxy": proxy,
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}

    def assert_untouched(self) -> None:
        assert self.imds_requests == [], f"the instance metadata service was asked: {self.imds_requests}"
        assert self.proxy.blocked == [], f"requests for hosts outside this machine: {self.proxy.blocked}"

    def close(self) -> None:
        self.imds.shutdown()
        self.imds.server_close()
        self.proxy.close()


@pytest.fixture
def tripwire() -> Iterator[Tripwire]:
    wire = Tripwire()
    yield wire
    wire.close()


def plain_layout(vsix_task_dir: Path, tmp_path: Path) -> Installed:
    """The task from the .vsix as a hosted agent lays it out: no space in any path, so the
    credential_process line has no quote (`_work/_tasks/...`, the tool cache's Python, `_work/_temp`)."""
    task = tmp_path / "work" / "_tasks" / "AwsWifAssume_1.0.0"
    shutil.copytree(vsix_task_dir, task)
    python = tmp_path / "hostedtoolcache" / "Python" / "3" / "bin" / "python3"
    python.parent.mkdir(parents=True)
    python.symlink_to(Path(getattr(sys, "_base_executable", sys.executable)).resolve())
    temp = tmp_path / "work" / "_temp"
    temp.mkdir()
    return Installed(task, python, temp)


@pytest.fixture(params=["paths with spaces", "plain paths"])
def agent(request: pytest.FixtureRequest, vsix_task_dir: Path, tmp_path: Path) -> Installed:
    """Both layouts: installed_task.py's agent with spaces in the task's, Python's and the temp folder's
    paths (every path in the line single-quoted), and a hosted agent's plain one."""
    if request.param == "paths with spaces":
        where: Installed = request.getfixturevalue("installed")
        return where
    return plain_layout(vsix_task_dir, tmp_path)


def process_value(config: Path, profile: str) -> str:
    """The profile's credential_process value as written (botocore's reading: the text after ` = `)."""
    section = "[default]" if profile == "default" else f"[profile {profile}]"
    lines = config.read_text().splitlines()
    start = lines.index(section)
    line = next(x for x in lines[start + 1:] if x.startswith("credential_process = "))
    return line.split(" = ", 1)[1]


def go_ini_diagnosis(config: Path, profiles: list[str]) -> str:
    """Why the Go SDK would run a different line than botocore, if it would: its INI reader drops a
    quote pair that wraps a whole value (aws-sdk-go-v2/config@v1.32.32/internal/ini/strings.go,
    legacyStrconv -> unquote, applied in tokenize.go to every property) and cuts a value at ` #`, ` ;`
    (trimPropertyComment), quoted or not."""
    found = []
    for name in profiles:
        value = process_value(config, name)
        if value[:1] in "'\"" and value[-1:] == value[:1]:
            found.append(f"{name}: the value starts and ends with {value[0]}, so the Go SDK strips both and "
                         f"hands sh -c {value[1:-1]!r}")
        if any(mark in value for mark in (" #", " ;", "\t#", "\t;")):
            found.append(f"{name}: the Go SDK cuts the value at an inline comment marker")
    return "; ".join(found)


def agent_process_environment(home: Path, tripwire: Tripwire) -> dict[str, str]:
    """What every step process inherits from the agent: this machine's environment without AWS or proxy
    settings, an empty HOME (no ~/.aws), and the tripwire."""
    home.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k.lower() not in PROXY_NAMES}
    base["HOME"] = str(home)
    base.update(tripwire.environment())
    return base


def plain_step(run: Run, home: Path, tripwire: Tripwire) -> dict[str, str]:
    """A later `script:` step with no env: mapping: the job's plain variables (AWS_CONFIG_FILE,
    AWS_SHARED_CREDENTIALS_FILE, AWS_REGION, ...) and no secret."""
    env = run.job.step_environment(base=agent_process_environment(home, tripwire))
    assert env["AWS_CONFIG_FILE"] == run.view.variables["AWS_CONFIG_FILE"] and env["AWS_REGION"] == "eu-west-1"
    assert not set(SECRET_NAMES) & set(env), "no secret reaches a step that maps none"
    return env


def refreshing_step(run: Run, issuer: Issuer, home: Path, tripwire: Tripwire) -> dict[str, str]:
    """The README's long-running step: the plain variables and `env: SYSTEM_ACCESSTOKEN:
    $(System.AccessToken)`, in a job whose agent holds the job access token and System.OidcRequestUri."""
    run.job.variables.set("System.AccessToken", issuer.access_token, secret=True)
    run.job.variables.set("System.OidcRequestUri", issuer.request_uri)
    env = run.job.step_environment({"SYSTEM_ACCESSTOKEN": "$(System.AccessToken)"},
                                   base=agent_process_environment(home, tripwire))
    assert env["SYSTEM_ACCESSTOKEN"] == issuer.access_token
    assert not set(SECRET_NAMES) & set(env)
    return env


def assert_identities(results: ProbeResults, expected: dict[str, tuple[str, str]], why: str = "") -> None:
    seen = {name: (r["arn"], r["account"], r["error"]) for name, r in results.items()}
    assert seen == {name: (arn, account, "") for name, (arn, account) in expected.items()}, (
        f"{why}\n{results.stderr}" if why else results.stderr)
    assert all(r["region"] == "eu-west-1" for r in results.values()), results


def expected_main_profiles() -> dict[str, tuple[str, str]]:
    return {name: (IDENTITIES[name], ACCOUNTS[name]) for name in IDENTITIES}


@ONE_FAMILY
def test_the_provider_reads_static_key_profiles(issuer: Issuer, accounts: Sts, vsix_task_dir: Path,
                                               tmp_path: Path, tripwire: Tripwire) -> None:
    """Proves: with `profiles` and `chainedProfiles` (keys in the files), `provider "aws" {}` and
    `profile = "prod"` / `"spoke"` each get the assumed role of the right role and account, in a step
    that maps no secret.

    Library rules: awsbase.GetAwsConfig (aws-sdk-go-base/v2@v2.0.0-beta.74/aws_config.go, credentials.go)
    loads the profile with config.WithSharedConfigProfile and the SDK reads AWS_CONFIG_FILE and
    AWS_SHARED_CREDENTIALS_FILE (aws-sdk-go-v2/config@v1.32.32/shared_config.go); a profile whose
    credentials file section has keys gets a static provider (config/resolve_credentials.go,
    resolveCredsFromProfile, `sharedConfig.Credentials.HasKeys()`); the region comes from AWS_REGION
    (config/env_config.go) when the block sets none."""
    run = many_accounts.launch(issuer, accounts, vsix_task_dir, tmp_path)
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    env = plain_step(run, tmp_path / "home", tripwire)
    calls_before = len(accounts.calls)

    results = run_probe(env, ["default", "prod", "spoke"], sts=accounts.url)
    assert_identities(results, expected_main_profiles())
    # The provider validated each profile's keys and read the identity: GetCallerIdentity twice each
    # (GetAwsAccountIDAndPartition, data "aws_caller_identity"), all signed with the task's sessions.
    calls = accounts.calls[calls_before:]
    assert [c["Action"] for c in calls] == ["GetCallerIdentity"] * 6
    assert sorted(c["Caller"] for c in calls) == sorted(list(IDENTITIES.values()) * 2)
    tripwire.assert_untouched()
    many_accounts.run_post(vsix_task_dir, run)


@ONE_FAMILY
def test_the_provider_runs_refreshing_profiles_through_sh(issuer: Issuer, accounts: Sts, agent: Installed,
                                                         tmp_path: Path, tripwire: Tripwire) -> None:
    """Proves: with `refreshingProfiles: true` the provider's credential code runs each profile's
    credential_process line and gets the right identity, a fresh OIDC token each time, with the
    agent's paths plain or with spaces (single-quoted in the line); the README's one `env:` line is
    all the step needs.

    Library rules: the Go SDK reads the value with its own INI reader, which drops a quote pair
    wrapping the whole value (aws-sdk-go-v2/config@v1.32.32/internal/ini/strings.go, legacyStrconv);
    a profile with `credential_process` and no keys gets processcreds.NewProvider
    (aws-sdk-go-v2/config@v1.32.32/resolve_credentials.go, processCredentials), which runs that value
    as `sh -c VALUE` with the step's environment and kills it after DefaultTimeout, one minute
    (aws-sdk-go-v2/credentials@v1.19.31/processcreds/provider.go, DefaultNewCommandBuilder.NewCommand,
    executeCredentialProcess); the result is cached (aws-sdk-go-v2@v1.43.1/aws/credential_cache.go), so
    one provider block runs the line once."""
    run = installed_task.launch(issuer, accounts, agent)
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    config = Path(run.view.variables["AWS_CONFIG_FILE"])
    assert "aws_access_key_id" not in config.read_text() + Path(run.view.variables["AWS_SHARED_CREDENTIALS_FILE"]).read_text()
    env = refreshing_step(run, issuer, tmp_path / "home", tripwire)
    tokens_before, sessions_before, calls_before = len(issuer.token_requests), len(accounts.sessions), len(accounts.calls)

    results = run_probe(env, ["default", "prod", "spoke"], sts=accounts.url)
    assert_identities(results, expected_main_profiles(), go_ini_diagnosis(config, list(IDENTITIES)))
    # Each profile's line ran once: a fresh token each, new sessions (the spoke's through a fresh hub
    # session), and the provider's calls signed with those sessions.
    assert len(issuer.token_requests) == tokens_before + 3, results.stderr
    assert len(accounts.sessions) == sessions_before + 4
    new_sessions = list(accounts.sessions.values())[sessions_before:]
    assert sorted(s.assumed_role_arn for s in new_sessions) == sorted([*IDENTITIES.values(), IDENTITIES["default"]])
    calls = accounts.calls[calls_before:]
    assert sorted(c["Caller"] for c in calls if c["Action"] == "GetCallerIdentity") == sorted(
        list(IDENTITIES.values()) * 2)
    tripwire.assert_untouched()

    # Without the job access token, the block fails with the task's one line, passed on by the SDK.
    bare = {k: v for k, v in env.items() if k != "SYSTEM_ACCESSTOKEN"}
    failed = run_probe(bare, ["prod"], sts=accounts.url)
    assert "credential_process" in failed["prod"]["error"] and failed["prod"]["arn"] == "", failed
    assert "env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)" in failed.stderr, failed.stderr
    tripwire.assert_untouched()
    many_accounts.run_post(agent.task, run)


@ONE_FAMILY
def test_ten_refreshing_provider_blocks_at_once_stay_within_the_go_timeout(
        issuer: Issuer, accounts: Sts, agent: Installed, tmp_path: Path, tripwire: Tripwire) -> None:
    """Proves: ten provider blocks configured at once (Terraform's default -parallelism is 10, and each
    provider configuration is a plugin process of its own), each running its refreshing profile's
    credential_process at the same moment, all succeed, each well within the Go SDK's one minute.

    Library rule: aws-sdk-go-v2/credentials@v1.19.31/processcreds/provider.go, executeCredentialProcess:
    `context.WithTimeout(ctx, p.options.Timeout)` with DefaultTimeout (one minute), after which the
    process is killed and the block fails with "credential process timed out"."""
    roles = {f"p{i}": f"arn:aws:iam::{DIRECT_ACCOUNT}:role/p{i}" for i in range(1, 10)}
    for arn in roles.values():
        accounts.add_role(arn, trust_policy(DIRECT_ACCOUNT, issuer.issuer, [issuer.subject]))
    run = installed_task.launch(issuer, accounts, agent,
                             profiles="\n".join(f"{name}={arn}" for name, arn in roles.items()), chainedProfiles="")
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    config = Path(run.view.variables["AWS_CONFIG_FILE"])
    env = refreshing_step(run, issuer, tmp_path / "home", tripwire)
    tokens_before = len(issuer.token_requests)

    names = ["default", *roles]
    results = run_probe(env, names, parallel=True, sts=accounts.url)
    slowest = max(r["seconds"] for r in results.values())
    summary = (f"10 blocks at once: slowest {slowest:.2f} s of the Go SDK's {GO_PROCESS_TIMEOUT:.0f} s, whole run "
               f"{results.seconds:.2f} s; " + ", ".join(f"{n} {r['seconds']:.2f} s" for n, r in sorted(results.items())))
    expected = {"default": (IDENTITIES["default"], ACCOUNT)}
    expected.update({name: (f"arn:aws:sts::{DIRECT_ACCOUNT}:assumed-role/{name}/{SESSION}", DIRECT_ACCOUNT)
                     for name in roles})
    assert_identities(results, expected, f"{summary}\n{go_ini_diagnosis(config, names)}")
    assert slowest < GO_PROCESS_TIMEOUT / 2, summary
    assert len(issuer.token_requests) == tokens_before + 10, summary
    print(summary)
    tripwire.assert_untouched()
    many_accounts.run_post(agent.task, run)


def remove_record(text: str) -> str:
    """The config file without its `[awswif prod]` section."""
    lines = text.splitlines(keepends=True)
    start = lines.index("[awswif prod]\n")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    return "".join(lines[:start] + lines[end:])


def edit_process_line(text: str, change: str) -> str:
    """The `[profile prod]` section's credential_process line with a stray quote before `--profile`
    (which sh cannot parse), or gone."""
    lines = text.splitlines(keepends=True)
    start = lines.index("[profile prod]\n")
    index = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("credential_process = "))
    assert " --profile " in lines[index], lines[index]
    lines[index] = "" if change == "line removed" else lines[index].replace(" --profile ", " ' --profile ", 1)
    return "".join(lines)


BREAKAGES = {
    # The line runs and fails: the task's code finds no record for the profile.
    "record removed": (remove_record, "error in credential_process: exit status 1"),
    # sh -c cannot parse the line (exit status 2: a syntax error).
    "stray quote": (lambda text: edit_process_line(text, "stray quote"), "error in credential_process: exit status 2"),
    # No credential source at all: the SDK falls back to the instance metadata service, which the
    # provider's skip_metadata_api_check (and AWS_EC2_METADATA_DISABLED) turned off.
    "line removed": (lambda text: edit_process_line(text, "line removed"), "access disabled to EC2 IMDS"),
}


@ONE_FAMILY
@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_profile_fails_that_provider_block(issuer: Issuer, accounts: Sts, vsix_task_dir: Path,
                                                    tmp_path: Path, tripwire: Tripwire, breakage: str) -> None:
    """Proves the probe can fail: a config file whose `prod` profile is broken makes that block fail
    (with no identity, and the provider's own "No valid credential sources" error) while the other
    blocks still succeed. The agent's paths are plain, so the line has no quote of its own.

    Library rules: a failing credential_process is an error, never a fall-back to another source
    (aws-sdk-go-v2/credentials@v1.19.31/processcreds/provider.go, executeCredentialProcess:
    "error in credential_process"; awsbase wraps it as "No valid credential sources found",
    aws-sdk-go-base/v2@v2.0.0-beta.74/credentials.go, getCredentialsProvider, naming
    CallerDocumentationURL); a profile with no source ends at the EC2 role provider
    (aws-sdk-go-v2/config@v1.32.32/resolve_credentials.go, resolveCredsFromProfile, default case), which
    refuses without a request when IMDS is disabled (aws-sdk-go-v2/feature/ec2/imds@v1.18.32/api_client.go,
    ClientDisabled)."""
    transform, message = BREAKAGES[breakage]
    agent = plain_layout(vsix_task_dir, tmp_path)
    run = installed_task.launch(issuer, accounts, agent)
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    config = Path(run.view.variables["AWS_CONFIG_FILE"])
    config.write_text(transform(config.read_text()))
    env = refreshing_step(run, issuer, tmp_path / "home", tripwire)

    results = run_probe(env, ["default", "prod", "spoke"], sts=accounts.url)
    assert results.returncode == 1
    broken = results["prod"]
    assert broken["arn"] == "" and broken["account"] == "" and message in broken["error"], results
    assert "No valid credential sources found" in broken["error"], broken["error"]
    assert "registry.terraform.io/providers/hashicorp/aws" in broken["error"], broken["error"]
    assert {n: (r["arn"], r["error"]) for n, r in results.items() if n != "prod"} == {
        "default": (IDENTITIES["default"], ""), "spoke": (IDENTITIES["spoke"], "")}, results.stderr
    if breakage == "record removed":
        assert "aws-wif credential_process (profile prod)" in results.stderr, results.stderr
    if breakage == "stray quote":
        assert "Unterminated quoted string" in results.stderr, results.stderr
    tripwire.assert_untouched()
    many_accounts.run_post(agent.task, run)
