"""What every chained AssumeRole carries (#23), through the built .vsix, as the STS stand-in receives it:
the run's session tags (sanitised; Organization and Project from the token's signed subject), the
author's sessionTags and transitiveTagKeys, the source identity, a line's externalId, region= and
durationSeconds=, and the same again when credential_process refreshes the profile in a later step.
The spoke roles trust the hub as `awswif trust-policy --trust-role` writes it (sts:TagSession and
sts:SetSourceIdentity included); the stand-in refuses tags and source identity a trust policy does
not allow, as STS does (fakes.Sts._assume_role)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from awswif.trust import trust_policy

from agent_env import ROLE_ARN, agent_environment
from fakes import Issuer, Proxy, Sts
from installed_task import Installed, process_line, step_environment
from installed_task import installed as installed
from launcher import Run, run_launcher
from many_accounts import DIRECT_ACCOUNT, DIRECT_ARN, SPOKE_ARN, spoke_trust_policy

VENDOR_ARN = "arn:aws:iam::444444444444:role/vendor-access"
VENDOR_EXTERNAL_ID = "contoso-7f3a:prod/1"
COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8"
# The run's variables as an agent sets them (the stand-in agent_environment has the others).
RUN_VARIABLES = {
    "BUILD_SOURCEBRANCH": "refs/heads/feature/#42-tags",
    "BUILD_SOURCEVERSION": COMMIT,
    "BUILD_REQUESTEDFOR": "Zoë O'Brien",
}


@pytest.fixture
def accounts(issuer: Issuer, sts: Sts) -> Sts:
    sts.add_provider(DIRECT_ACCOUNT, issuer.issuer, issuer.jwks_url)
    sts.add_role(DIRECT_ARN, trust_policy(DIRECT_ACCOUNT, issuer.issuer, [issuer.subject]), max_session_duration=7200)
    sts.add_role(SPOKE_ARN, spoke_trust_policy(ROLE_ARN))
    # A vendor's role: it trusts the hub only with the external id the vendor issued (IAM user guide,
    # "Access to AWS accounts owned by third parties").
    vendor = spoke_trust_policy(ROLE_ARN)
    vendor["Statement"][0]["Condition"] = {"StringEquals": {"sts:ExternalId": VENDOR_EXTERNAL_ID}}
    sts.add_role(VENDOR_ARN, vendor)
    return sts


def launch(issuer: Issuer, sts: Sts, task_dir: Path, temp: Path, variables: dict[str, str] | None = None,
           **inputs: str) -> Run:
    env = agent_environment(issuer, sts, task_dir, **inputs)
    env.update(RUN_VARIABLES if variables is None else variables)
    env["AGENT_TEMPDIRECTORY"] = str(temp)
    return run_launcher(task_dir, env)


def chained_calls(sts: Sts) -> dict[str, dict[str, object]]:
    return {str(c["RoleArn"]): c for c in sts.calls if c["Action"] == "AssumeRole"}


@pytest.mark.parametrize("issuer", ["azure-devops", "entra"], indirect=True)
def test_chained_sessions_carry_the_runs_tags(issuer: Issuer, accounts: Sts, vsix_task_dir: Path,
                                                tmp_path: Path) -> None:
    # An earlier step renamed the project: with the Azure DevOps issuer the token's signed subject
    # (sc://contoso/infra/...) says which project the connection belongs to, and wins.
    variables = {**RUN_VARIABLES, "SYSTEM_TEAMPROJECT": "forged-project"}
    run = launch(issuer, accounts, vsix_task_dir, tmp_path, variables, chainedProfiles=f"spoke={SPOKE_ARN}")
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    call = chained_calls(accounts)[SPOKE_ARN]
    project = "infra" if issuer.family == "azure-devops" else "forged-project"
    assert call["Tags"] == [
        ("AzureDevOps", "Pipelines"), ("Organization", "contoso"), ("Project", project), ("Pipeline", "deploy"),
        ("BuildId", "4711"), ("Branch", "refs/heads/feature/_42-tags"), ("Commit", COMMIT),
        # Letters of any script stay; what tags do not allow becomes "_" (configure-aws-credentials' rule).
        ("RequestedFor", "Zoë O_Brien"),
    ]
    assert "TransitiveTagKeys" not in call and "SourceIdentity" not in call and "ExternalId" not in call
    # Only AssumeRole takes tags: the web-identity call carries none.
    assert all("Tags" not in c for c in accounts.calls if c["Action"] == "AssumeRoleWithWebIdentity")
    assert accounts.sessions[next(k for k, v in accounts.sessions.items() if v.role_arn == SPOKE_ARN)].tags


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
def test_author_tags_transitive_keys_source_identity_and_external_id(issuer: Issuer, accounts: Sts,
                                                                    vsix_task_dir: Path, tmp_path: Path) -> None:
    run = launch(issuer, accounts, vsix_task_dir, tmp_path,
                 chainedProfiles=f"spoke={SPOKE_ARN}\nvendor={VENDOR_ARN} externalId={VENDOR_EXTERNAL_ID}",
                 sessionTags="CostCenter=4711\n# the project's own name for ABAC\nproject=Platform Team",
                 transitiveTagKeys="project, costcenter", sourceIdentity="zoe@contoso.com")
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    calls = chained_calls(accounts)
    tags = dict(calls[SPOKE_ARN]["Tags"])  # type: ignore[arg-type]
    # The author's key replaces the run's Project whatever its case, and is not replaced by the token's.
    assert tags["project"] == "Platform Team" and "Project" not in tags and tags["CostCenter"] == "4711"
    assert calls[SPOKE_ARN]["TransitiveTagKeys"] == ["project", "CostCenter"]
    assert {c["SourceIdentity"] for c in calls.values()} == {"zoe@contoso.com"}
    assert calls[VENDOR_ARN]["ExternalId"] == VENDOR_EXTERNAL_ID and "ExternalId" not in calls[SPOKE_ARN]


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
def test_a_vendor_role_without_its_external_id_is_explained(issuer: Issuer, accounts: Sts, vsix_task_dir: Path,
                                                             tmp_path: Path) -> None:
    run = launch(issuer, accounts, vsix_task_dir, tmp_path, chainedProfiles=f"vendor={VENDOR_ARN}")
    assert run.view.result == "Failed" and len(run.view.errors) == 1
    assert "add externalId=ID" in run.view.errors[0] and "vendor" in run.view.errors[0]
    assert "AWS_ACCESS_KEY_ID" not in run.view.variables


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
def test_a_spoke_that_does_not_allow_tagging_is_diagnosed_with_both_fixes(issuer: Issuer, accounts: Sts,
                                                                          vsix_task_dir: Path, tmp_path: Path) -> None:
    # The trust policy of awswif 1.0: sts:AssumeRole only.
    accounts.add_role(SPOKE_ARN, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ROLE_ARN}, "Action": "sts:AssumeRole"}]})
    run = launch(issuer, accounts, vsix_task_dir, tmp_path, chainedProfiles=f"spoke={SPOKE_ARN}")
    assert run.view.result == "Failed" and len(run.view.errors) == 1
    error = run.view.errors[0]
    assert "sts:TagSession" in error and "skipSessionTagging: true" in error and '"sts:TagSession"' in error
    assert "AWS_ACCESS_KEY_ID" not in run.view.variables
    # skipSessionTagging: the same role is assumed without tags.
    accounts.calls.clear()
    (tmp_path / "again").mkdir()
    again = launch(issuer, accounts, vsix_task_dir, tmp_path / "again", chainedProfiles=f"spoke={SPOKE_ARN}",
                   skipSessionTagging="true")
    assert again.view.result == "Succeeded", again.stdout
    assert "Tags" not in chained_calls(accounts)[SPOKE_ARN]


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
def test_line_options_set_region_and_duration(issuer: Issuer, accounts: Sts, vsix_task_dir: Path,
                                              tmp_path: Path) -> None:
    run = launch(issuer, accounts, vsix_task_dir, tmp_path, durationSeconds="3600",
                 profiles=f"prod={DIRECT_ARN}  region=ap-southeast-2 durationSeconds=7200",
                 chainedProfiles=f"spoke={SPOKE_ARN} region=us-east-1 durationSeconds=900")
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    web = {c["RoleArn"]: c for c in accounts.calls if c["Action"] == "AssumeRoleWithWebIdentity"}
    assert web[DIRECT_ARN]["DurationSeconds"] == "7200" and web[ROLE_ARN]["DurationSeconds"] == "3600"
    spoke = chained_calls(accounts)[SPOKE_ARN]
    # The chained call is signed for the profile's region (SigV4 credential scope), with its duration.
    assert spoke["SigningRegion"] == "us-east-1" and spoke["DurationSeconds"] == "900"
    config = Path(run.view.variables["AWS_CONFIG_FILE"]).read_text()
    assert "[profile prod]\nregion = ap-southeast-2\n" in config
    assert "[profile spoke]\nregion = us-east-1\n" in config and "[default]\nregion = eu-west-1\n" in config


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
def test_a_profiles_region_chooses_its_sts_endpoint(issuer: Issuer, vsix_task_dir: Path, tmp_path: Path) -> None:
    """Without stsEndpoint each call goes to its region's endpoint: the main role's and the profile's (here a
    proxy that records and refuses anything beyond loopback: no test reaches AWS)."""
    proxy = Proxy()
    try:
        env = agent_environment(issuer, None, vsix_task_dir, retryMaxAttempts="1",
                                profiles=f"prod={DIRECT_ARN} region=ap-southeast-2")
        env.update(HTTPS_PROXY=proxy.url, AGENT_TEMPDIRECTORY=str(tmp_path))
        run = run_launcher(vsix_task_dir, env)
    finally:
        proxy.close()
    assert run.view.result == "Failed", run.stdout
    assert sorted(proxy.blocked) == ["sts.ap-southeast-2.amazonaws.com:443", "sts.eu-west-1.amazonaws.com:443"]


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
def test_a_refresh_sends_what_the_step_sent(issuer: Issuer, accounts: Sts, installed: Installed,
                                            tmp_path: Path) -> None:
    env = agent_environment(issuer, accounts, installed.task, python_bin=installed.python.parent,
                            refreshingProfiles="true", sourceIdentity="azp-run-4711", sessionTags="Team=infra",
                            chainedProfiles=f"vendor={VENDOR_ARN} externalId={VENDOR_EXTERNAL_ID} region=us-west-2")
    env.update(RUN_VARIABLES)
    env["AGENT_TEMPDIRECTORY"] = str(installed.temp)
    run = run_launcher(installed.task, env)
    assert run.view.result == "Succeeded", run.stdout + run.stderr
    sent = chained_calls(accounts)[VENDOR_ARN]
    accounts.calls.clear()
    # A later step whose variables differ (another branch checked out): the refresh sends the recorded values.
    config = Path(run.view.variables["AWS_CONFIG_FILE"])
    step = subprocess.run(process_line(config, "vendor"), capture_output=True, text=True,
                          env=step_environment(run, issuer, tmp_path / "home", BUILD_SOURCEBRANCH="refs/heads/other"))
    assert step.returncode == 0, step.stderr
    assert json.loads(step.stdout)["Version"] == 1
    refreshed = chained_calls(accounts)[VENDOR_ARN]
    for key in ("Tags", "SourceIdentity", "ExternalId", "SigningRegion", "DurationSeconds"):
        assert refreshed[key] == sent[key], key
    assert ("Team", "infra") in refreshed["Tags"]  # type: ignore[operator]
    assert VENDOR_EXTERNAL_ID in config.read_text()  # recorded (no secret: the vendor's id for this customer)


BAD_INPUTS = [
    ({"chainedProfiles": f"spoke={SPOKE_ARN} regoin=us-east-1"}, "'regoin=us-east-1' is not an option"),
    ({"chainedProfiles": f"spoke={SPOKE_ARN} region=us-east-1 region=eu-west-1"}, "has region twice"),
    ({"chainedProfiles": f"spoke={SPOKE_ARN} durationSeconds=7200"}, "from 900 to 3600"),
    ({"profiles": f"prod={DIRECT_ARN} durationSeconds=soon"}, "durationSeconds 'soon' is not valid"),
    ({"profiles": f"prod={DIRECT_ARN} externalId=abc"}, "externalId applies to chainedProfiles only"),
    ({"profiles": f"prod={DIRECT_ARN} region=cn-north-1"}, "not in the role's partition"),
    ({"chainedProfiles": f"spoke={SPOKE_ARN} externalId=a"}, "the externalId is not valid"),
    ({"sessionTags": "Team=infra"}, "apply to chainedProfiles, and this step has none"),
    ({"sourceIdentity": "zoe"}, "apply to chainedProfiles"),
    ({"chainedProfiles": f"spoke={SPOKE_ARN}", "sessionTags": "Team"}, "line 1 ('Team') is not KEY=VALUE"),
    ({"chainedProfiles": f"spoke={SPOKE_ARN}", "sessionTags": "aws:team=x"}, "reserved for AWS"),
    ({"chainedProfiles": f"spoke={SPOKE_ARN}", "sessionTags": "Team=a*b"}, "not a valid tag value"),
    ({"chainedProfiles": f"spoke={SPOKE_ARN}", "sessionTags": "Team=a\nteam=b"}, "has the key 'team' twice"),
    ({"chainedProfiles": f"spoke={SPOKE_ARN}", "sessionTags": "\n".join(f"K{n}=v" for n in range(43))},
     "at most 50"),
    ({"chainedProfiles": f"spoke={SPOKE_ARN}", "transitiveTagKeys": "Team"}, "'Team', which is not one of"),
    ({"chainedProfiles": f"spoke={SPOKE_ARN}", "skipSessionTagging": "true", "sessionTags": "Team=x"},
     "skipSessionTagging is true, and sessionTags is set"),
    ({"chainedProfiles": f"spoke={SPOKE_ARN}", "sourceIdentity": "aws:me"}, "not a valid source identity"),
    ({"chainedProfiles": f"spoke={SPOKE_ARN}", "skipSessionTagging": "sure"}, "skipSessionTagging input is 'sure'"),
    ({"skipSessionTagging": "sure"}, "skipSessionTagging input is 'sure'"),
    ({"awsToolkitVariables": "yes"}, "awsToolkitVariables input is 'yes'"),
]


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
@pytest.mark.parametrize(("inputs", "message"), BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_options_fail_before_any_call(issuer: Issuer, sts: Sts, source_task_dir: Path, tmp_path: Path,
                                          inputs: dict[str, str], message: str) -> None:
    run = launch(issuer, sts, source_task_dir, tmp_path, **inputs)
    assert run.returncode == 0 and run.view.result == "Failed", run.stdout
    assert len(run.view.errors) == 1 and message in run.view.errors[0], run.view.errors
    assert not issuer.minted and not sts.calls and not run.view.variables
    assert "Traceback" not in run.stdout + run.stderr
