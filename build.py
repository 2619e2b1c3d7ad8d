#!/usr/bin/env python3
"""Build the aws-wif extension into a .vsix a platform team uploads to its private marketplace.

    python3 build.py                      dist/<publisher>.<id>-<version>.vsix
    python3 build.py --publisher NAME     the same, for your Marketplace publisher (this build only)
    python3 build.py --repository URL --support URL
                                          the Marketplace listing's links (this build only)
    python3 build.py --bump patch         raise the extension and task versions together, date CHANGELOG.md's
                                          Unreleased entries under the new version, then build; --publisher,
                                          --repository and --support given with --bump are written into
                                          vss-extension.json, for every later build (commit it: one source of truth)
    python3 build.py --release            refuse to build while vss-extension.json's publisher or links are
                                          the placeholders a fresh clone has (a plain build builds, with a note)
    python3 build.py --lock               re-pin python/requirements.lock from pyproject's ranges
    python3 build.py --bytecode PY [PY …] ship bytecode for these interpreters (default: this one)

A publishing pipeline runs `python3 build.py --release --bump patch` once vss-extension.json holds the
team's publisher and links (set them once: `python3 build.py --bump patch --publisher NAME --repository URL
--support URL`, then commit vss-extension.json).

Standard library and pip only: no Node, no tfx-cli. The steps, in order: read and validate the
sources → vendor the locked runtime dependencies (pure-Python wheels, downloaded once into
build/wheels/ and on every build checked against the lock's sha256, then unpacked afresh into a
temporary folder: no unpacked file is reused between builds) → stage the task folder and prune
what a run never loads → compile the modules a run imports for each named interpreter → write the
.vsix as tfx-cli does, reproducibly (sorted entries, fixed timestamps and permissions), through a
temporary file so that a failed build never leaves a half-written package.
"""

# Bandit's subprocess and XML notes (nosec below) are answered thus: pip and git run with fixed
# argument lists, and this file writes XML but never parses any.
from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import os
import re
import shutil
import subprocess  # nosec B404
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Optional
from xml.sax.saxutils import escape, quoteattr  # nosec B406

ROOT = Path(__file__).resolve().parent
MANIFEST = ROOT / "vss-extension.json"
TASK_SOURCE = ROOT / "task"
PACKAGE_SOURCE = ROOT / "python" / "awswif"
# What the config file's credential_process lines run: beside the package, so that lib/ is sys.path[0].
CREDENTIAL_PROCESS_SCRIPT = ROOT / "python" / "awswif_credential_process.py"
PYPROJECT = ROOT / "python" / "pyproject.toml"
LOCK = ROOT / "python" / "requirements.lock"
BYTECODE_MODULES = ROOT / "python" / "bytecode-modules.txt"
OVERVIEW = ROOT / "overview.md"
CHANGELOG = ROOT / "CHANGELOG.md"
BUILD = ROOT / "build"
# The locked wheels as downloaded. Only these files are kept between builds, and every build checks
# them against the lock before use: a shared agent's other jobs, or an earlier step of a publishing
# pipeline, can write here.
WHEELS = BUILD / "wheels"
DIST = ROOT / "dist"

# The oldest Python the task supports: wheels are chosen for it, and pure-Python ones serve all.
MIN_PYTHON = "3.9"

# botocore/data is 28 MB of service models; an STS client reads only these.
BOTOCORE_DATA_KEEP = {"sts", "endpoints.json", "partitions.json", "sdk-default-configuration.json", "_retry.json"}
# Never loaded by a run: botocore falls back to its own CA file only when certifi is absent (it is
# vendored); dateutil's zone database serves only dateutil.zoneinfo; urllib3's emscripten support
# loads only in a browser; the rest are command-line entry points and test suites.
PRUNE_PATHS = {
    "botocore/cacert.pem",
    "dateutil/zoneinfo/dateutil-zoneinfo.tar.gz",
    "dateutil/zoneinfo/rebuild.py",
    "urllib3/contrib/emscripten",
    "charset_normalizer/cli",
    "charset_normalizer/__main__.py",
    "certifi/__main__.py",
    "certifi/tests",
    "bin",
}
PRUNE_NAMES = {"__pycache__", "tests", "test", "py.typed"}
PRUNE_SUFFIXES = {".pyc", ".pyo", ".pyi"}
LICENSE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)
NATIVE_SUFFIXES = {".so", ".pyd", ".dylib", ".dll"}

# Content types as tfx-cli 0.23.1 writes them for these extensions; extensionless files (LICENSE,
# METADATA) get an Override of text/plain, as tfx gives them.
CONTENT_TYPES = {
    ".js": "application/javascript",
    ".json": "application/json",
    ".md": "text/markdown",
    ".png": "image/png",
    ".py": "text/x-script.python",
    # What tfx-cli writes on Linux, where it asks `file --mime-type` for extensions it does not know.
    ".pyc": "application/x-bytecode.python",
    ".txt": "text/plain",
    ".rst": "text/plain",
    ".pem": "text/plain",
    ".gz": "application/gzip",
    ".vsixmanifest": "text/xml",
    ".vsomanifest": "application/json",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"
EXTENSIONLESS_CONTENT_TYPE = "text/plain"
# Characters Open Packaging Conventions part names may not contain.
BAD_PART_CHARS = re.compile(r"[\s#^\[\]<>?]")

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
# What a fresh clone's vss-extension.json holds until a team sets its own: a plain build notes them,
# --release refuses them.
PLACEHOLDER_PUBLISHER = "your-publisher-id"
PLACEHOLDER_LINK = "your-org"
# The Marketplace listing's links (vss-extension.json "links") and the flags that set them.
LINK_FLAGS = {"repository": "--repository URL", "support": "--support URL"}
LINK_URI = re.compile(r"^https?://[^\s/]+\S*$")
PUBLISHER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
TASK_CONTRIBUTION = "ms.vss-distributed-task.task"
ENDPOINT_TYPE_CONTRIBUTION = "ms.vss-endpoint.service-endpoint-type"
ENDPOINT_TYPES_TARGET = "ms.vss-endpoint.endpoint-types"
# The authentication schemes Azure DevOps accepts in a contributed connection type: a closed set
# (Azure DevOps Server 2022, Microsoft.Azure.DevOps.ServiceEndpoints.Core.Server
# EndpointContributionValidator.ValidAuthSchemes; a type with any other scheme is refused on upload).
ENDPOINT_AUTH_SCHEMES = {
    "ms.vss-endpoint.endpoint-auth-scheme-azure-cert", "ms.vss-endpoint.endpoint-auth-scheme-azure-storage",
    "ms.vss-endpoint.endpoint-auth-scheme-basic", "ms.vss-endpoint.endpoint-auth-scheme-jwt",
    "ms.vss-endpoint.endpoint-auth-scheme-cert", "ms.vss-endpoint.endpoint-auth-scheme-workload-identity-federation",
    "ms.vss-endpoint.endpoint-auth-scheme-service-principal",
    "ms.vss-endpoint.endpoint-auth-scheme-managed-service-identity",
    "ms.vss-endpoint.endpoint-auth-scheme-publishprofile", "ms.vss-endpoint.endpoint-auth-scheme-token",
    "ms.vss-endpoint.endpoint-auth-scheme-none", "ms.vss-endpoint.endpoint-auth-scheme-oauth2",
    "ms.vss-endpoint.endpoint-auth-scheme-kubernetes", "ms.vss-endpoint.endpoint-auth-scheme-jiraconnectapp",
    "ms.vss-endpoint.endpoint-auth-scheme-installationtoken",
}
# Connection types task.json may name (connectedService:<type>) that Azure DevOps itself provides.
BUILT_IN_ENDPOINT_TYPES = {"AzureRM"}
# The AWS connection type and the fields of its data that python/awswif/connection.py reads.
AWS_ENDPOINT_TYPE = "AwsWif"
AWS_ENDPOINT_FIELDS = ("roleArn", "region", "durationSeconds")


class BuildError(Exception):
    """What is wrong with the sources or the environment, and what to do about it."""


def display(path: Path) -> Path:
    """A path as messages show it: relative to the checkout when inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


# -- the sources ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sources:
    manifest: dict[str, Any]
    task: dict[str, Any]
    task_folder: str  # the task contribution's properties.name: its folder inside the .vsix

    @property
    def identity(self) -> str:
        return f"{self.manifest['publisher']}.{self.manifest['id']}-{self.manifest['version']}"

    @property
    def task_version(self) -> str:
        v = self.task["version"]
        return f"{v['Major']}.{v['Minor']}.{v['Patch']}"


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BuildError(f"{path.relative_to(ROOT)} is missing.") from None
    except ValueError as exc:
        raise BuildError(f"{path.relative_to(ROOT)} is not valid JSON: {exc}.") from None


def listing_manifest(publisher: Optional[str] = None, links: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """vss-extension.json with this build's --publisher and links (--repository, --support) in place."""
    manifest: dict[str, Any] = load_json(MANIFEST)
    if publisher:
        manifest["publisher"] = publisher
    for kind, uri in (links or {}).items():
        current = manifest.setdefault("links", {}).get(kind)
        manifest["links"][kind] = {**(current if isinstance(current, dict) else {}), "uri": uri}
    return manifest


def check_listing_flags(publisher: Optional[str], links: dict[str, str]) -> None:
    """The values of --publisher, --repository and --support, checked before --bump writes any of them."""
    if publisher is not None and not PUBLISHER.match(publisher):
        raise BuildError(f"--publisher '{publisher}': the publisher must be letters, digits, '_' and '-' "
                         "(python3 build.py --publisher NAME).")
    for kind, uri in links.items():
        if not LINK_URI.match(uri):
            raise BuildError(f"{LINK_FLAGS[kind].split()[0]} '{uri}': the {kind} link must be an absolute http(s) URL.")


def placeholders(manifest: dict[str, Any]) -> list[str]:
    """What in the manifest is still a fresh clone's placeholder, each with the flag that sets it."""
    found = []
    if PLACEHOLDER_PUBLISHER in str(manifest.get("publisher", "")):
        found.append(f"the publisher {manifest.get('publisher')} (--publisher NAME)")
    links = manifest.get("links")
    for kind, link in sorted(links.items() if isinstance(links, dict) else []):
        uri = (link.get("uri") or link.get("url")) if isinstance(link, dict) else None
        if isinstance(uri, str) and PLACEHOLDER_LINK in uri:
            fix = LINK_FLAGS.get(kind, f"edit links.{kind} in vss-extension.json")
            found.append(f"the {kind} link on {PLACEHOLDER_LINK} ({fix})")
    return found


def read_sources(publisher: Optional[str] = None, links: Optional[dict[str, str]] = None) -> Sources:
    manifest = listing_manifest(publisher, links)
    task = load_json(TASK_SOURCE / "task.json")
    folders = [
        c.get("properties", {}).get("name", "")
        for c in manifest.get("contributions", [])
        if c.get("type") == TASK_CONTRIBUTION
    ]
    if len(folders) != 1 or not folders[0]:
        raise BuildError("vss-extension.json must have exactly one task contribution with properties.name.")
    sources = Sources(manifest, task, folders[0])
    problems = manifest_problems(manifest) + task_problems(task, TASK_SOURCE) + endpoint_problems(manifest, task)
    if sources.task_version != manifest.get("version"):
        problems.append(
            f"the extension version {manifest.get('version')} and task.json's version {sources.task_version} "
            "differ: they are bumped together (python3 build.py --bump patch)"
        )
    for kind, path in content_assets(manifest):
        if not (ROOT / path).is_file():
            problems.append(f"vss-extension.json: content.{kind.lower()}.path names '{path}', which does not exist")
    if problems:
        raise BuildError("The sources are not ready to package:\n  - " + "\n  - ".join(problems))
    return sources


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    """The rules tfx-cli enforces on vss-extension.json (and the Marketplace on upload)."""
    problems = []
    if manifest.get("manifestVersion") != 1:
        problems.append("vss-extension.json: manifestVersion must be 1")
    if not re.match(r"^[A-Za-z0-9_-]+$", str(manifest.get("id", ""))):
        problems.append("vss-extension.json: id must be letters, digits, '_' and '-'")
    if not PUBLISHER.match(str(manifest.get("publisher", ""))):
        problems.append("the publisher must be letters, digits, '_' and '-' (python3 build.py --publisher NAME)")
    links = manifest.get("links", {})
    for kind, link in sorted(links.items() if isinstance(links, dict) else []):
        uri = (link.get("uri") or link.get("url")) if isinstance(link, dict) else None
        if not isinstance(uri, str) or not LINK_URI.match(uri):
            fix = f" (python3 build.py {LINK_FLAGS[kind]})" if kind in LINK_FLAGS else ""
            problems.append(f"vss-extension.json: links.{kind}.uri must be an absolute http(s) URL{fix}")
    if not SEMVER.match(str(manifest.get("version", ""))):
        problems.append("vss-extension.json: version must be MAJOR.MINOR.PATCH")
    if not manifest.get("name"):
        problems.append("vss-extension.json: name is missing")
    if not manifest.get("categories"):
        problems.append("vss-extension.json: at least one category is required")
    if len(str(manifest.get("description", ""))) >= 200:
        problems.append("vss-extension.json: description must be under 200 characters")
    ids = [c.get("id") for c in manifest.get("contributions", [])]
    if not ids:
        problems.append("vss-extension.json: at least one contribution is required")
    if len(ids) != len(set(ids)):
        problems.append("vss-extension.json: contribution ids must be unique")
    return problems


def endpoint_problems(manifest: dict[str, Any], task: dict[str, Any]) -> list[str]:
    """The connection types the extension contributes, checked as Azure DevOps reads them on upload
    (Azure DevOps Server 2022: ServiceEndpointContributionExtensions.ToServiceEndpointType and
    EndpointContributionValidator), and against the task that uses them. tfx-cli checks none of it."""
    problems = []
    types: dict[str, dict[str, Any]] = {}
    for contribution in manifest.get("contributions", []):
        if contribution.get("type") != ENDPOINT_TYPE_CONTRIBUTION:
            continue
        where = f"vss-extension.json: connection type contribution '{contribution.get('id')}'"
        properties = contribution.get("properties") or {}
        if contribution.get("targets") != [ENDPOINT_TYPES_TARGET]:
            problems.append(f"{where}: targets must be [\"{ENDPOINT_TYPES_TARGET}\"]")
        name = str(properties.get("name", ""))
        if not re.match(r"^[A-Za-z][A-Za-z0-9_-]*$", name):
            problems.append(f"{where}: properties.name must be a name such as {AWS_ENDPOINT_TYPE}")
        if name in types:
            problems.append(f"{where}: the connection type name {name} is contributed twice")
        types[name] = properties
        if not str(properties.get("displayName", "")).strip():
            problems.append(f"{where}: properties.displayName is missing")
        url = properties.get("url")
        value = url.get("value") if isinstance(url, dict) else url
        # Azure DevOps requires a URL on every connection: a hidden one must come with its value.
        if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value):
            problems.append(f"{where}: properties.url needs an absolute http(s) value (a connection must have a URL)")
        problems += _descriptor_problems(properties.get("inputDescriptors", []), where)
        schemes = properties.get("authenticationSchemes") or []
        if not schemes:
            problems.append(f"{where}: at least one authentication scheme is required")
        for scheme in schemes:
            if str(scheme.get("type", "")).lower() not in ENDPOINT_AUTH_SCHEMES:
                problems.append(f"{where}: authentication scheme '{scheme.get('type')}' is not one Azure DevOps "
                                "accepts (e.g. ms.vss-endpoint.endpoint-auth-scheme-none)")
            problems += _descriptor_problems(scheme.get("inputDescriptors", []), where)
    for spec in task.get("inputs", []):
        kind = str(spec.get("type", ""))
        if kind.startswith("connectedService:"):
            wanted = kind.split(":", 1)[1]
            if wanted not in BUILT_IN_ENDPOINT_TYPES and wanted not in types:
                problems.append(f"task.json: input {spec.get('name')} wants connection type {wanted}, which "
                                "vss-extension.json does not contribute")
    aws = types.get(AWS_ENDPOINT_TYPE)
    if aws is not None:
        problems += _aws_endpoint_problems(aws)
    return problems


def _descriptor_problems(descriptors: list[dict[str, Any]], where: str) -> list[str]:
    problems = []
    ids = [d.get("id") for d in descriptors]
    if len(ids) != len(set(ids)):
        problems.append(f"{where}: input descriptor ids must be unique")
    for descriptor in descriptors:
        if not descriptor.get("id") or not descriptor.get("name"):
            problems.append(f"{where}: every input descriptor needs an id and a name")
        values = descriptor.get("values")
        if isinstance(values, dict) and not values.get("inputId"):
            problems.append(f"{where}: input {descriptor.get('id')}: values needs an inputId")
        pattern = (descriptor.get("validation") or {}).get("pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(f"{where}: input {descriptor.get('id')}: validation pattern does not compile ({exc})")
    return problems


def _aws_endpoint_problems(properties: dict[str, Any]) -> list[str]:
    where = f"vss-extension.json: connection type {AWS_ENDPOINT_TYPE}"
    problems = []
    fields = {d.get("id"): d for d in properties.get("inputDescriptors", [])}
    for name in AWS_ENDPOINT_FIELDS:
        if name not in fields:
            problems.append(f"{where}: the input {name} is missing (the task reads it from the connection)")
        elif fields[name].get("isConfidential"):
            problems.append(f"{where}: the input {name} must not be confidential (it is no secret)")
    role = (fields.get("roleArn") or {}).get("validation") or {}
    if "roleArn" in fields and not (role.get("isRequired") and role.get("pattern")):
        problems.append(f"{where}: the roleArn input must be required and validated with a pattern")
    for scheme in properties.get("authenticationSchemes") or []:
        if scheme.get("type") != "ms.vss-endpoint.endpoint-auth-scheme-none" or scheme.get("inputDescriptors"):
            problems.append(f"{where}: its only authentication scheme is ms.vss-endpoint.endpoint-auth-scheme-none "
                            "with no inputs: the connection stores no secret")
    return problems


def task_problems(task: dict[str, Any], folder: Path) -> list[str]:
    """task.json's required fields and the extra rules tfx-cli checks on `extension create`."""
    problems = []
    for key in ("id", "name", "friendlyName", "description", "author", "version", "instanceNameFormat", "execution"):
        if not task.get(key):
            problems.append(f"task.json: {key} is missing")
    if task.get("id") and not GUID.match(str(task["id"])):
        problems.append("task.json: id must be a GUID")
    if task.get("name") and not re.match(r"^[A-Za-z0-9-]+$", str(task["name"])):
        problems.append("task.json: name must be letters, digits and '-'")
    if len(str(task.get("friendlyName", ""))) > 40:
        problems.append("task.json: friendlyName must be at most 40 characters")
    version = task.get("version") or {}
    if not all(isinstance(version.get(k), int) for k in ("Major", "Minor", "Patch")):
        problems.append("task.json: version needs whole-number Major, Minor and Patch")
    for stage_name in ("prejobexecution", "execution", "postjobexecution"):
        for handler, spec in (task.get(stage_name) or {}).items():
            target = str(spec.get("target", ""))
            if not target or not (folder / target).is_file():
                problems.append(f"task.json: the {stage_name} {handler} target '{target}' does not exist in "
                                f"{folder.name}/")
    names = {i.get("name") for i in task.get("inputs", [])}
    groups = {g.get("name") for g in task.get("groups", [])}
    for spec in task.get("inputs", []):
        if spec.get("groupName") and spec["groupName"] not in groups:
            problems.append(f"task.json: input {spec.get('name')} names the missing group {spec['groupName']}")
        if not spec.get("helpMarkDown"):
            problems.append(f"task.json: input {spec.get('name')} has no helpMarkDown")
    if len(names) != len(task.get("inputs", [])):
        problems.append("task.json: input names must be unique")
    return problems


# -- versions -------------------------------------------------------------------------------------
def bump(part: str, publisher: Optional[str] = None, links: Optional[dict[str, str]] = None) -> str:
    """Raise the extension version, task.json's version and the Python package's version as one:
    the Marketplace needs the first two to rise on every publish, and agents pick tasks by them.
    The publisher and links given with it are written into vss-extension.json too, so that every
    later build (and the next person's) uses them: the committed manifest is the one source of truth."""
    manifest_text = MANIFEST.read_text(encoding="utf-8")
    current = json.loads(manifest_text)["version"]
    match = SEMVER.match(current)
    if not match:
        raise BuildError(f"vss-extension.json's version '{current}' is not MAJOR.MINOR.PATCH.")
    major, minor, patch = (int(x) for x in match.groups())
    major, minor, patch = {
        "major": (major + 1, 0, 0),
        "minor": (major, minor + 1, 0),
        "patch": (major, minor, patch + 1),
    }[part]
    new = f"{major}.{minor}.{patch}"
    MANIFEST.write_text(rewrite_manifest(manifest_text, new, publisher, links or {}), encoding="utf-8")
    task_path = TASK_SOURCE / "task.json"
    task_text = task_path.read_text(encoding="utf-8")
    for key, value in (("Major", major), ("Minor", minor), ("Patch", patch)):
        task_text = re.sub(rf'("{key}"\s*:\s*)\d+', lambda m, v=value: f"{m[1]}{v}", task_text, count=1)  # type: ignore[misc]
    task_path.write_text(task_text, encoding="utf-8")
    pyproject = PYPROJECT.read_text(encoding="utf-8")
    PYPROJECT.write_text(re.sub(r'(?m)^version = "[^"]*"', f'version = "{new}"', pyproject, count=1), encoding="utf-8")
    return new


def rewrite_manifest(text: str, version: str, publisher: Optional[str], links: dict[str, str]) -> str:
    """vss-extension.json's text with a new version (and publisher, links), its layout kept: each
    value is replaced where it stands. Should the layout defeat that (the result parses to another
    document than intended), the whole file is written out afresh instead."""
    wanted = json.loads(text)
    wanted["version"] = version

    def put(pattern: str, value: str, source: str) -> str:
        return re.sub(pattern, lambda m: m[1] + json.dumps(value, ensure_ascii=False), source, count=1)

    text = put(r'("version"\s*:\s*)"(?:[^"\\]|\\.)*"', version, text)
    if publisher:
        wanted["publisher"] = publisher
        text = put(r'("publisher"\s*:\s*)"(?:[^"\\]|\\.)*"', publisher, text)
    for kind, uri in links.items():
        current = wanted.setdefault("links", {}).get(kind)
        wanted["links"][kind] = {**(current if isinstance(current, dict) else {}), "uri": uri}
        text = put(rf'("{re.escape(kind)}"\s*:\s*\{{\s*"uri"\s*:\s*)"(?:[^"\\]|\\.)*"', uri, text)
    try:
        if json.loads(text) == wanted:
            return text
    except ValueError:
        pass
    return json.dumps(wanted, indent=2, ensure_ascii=False) + "\n"


def release_changelog(version: str, today: str, path: Path = CHANGELOG) -> str:
    """Date CHANGELOG.md's Unreleased entries (Keep a Changelog) under a heading for the new version,
    leaving an empty Unreleased section above it; with nothing to move, a reminder. Returns the line
    to print."""
    shown = display(path)
    reminder = f"{shown}: add {version}'s entry (## [{version}] - {today}): "
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return reminder + "there is no changelog"
    unreleased = re.search(r"(?mi)^## \[?Unreleased\]?[ \t]*$\n?", text)
    if not unreleased:
        return reminder + "it has no '## [Unreleased]' section to move"
    if re.search(rf"(?m)^## \[?{re.escape(version)}\]?(\s|$)", text):
        return f"{shown} already has a section for {version}: left as it is"
    rest = text[unreleased.end():]
    following = re.search(r"(?m)^## ", rest)
    entries = rest[:following.start()] if following else rest
    if not re.sub(r"(?s)<!--.*?-->", "", entries).strip():
        return reminder + "its Unreleased section is empty"
    path.write_text(text[:unreleased.end()].rstrip("\n") + f"\n\n## [{version}] - {today}\n\n" + rest.lstrip("\n"),
                    encoding="utf-8")
    return f"{shown}: the Unreleased entries are now {version}'s (## [{version}] - {today}): check them"


# -- vendoring ------------------------------------------------------------------------------------
def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", *args]
    result = subprocess.run(command, capture_output=True, text=True)  # nosec B603
    if result.returncode != 0:
        raise BuildError(
            "pip failed:\n  " + " ".join(command) + "\n" + (result.stderr or result.stdout).strip()[-3000:]
            + "\nCheck that pip can reach the package index (proxy settings: PIP_INDEX_URL, HTTPS_PROXY)."
        )


PURE_WHEEL = ("--only-binary=:all:", "--implementation", "py", "--abi", "none", "--platform", "any")
# pip filters releases by Requires-Python for --python-version, but evaluates dependency markers for
# the interpreter it runs on. Resolving on 3.10+ takes botocore's urllib3 2.x (its marker for >= 3.10)
# into the one set every agent Python uses (3.9 runs it too: tested); PyJWT's typing-extensions,
# needed below 3.11, is named explicitly for the same reason.
MARKER_DEPENDENCIES = ["typing-extensions>=4.0"]
# A lock entry as relock() writes it (pip's format, continuation lines joined).
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)$")


@dataclass(frozen=True)
class Pin:
    name: str  # normalized as wheel file names are compared (PEP 503)
    version: str
    sha256: frozenset[str]  # the digests the lock allows (relock() writes one)

    def requirement(self) -> str:
        return f"{self.name}=={self.version} " + " ".join(f"--hash=sha256:{h}" for h in sorted(self.sha256))


def project_name(name: str) -> str:
    """PEP 503's normalized name: the lock says python-dateutil, its wheel python_dateutil."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(lock: Path) -> list[Pin]:
    try:
        text = lock.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BuildError(f"{display(lock)} is missing: python3 build.py --lock writes it.") from None
    pins = []
    for line in text.replace("\\\n", " ").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = PIN.match(line.strip())
        if not match:
            raise BuildError(f"{display(lock)}: cannot read '{line.strip()}': every entry is "
                             "name==version --hash=sha256:<digest> (python3 build.py --lock writes them).")
        pins.append(Pin(project_name(match[1]), match[2], frozenset(re.findall(r"[0-9a-f]{64}", match[3]))))
    return pins


def cached_wheels(pin: Pin, cache: Path) -> list[Path]:
    """Every wheel in the cache pip could take for `pin`: its file name names the project and version."""
    found = []
    for wheel in sorted(cache.glob("*.whl")):
        name, _, rest = wheel.name.partition("-")
        version = rest.partition("-")[0]
        if project_name(name) == pin.name and version.lower() == pin.version.lower():
            found.append(wheel)
    return found


def download(pins: list[Pin], cache: Path) -> None:
    """Fetch these pins' wheels into the cache. pip checks their hashes as it downloads; they land in
    a folder of their own first, so that an interrupted download leaves no partial file under a
    wheel's name (the next build would report it as changed)."""
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache) as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text("".join(pin.requirement() + "\n" for pin in pins), encoding="utf-8")
        pip("download", "--quiet", "--disable-pip-version-check", "--no-deps", "--require-hashes", *PURE_WHEEL,
            "--python-version", MIN_PYTHON, "--dest", str(Path(tmp) / "wheels"), "-r", str(requirements))
        for wheel in sorted((Path(tmp) / "wheels").glob("*.whl")):
            os.replace(wheel, cache / wheel.name)


def verified_wheel(pin: Pin, cache: Path, lock: Path) -> tuple[str, bytes]:
    """The cached wheel of `pin`, read once and checked against the lock: the bytes checked are the
    bytes unpacked, so nothing can change the file in between. Checked on every build, since anything
    that can write to build/ could have changed a wheel since it was downloaded."""
    shown = display(cache)
    checked = []
    for wheel in cached_wheels(pin, cache):
        data = wheel.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest not in pin.sha256:
            raise BuildError(
                f"The cached wheel {shown}/{wheel.name} is not the one {display(lock)} pins:\n"
                f"  expected sha256 {' or '.join(sorted(pin.sha256))}\n"
                f"  found    sha256 {digest}\n"
                f"Something changed it after it was downloaded. Delete {shown}/ (or just that file) and build again: "
                "the build downloads it afresh and checks it. If the mismatch persists, the package index serves "
                "another file than the one the lock pinned: find out why before re-pinning.")
        checked.append((wheel.name, data))
    if not checked:
        raise BuildError(f"pip downloaded no wheel named like {pin.name}=={pin.version} into {shown}/: check that "
                         f"{display(lock)} names the version as the wheel file does (python3 build.py --lock).")
    return checked[0]


def unpack_wheel(name: str, data: bytes, into: Path) -> None:
    """What pip install --target makes of a pure-Python wheel, limited to what staging keeps: the
    wheel's root and its <name>.data/purelib (or platlib) go into `into`; the other .data folders
    (scripts, headers, data files) serve a command line or a compiler, never a run's imports."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        for info in members:
            parts = PurePosixPath(info.filename).parts
            if info.filename.startswith("/") or "\\" in info.filename or ":" in info.filename or ".." in parts:
                raise BuildError(f"The wheel {name} holds a file outside its own tree ({info.filename}).")
            if PurePosixPath(info.filename).suffix in NATIVE_SUFFIXES:
                raise BuildError(f"The lock pins a wheel with native code ({name}: {info.filename}): pin "
                                 "pure-Python wheels only.")
        for info in members:
            parts = PurePosixPath(info.filename).parts
            if parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue
                parts = parts[2:]
            # Pruned now rather than after staging: botocore's unused service models are most of the bytes.
            if not keep(PurePosixPath(*parts)):
                continue
            target = into.joinpath(*parts)
            if target.exists():
                raise BuildError(f"Two locked wheels ship {PurePosixPath(*parts)} (one of them {name}).")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))


def vendor(into: Path, lock: Path = LOCK, cache: Path = WHEELS) -> Path:
    """Unpack the locked dependencies into `into`, a new empty folder, from wheels cached in `cache`:
    the missing ones downloaded, every one checked against the lock as it is read."""
    # Earlier versions of this file kept an installed tree in build/vendor/ and reused it unchecked:
    # remove it, so that nothing mistakes it for a live cache.
    shutil.rmtree(BUILD / "vendor", ignore_errors=True)
    pins = read_lock(lock)
    missing = [pin for pin in pins if not cached_wheels(pin, cache)]
    if missing:
        download(missing, cache)
    for pin in pins:
        unpack_wheel(*verified_wheel(pin, cache, lock), into)
    return into


def relock() -> None:
    """Resolve pyproject's ranges to the newest pure-Python wheels and pin them with their hashes."""
    if sys.version_info < (3, 10):
        raise BuildError("Run --lock with Python 3.10 or newer (see MARKER_DEPENDENCIES in build.py).")
    ranges = re.search(r"(?ms)^dependencies = \[(.*?)\]", PYPROJECT.read_text(encoding="utf-8"))
    if not ranges:
        raise BuildError("python/pyproject.toml has no dependencies list.")
    requirements = re.findall(r'"([^"]+)"', ranges[1]) + MARKER_DEPENDENCIES
    with tempfile.TemporaryDirectory() as tmp:
        pip("download", "--quiet", "--disable-pip-version-check", *PURE_WHEEL, "--python-version", MIN_PYTHON,
            "--dest", tmp, *requirements)
        lines = [line for line in LOCK.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
        for wheel in sorted(Path(tmp).glob("*.whl"), key=lambda p: p.name.lower()):
            name, version = wheel.name.split("-")[:2]
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            lines += [f"{name.lower().replace('_', '-')}=={version} \\", f"    --hash=sha256:{digest}"]
    LOCK.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- staging --------------------------------------------------------------------------------------
def stage(sources: Sources, vendored: Path, root: Path) -> None:
    """Lay out exactly what the .vsix holds under `root`, with vss-extension.json beside it (as
    tfx-cli would read it)."""
    shutil.rmtree(root, ignore_errors=True)
    task_dir = root / sources.task_folder
    lib = task_dir / "lib"
    lib.mkdir(parents=True)
    for name in sorted(os.listdir(TASK_SOURCE)):
        if (TASK_SOURCE / name).is_file():
            shutil.copyfile(TASK_SOURCE / name, task_dir / name)
    shutil.copytree(PACKAGE_SOURCE, lib / "awswif", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copyfile(CREDENTIAL_PROCESS_SCRIPT, lib / CREDENTIAL_PROCESS_SCRIPT.name)
    copy_vendored(vendored, lib)
    for asset in manifest_assets(sources.manifest):
        source = TASK_SOURCE / "icon.png" if asset.endswith("icon.png") else ROOT / asset
        (root / asset).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / asset)
    (root / "vss-extension.json").write_text(json.dumps(sources.manifest, indent=2) + "\n", encoding="utf-8")


def manifest_assets(manifest: dict[str, Any]) -> list[str]:
    """Files the manifest names outside `files`: its icon and its content (the Marketplace details
    page, the licence)."""
    assets = [manifest.get("icons", {}).get("default")] + [path for _, path in content_assets(manifest)]
    return [a for a in assets if a]


def content_assets(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """vss-extension.json's "content" as tfx-cli reads it: each entry with a path is an asset of type
    Microsoft.VisualStudio.Services.Content.<Entry> (details: the overview page; license: the licence)."""
    content = manifest.get("content") or {}
    return [(str(kind).lower().capitalize(), str(entry["path"])) for kind, entry in content.items()
            if isinstance(entry, dict) and entry.get("path")]


def copy_vendored(vendored: Path, lib: Path) -> None:
    for path in sorted(vendored.rglob("*")):
        relative = path.relative_to(vendored)
        if path.is_dir() or not keep(relative):
            continue
        destination = lib / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    for info in sorted(lib.glob("*.dist-info")):
        if not any(LICENSE_FILE.match(p.name) for p in info.rglob("*")):
            raise BuildError(f"{info.name} ships no licence file: the .vsix must carry every dependency's licence.")


def keep(relative: PurePosixPath | Path) -> bool:
    """Whether a vendored file can be loaded by a run (or must ship: licences)."""
    parts = relative.parts
    posix = "/".join(parts)
    if any(posix == p or posix.startswith(p + "/") for p in PRUNE_PATHS):
        return False
    if any(part in PRUNE_NAMES for part in parts) or relative.suffix in PRUNE_SUFFIXES:
        return False
    if parts[0].endswith(".dist-info"):
        # The licences must ship with the code; METADATA says which version is inside.
        return parts[-1] == "METADATA" or bool(LICENSE_FILE.match(parts[-1])) or "licenses" in parts
    if parts[:2] == ("botocore", "data") and len(parts) > 2:
        return parts[2] in BOTOCORE_DATA_KEEP
    return True


# -- bytecode -------------------------------------------------------------------------------------
# A hosted agent unpacks the task afresh for every job, so without shipped bytecode each run
# compiles every module it imports (cold against warm: docs/performance.md). Compiled per interpreter, into
# __pycache__/<module>.<cache tag>.pyc where that interpreter looks, with unchecked-hash
# invalidation: the pyc records a hash of its source and is never revalidated against it, so the
# unpacked files' timestamps do not matter, the install is never written to, and nothing is
# hashed at run time. Reproducible: the pyc holds no timestamp, the names compiled into it are
# relative to lib/ (the import fixes co_filename to the real path), and the compiler runs with a
# fixed hash seed (set constants are stored in iteration order, which depends on it) in a fresh
# process over the same files in the same order (marshal's back-references depend on refcounts).
COMPILE = """
import py_compile, sys
lib = sys.argv[1]
for relative in sys.stdin.read().split():
    py_compile.compile(lib + "/" + relative, dfile=relative, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""
PROBE = "import sys; print(sys.implementation.cache_tag, sys.implementation.name, '%d.%d' % sys.version_info[:2])"


@dataclass(frozen=True)
class Interpreter:
    command: str
    cache_tag: str
    version: str


def interpreter(command: str) -> Interpreter:
    try:
        probe = [command, "-s", "-S", "-c", PROBE]
        options: dict[str, Any] = {"capture_output": True, "text": True, "env": compiler_environment(), "timeout": 60}
        result = subprocess.run(probe, **options)  # nosec B603
    except OSError as exc:
        raise BuildError(f"--bytecode {command}: cannot run it ({exc.strerror or exc}).") from None
    fields = result.stdout.split()
    if result.returncode != 0 or len(fields) != 3:
        raise BuildError(f"--bytecode {command}: not a working Python ({(result.stderr or result.stdout).strip()}).")
    tag, implementation, version = fields
    if implementation != "cpython" or tuple(int(x) for x in version.split(".")) < (3, 9):
        raise BuildError(f"--bytecode {command}: {implementation} {version}; name CPython 3.9 or newer.")
    return Interpreter(command, tag, version)


def compiler_environment() -> dict[str, str]:
    """No PYTHON* variable (PYTHONPYCACHEPREFIX would put the bytecode elsewhere, PYTHONOPTIMIZE
    name it .opt-N), and a fixed hash seed."""
    keep = {k: v for k, v in os.environ.items() if k.upper() in {"PATH", "SYSTEMROOT", "TEMP", "TMP", "HOME"}}
    return {**keep, "PYTHONHASHSEED": "0"}


def bytecode_modules(lib: Path) -> list[str]:
    """Source files to compile, relative to lib/: every module of awswif (small, and new ones need
    no list change), and the vendored modules a run was measured to import."""
    names = [line.strip() for line in BYTECODE_MODULES.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    files = {p.relative_to(lib).as_posix() for p in (lib / "awswif").rglob("*.py")}
    for name in names:
        base = PurePosixPath(*name.split("."))
        found = [str(c) for c in (base.with_suffix(".py"), base / "__init__.py") if (lib / c).is_file()]
        if not found:
            raise BuildError(f"{BYTECODE_MODULES.relative_to(ROOT)} names {name}, which the vendored packages do not "
                             "have: regenerate it with python3 bench/imports.py --write")
        files.add(found[0])
    return sorted(files)


def compile_bytecode(lib: Path, interpreters: list[Interpreter]) -> None:
    if not interpreters:
        return
    files = bytecode_modules(lib)
    for python in interpreters:
        command = [python.command, "-s", "-S", "-c", COMPILE, str(lib)]
        options: dict[str, Any] = {"input": "\n".join(files), "capture_output": True, "text": True,
                                   "env": compiler_environment(), "timeout": 600}
        result = subprocess.run(command, **options)  # nosec B603
        if result.returncode != 0:
            raise BuildError(f"Compiling with {python.command} (Python {python.version}) failed:\n"
                             + result.stderr.strip()[-3000:])


# -- the .vsix ------------------------------------------------------------------------------------
def payload(root: Path, sources: Sources) -> list[str]:
    """The files inside the .vsix besides its own manifests, as part names relative to `root`."""
    folders = [f["path"] for f in sources.manifest.get("files", [])]
    names = set(manifest_assets(sources.manifest))
    for folder in folders:
        base = root / folder
        if not base.exists():
            raise BuildError(f"vss-extension.json lists '{folder}' in files, but the build did not produce it.")
        names.update(p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file())
    for name in names:
        if BAD_PART_CHARS.search(name) or name.endswith(".") or re.search(r"%(?![0-9A-Fa-f]{2})", name):
            raise BuildError(f"'{name}' is not a valid part name in a .vsix (no spaces, # ^ [ ] < > ?).")
    if not (root / sources.task_folder / "task.json").is_file():
        raise BuildError(f"The task contribution names folder '{sources.task_folder}', which holds no task.json.")
    return sorted(names)


def content_types(names: Iterable[str]) -> str:
    suffixes = sorted({PurePosixPath(n).suffix.lower() for n in names if PurePosixPath(n).suffix} |
                      {".vsixmanifest", ".vsomanifest"})
    defaults = "".join(
        f"<Default Extension={quoteattr(s)} ContentType={quoteattr(CONTENT_TYPES.get(s, DEFAULT_CONTENT_TYPE))}/>"
        for s in suffixes
    )
    overrides = "".join(
        f"<Override ContentType={quoteattr(EXTENSIONLESS_CONTENT_TYPE)} PartName={quoteattr('/' + n)}/>"
        for n in sorted(names) if not PurePosixPath(n).suffix
    )
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f"{defaults}{overrides}</Types>")


def vsomanifest(manifest: dict[str, Any]) -> str:
    document = {
        "manifestVersion": 1,
        "scopes": manifest.get("scopes", []),
        "contributions": manifest.get("contributions", []),
        "contributionTypes": manifest.get("contributionTypes", []),
    }
    return json.dumps(document, indent=2)


def vsixmanifest(manifest: dict[str, Any]) -> str:
    links = "".join(
        f'<Property Id="Microsoft.VisualStudio.Services.Links.{escape(kind.capitalize())}" '
        f"Value={quoteattr(link.get('uri') or link['url'])}/>"
        for kind, link in sorted(manifest.get("links", {}).items())
        if isinstance(link, dict) and (link.get("uri") or link.get("url"))
    )
    assets = ['<Asset Type="Microsoft.VisualStudio.Services.Manifest" d:Source="File" '
              'Path="extension.vsomanifest" Addressable="true"/>']
    icon = manifest.get("icons", {}).get("default")
    content = content_assets(manifest)
    for kind, path in content:
        assets.append(f'<Asset Type="Microsoft.VisualStudio.Services.Content.{escape(kind)}" d:Source="File" '
                      f'Path={quoteattr(path)} Addressable="true"/>')
    license_path = next((path for kind, path in content if kind == "License"), None)
    if icon:
        assets.append(f'<Asset Type="Microsoft.VisualStudio.Services.Icons.Default" d:Source="File" '
                      f'Path={quoteattr(icon)} Addressable="true"/>')
    targets = "".join(f"<InstallationTarget Id={quoteattr(t['id'])}/>" for t in manifest.get("targets", []))
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011" '
        'xmlns:d="http://schemas.microsoft.com/developer/vsx-schema-design/2011">'
        "<Metadata>"
        f"<Identity Language=\"en-US\" Id={quoteattr(manifest['id'])} Version={quoteattr(manifest['version'])} "
        f"Publisher={quoteattr(manifest['publisher'])}/>"
        f"<DisplayName>{escape(manifest['name'])}</DisplayName>"
        f"<Description xml:space=\"preserve\">{escape(manifest.get('description', ''))}</Description>"
        f"<Tags>{escape(','.join(manifest.get('tags', [])))}</Tags>"
        f"<Categories>{escape(','.join(manifest['categories']))}</Categories>"
        f"<GalleryFlags>{'Public' if manifest.get('public') else ''}</GalleryFlags>"
        f"<Properties>{links}</Properties>"
        + (f"<Icon>{escape(icon)}</Icon>" if icon else "")
        + (f"<License>{escape(license_path)}</License>" if license_path else "")
        + "</Metadata>"
        "<Dependencies/>"
        f"<Installation>{targets}</Installation>"
        f"<Assets>{''.join(assets)}</Assets>"
        "</PackageManifest>"
    )


def build_time() -> tuple[int, int, int, int, int, int]:
    """SOURCE_DATE_EPOCH, else the last commit's time: the same commit always zips the same bytes."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        result = subprocess.run(  # nosec B603 B607
            ["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True, text=True
        )
        epoch = result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "315532800"
    # Zip cannot store dates before 1980.
    moment = time.gmtime(max(int(epoch), 315532800))
    return moment[:6]  # type: ignore[return-value]


def zip_entries(root: Path, names: list[str]) -> Iterator[tuple[str, Optional[Path]]]:
    """Folders before their files, sorted, as tfx-cli lays them out."""
    seen: set[str] = set()
    for name in names:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth]) + "/"
            if folder not in seen:
                seen.add(folder)
                yield folder, None
        yield name, root / name


def write_vsix(root: Path, sources: Sources, output: Path) -> tuple[int, int]:
    names = payload(root, sources)
    stamp = build_time()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    count = 0
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as vsix:

        def add(name: str, data: Optional[bytes]) -> None:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.create_system = 3  # unix, so that the permission bits below are read
            if data is None:
                info.external_attr = (0o40755 << 16) | 0x10
                vsix.writestr(info, b"")
            else:
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                vsix.writestr(info, data, compresslevel=9)

        add("[Content_Types].xml", content_types(names).encode())
        add("extension.vsomanifest", vsomanifest(sources.manifest).encode())
        for name, path in zip_entries(root, names):
            add(name, None if path is None else path.read_bytes())
            count += path is not None
        add("extension.vsixmanifest", vsixmanifest(sources.manifest).encode())
    partial.replace(output)
    return output.stat().st_size, count + 3


# -- the command ----------------------------------------------------------------------------------
def build(publisher: Optional[str] = None, out: Path = DIST, root: Path = BUILD / "stage",
          bytecode: Optional[list[str]] = None, links: Optional[dict[str, str]] = None,
          release: bool = False) -> Path:
    sources = read_sources(publisher, links)
    unset = placeholders(sources.manifest)
    if release and unset:
        raise BuildError(release_refusal(unset))
    interpreters: dict[str, Interpreter] = {}
    for command in bytecode if bytecode is not None else [sys.executable]:
        python = interpreter(command)
        if python.cache_tag in interpreters:
            raise BuildError(f"--bytecode names two interpreters for Python {python.version}: "
                             f"{interpreters[python.cache_tag].command} and {command}.")
        interpreters[python.cache_tag] = python
    # Unpacked afresh by every build, and gone after staging: no unpacked file outlives the build.
    with tempfile.TemporaryDirectory(prefix="aws-wif-vendor-") as unpacked:
        stage(sources, vendor(Path(unpacked)), root)
    compile_bytecode(root / sources.task_folder / "lib", list(interpreters.values()))
    output = out / f"{sources.identity}.vsix"
    size, files = write_vsix(root, sources, output)
    print(f"Built {display(output)}")
    print(f"  extension {sources.manifest['publisher']}.{sources.manifest['id']} {sources.manifest['version']}, "
          f"task {sources.task['name']}@{sources.task_version} (folder {sources.task_folder})")
    print(f"  bytecode for {', '.join(f'Python {p.version}' for p in interpreters.values()) or 'no interpreter'}")
    print(f"  {size / 1024 / 1024:.2f} MB ({size:,} bytes), {files} files")
    if unset:
        print(f"Note: vss-extension.json still has placeholders for the Marketplace listing: {'; '.join(unset)}. "
              "Given with --bump, these flags are written into vss-extension.json; --release refuses placeholders.")
    return output


def release_refusal(unset: list[str]) -> str:
    return (f"--release: not building, vss-extension.json has placeholders: {'; '.join(unset)}. Give these flags "
            "(with --bump they are written into vss-extension.json, for every later build).")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--publisher", help="your Marketplace publisher id (default: vss-extension.json's; "
                                             "written into it with --bump)")
    parser.add_argument("--repository", metavar="URL", help="the listing's repository link (default: "
                                                             "vss-extension.json's; written into it with --bump)")
    parser.add_argument("--support", metavar="URL", help="the listing's support link (default: vss-extension.json's; "
                                                          "written into it with --bump)")
    parser.add_argument("--release", action="store_true",
                        help="refuse to build while the publisher or the links are placeholders")
    parser.add_argument("--out", type=Path, default=DIST, help="where the .vsix goes (default: dist/)")
    parser.add_argument("--bump", choices=("patch", "minor", "major"),
                        help="raise the versions, move CHANGELOG.md's Unreleased entries under the new one, then build")
    parser.add_argument("--lock", action="store_true", help="re-pin python/requirements.lock, then build")
    parser.add_argument("--bytecode", nargs="*", metavar="PYTHON",
                        help="ship bytecode for these interpreters, those agents will run (default: the one running "
                             "build.py; none: no bytecode)")
    parser.add_argument("--stage", type=Path, default=BUILD / "stage", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    links = {kind: uri for kind, uri in (("repository", args.repository), ("support", args.support)) if uri is not None}
    try:
        # Before anything is written: a bad value or a refused release leaves the sources as they were.
        check_listing_flags(args.publisher, links)
        if args.release:
            unset = placeholders(listing_manifest(args.publisher, links))
            if unset:
                raise BuildError(release_refusal(unset))
        if args.lock:
            relock()
            print(f"Pinned {LOCK.relative_to(ROOT)}")
        if args.bump:
            version = bump(args.bump, args.publisher, links)
            print(f"Version {version}")
            print(release_changelog(version, datetime.date.today().isoformat()))
        build(args.publisher, args.out.resolve(), args.stage.resolve(), args.bytecode, links, args.release)
    except BuildError as problem:
        print(f"build.py: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
