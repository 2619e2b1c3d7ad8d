"""The connection type vss-extension.json contributes (`AwsWif`), checked as Azure DevOps reads it and in
the .vsix as tfx-cli packages it; its form's patterns in a JavaScript engine against what the task accepts;
task.json's inputs for each connection type in the classic editor; build.py refusing a broken type; and the
docs' `az devops service-endpoint create` file, read by the type and by the task.

Sources for the rules checked here: Azure DevOps Server 2022's
ServiceEndpointContributionExtensions.ToServiceEndpointType and EndpointContributionValidator (what a
contributed connection type must contain, the closed set of authentication schemes);
learn.microsoft.com "Service endpoint authentication schemes" (the
`ms.vss-endpoint.endpoint-auth-scheme-none` scheme is named "None")."""

from __future__ import annotations

import io
import json
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from awswif.agent import Agent
from awswif.connection import CONNECTION_FIELDS, ENDPOINT_TYPE
from awswif.identifiers import REGION, RoleArn
from awswif.inputs import read_inputs

from agent_env import NODE, endpoint_environment
from aws_connection import BASE, CONNECTION_ID
from paths import ROOT
from vsix import Built, build_in, read_vsix, tfx_create
from vsix import sources_copy as sources_copy


def manifest() -> dict[str, Any]:
    return json.loads((ROOT / "vss-extension.json").read_text())


def endpoint_type(document: dict[str, Any] | None = None) -> dict[str, Any]:
    (contribution,) = [c for c in (document or manifest())["contributions"]
                       if c["type"] == "ms.vss-endpoint.service-endpoint-type"]
    return contribution


def task_json() -> dict[str, Any]:
    return json.loads((ROOT / "task" / "task.json").read_text())


# -- the contribution ------------------------------------------------------------------------------------
def test_the_contribution_is_an_aws_wif_type_with_no_secret() -> None:
    contribution = endpoint_type()
    properties = contribution["properties"]
    assert contribution["targets"] == ["ms.vss-endpoint.endpoint-types"]
    assert properties["name"] == ENDPOINT_TYPE == "AwsWif"
    assert properties["displayName"] == "AWS (workload identity federation)"
    assert properties["authenticationSchemes"] == [{"type": "ms.vss-endpoint.endpoint-auth-scheme-none",
                                                    "displayName": "Workload identity federation (no secret)"}]
    # A connection must have a URL; the field is hidden and filled.
    assert properties["url"]["isVisible"] == "false" and properties["url"]["value"].startswith("https://")
    fields = {d["id"]: d for d in properties["inputDescriptors"]}
    # Exactly the data connection.py reads, none of it confidential.
    assert list(fields) == [key for key, _ in CONNECTION_FIELDS.values()]
    assert [fields[key]["name"] for key, _ in CONNECTION_FIELDS.values()] == [
        label for _, label in CONNECTION_FIELDS.values()]
    assert not any(d.get("isConfidential") for d in fields.values())
    assert fields["roleArn"]["validation"]["isRequired"] is True
    assert not fields["region"]["validation"]["isRequired"] and not fields["durationSeconds"]["validation"]["isRequired"]
    # The help shows the subject the connection presents and the command for its trust policy.
    assert "sc://<organization>/<project>/<this connection's name>" in properties["helpMarkDown"]
    assert "https://vstoken.dev.azure.com/<organization id>" in properties["helpMarkDown"]
    assert "awswif trust-policy --connection-type aws" in properties["helpMarkDown"]


ROLE_SAMPLES = [
    "arn:aws:iam::123456789012:role/deploy", "arn:aws-cn:iam::123456789012:role/deploy",
    "arn:aws-us-gov:iam::123456789012:role/a/b/c/Deploy+=,.@-_", "arn:aws:iam::123456789012:role/" + "x" * 64,
    "arn:aws:iam::123456789012:role/" + "x" * 65, "arn:aws:iam::12345:role/deploy",
    "arn:aws:iam::123456789012:role/has space", "arn:aws:sts::123456789012:assumed-role/deploy/x",
    "arn:aws:iam::123456789012:user/deployer", "arn:aws:iam::123456789012:role/", " arn:aws:iam::123456789012:role/x",
    "arn:aws:iam::123456789012:role/x\n", "arn:aws:iam::123456789012:role/ä",
]
REGION_SAMPLES = ["", "eu-west-1", "us-gov-west-1", "cn-north-1", "ap-southeast-2", "EU-WEST-1", "eu-west", "Frankfurt",
                  "eu west 1", "eu-west-123"]


def browser_matches(pattern: str, samples: list[str]) -> list[bool]:
    """The connection form checks the pattern in the browser: ask a JavaScript engine."""
    assert NODE, "node is needed"
    script = "const [p, s] = JSON.parse(process.argv[1]); " \
             "console.log(JSON.stringify(s.map(x => new RegExp(p).test(x))))"
    result = subprocess.run([NODE, "-e", script, json.dumps([pattern, samples])], capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout)


def test_the_forms_patterns_accept_what_the_task_accepts() -> None:
    fields = {d["id"]: d for d in endpoint_type()["properties"]["inputDescriptors"]}
    role_pattern = fields["roleArn"]["validation"]["pattern"]
    expected = [RoleArn.parse(s) is not None and "\n" not in s for s in ROLE_SAMPLES]
    assert browser_matches(role_pattern, ROLE_SAMPLES) == expected
    assert True in expected and False in expected
    region_pattern = fields["region"]["validation"]["pattern"]
    # Empty is allowed in the form (the task input may give the region).
    assert browser_matches(region_pattern, REGION_SAMPLES) == [s == "" or bool(REGION.match(s)) for s in REGION_SAMPLES]
    duration_pattern = fields["durationSeconds"]["validation"]["pattern"]
    assert browser_matches(duration_pattern, ["", "900", "43200", "3600", "1h", "-900", "3600.5"]) == [
        True, True, True, True, False, False, False]


def test_the_task_and_the_contribution_name_the_same_type() -> None:
    inputs = {i["name"]: i for i in task_json()["inputs"]}
    assert inputs["awsConnection"]["type"] == f"connectedService:{endpoint_type()['properties']['name']}"
    assert inputs["serviceConnection"]["type"] == "connectedService:AzureRM"
    assert inputs["serviceConnection"]["aliases"] == ["azureSubscription"]


# -- task.json for the classic editor --------------------------------------------------------------------
def test_each_connection_type_shows_its_own_connection_input() -> None:
    task = task_json()
    names = [i["name"] for i in task["inputs"]]
    inputs = {i["name"]: i for i in task["inputs"]}
    kind = inputs["connectionType"]
    assert kind["type"] == "pickList" and kind["defaultValue"] == "azureRM"
    assert set(kind["options"]) == {"azureRM", "aws"}
    assert names.index("connectionType") < names.index("serviceConnection") < names.index("awsConnection")
    assert inputs["serviceConnection"]["visibleRule"] == "connectionType = azureRM"
    assert inputs["awsConnection"]["visibleRule"] == "connectionType = aws"
    assert inputs["awsConnection"]["required"] is True
    # Checked at run time instead: an AWS connection may supply them.
    assert not inputs["roleArn"]["required"] and not inputs["region"]["required"]
    # An empty default, so that the agent's defaulting does not hide the connection's value.
    assert inputs["durationSeconds"]["defaultValue"] == ""


def visible(rule: str, values: dict[str, str]) -> bool:
    """A visibleRule as the classic editor evaluates it: `input op value` terms joined by && or ||."""
    joiner = "&&" if "&&" in rule else "||"
    results = []
    for term in rule.split(joiner):
        name, op, value = re.match(r"^\s*(\w+)\s*(!=|=)\s*(.*?)\s*$", term).groups()  # type: ignore[union-attr]
        results.append((values.get(name, "") == value) == (op == "="))
    return all(results) if joiner == "&&" else any(results)


def test_visible_rules_compare_with_declared_options() -> None:
    """A compared value must be one of the referenced pickList's options (or true/false for a boolean),
    else the input never shows."""
    task = task_json()
    inputs = {i["name"]: i for i in task["inputs"]}
    for spec in task["inputs"]:
        for term in re.split(r"\s*(?:&&|\|\|)\s*", spec.get("visibleRule", "")):
            if not term:
                continue
            match = re.match(r"^(\w+)\s*(?:!=|=)\s*(.+)$", term)
            assert match, f"{spec['name']}: '{term}' is not 'input = value'"
            referenced = inputs[match[1]]
            allowed = set(referenced.get("options", {})) if referenced["type"] == "pickList" else {"true", "false"}
            assert match[2] in allowed, f"{spec['name']}: {match[2]} is not an option of {match[1]}"
    shown = {kind: {n for n, i in inputs.items() if visible(i.get("visibleRule", "connectionType = " + kind),
                                                               {"connectionType": kind})}
             for kind in ("azureRM", "aws")}
    assert "serviceConnection" in shown["azureRM"] and "awsConnection" not in shown["azureRM"]
    assert "awsConnection" in shown["aws"] and "serviceConnection" not in shown["aws"]
    assert {"roleArn", "region"} <= shown["aws"] & shown["azureRM"]


# -- the .vsix ---------------------------------------------------------------------------------------------
def test_vsix_carries_the_connection_type_as_tfx_packages_it(built: Built, tmp_path: Path) -> None:
    with zipfile.ZipFile(built.vsix) as archive:
        ours = json.loads(archive.read("extension.vsomanifest"))
    assert endpoint_type(ours) == endpoint_type()
    theirs = read_vsix(tfx_create(built.stage, tmp_path))["vsomanifest"]
    assert endpoint_type(theirs) == endpoint_type(ours)
    assert ours["contributions"] == theirs["contributions"]


# -- build.py refuses a broken contribution ------------------------------------------------------------------
def _edit_type(change):  # type: ignore[no-untyped-def]
    def edit(document: dict[str, Any]) -> dict[str, Any]:
        change(endpoint_type(document)["properties"])
        return document
    return edit


def _drop_role(p: dict[str, Any]) -> None:
    p["inputDescriptors"] = [d for d in p["inputDescriptors"] if d["id"] != "roleArn"]


def _optional_role(p: dict[str, Any]) -> None:
    p["inputDescriptors"][0]["validation"]["isRequired"] = False


def _secret_scheme(p: dict[str, Any]) -> None:
    p["authenticationSchemes"] = [{"type": "ms.vss-endpoint.endpoint-auth-scheme-basic"}]


def _custom_scheme(p: dict[str, Any]) -> None:
    p["authenticationSchemes"] = [{"type": "contoso.oidc-scheme"}]


def _renamed(p: dict[str, Any]) -> None:
    p["name"] = "AwsOidc"


def _no_url(p: dict[str, Any]) -> None:
    del p["url"]


def _nameless_field(p: dict[str, Any]) -> None:
    del p["inputDescriptors"][1]["name"]


def _bad_pattern(p: dict[str, Any]) -> None:
    p["inputDescriptors"][0]["validation"]["pattern"] = "^arn:(aws"


BROKEN_TYPES = [
    (_drop_role, "the input roleArn is missing"),
    (_optional_role, "the roleArn input must be required and validated with a pattern"),
    (_secret_scheme, "the connection stores no secret"),
    (_custom_scheme, "authentication scheme 'contoso.oidc-scheme' is not one Azure DevOps accepts"),
    (_renamed, "wants connection type AwsWif, which vss-extension.json does not contribute"),
    (_no_url, "properties.url needs an absolute http(s) value"),
    (_nameless_field, "every input descriptor needs an id and a name"),
    (_bad_pattern, "validation pattern does not compile"),
]


@pytest.mark.parametrize(("change", "message"), BROKEN_TYPES, ids=[m for _, m in BROKEN_TYPES])
def test_a_broken_connection_type_fails_the_build(sources_copy: Path, change, message: str) -> None:
    path = sources_copy / "vss-extension.json"
    path.write_text(json.dumps(_edit_type(change)(json.loads(path.read_text()))))
    result = build_in(sources_copy)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    dist = sources_copy / "dist"
    assert not dist.exists() or not any(dist.iterdir())


def test_the_readme_connection_file_is_what_the_type_and_the_task_read() -> None:
    """README's `az devops service-endpoint create` file: the contributed type, its no-secret scheme,
    data the form would accept, and, passed to a task as the agent does, the settings a run uses."""
    readme = (ROOT / "docs" / "aws-connection.md").read_text()
    section = readme[readme.index("# AWS (workload identity federation) service connection"):]
    document = json.loads(re.search(r"```json\n(.*?)```", section, re.S)[1])  # type: ignore[index]
    properties = endpoint_type()["properties"]
    assert document["type"] == properties["name"]
    assert document["authorization"] == {"scheme": "None", "parameters": {}}
    assert document["url"] == properties["url"]["value"]
    fields = {d["id"]: d for d in properties["inputDescriptors"]}
    assert set(document["data"]) <= set(fields)
    for key, value in document["data"].items():
        assert browser_matches(fields[key]["validation"]["pattern"], [value]) == [True], key
    endpoint = {**document, "id": CONNECTION_ID}
    env = {**BASE, **endpoint_environment(endpoint), "INPUT_CONNECTIONTYPE": "aws", "INPUT_AWSCONNECTION": CONNECTION_ID}
    inputs = read_inputs(Agent(env, io.StringIO()))
    assert (inputs.role_arn, inputs.region, inputs.duration_seconds) == (
        document["data"]["roleArn"], document["data"]["region"], int(document["data"]["durationSeconds"]))
    assert f"--connection-type aws --organization-id <organization id> \\\n  --organization contoso --project infra " \
           f"--connection {document['name']}" in section
