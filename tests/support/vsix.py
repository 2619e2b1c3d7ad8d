"""The .vsix as build.py makes it and as tfx-cli (Microsoft's packager, installed by tests/run.py into
tests/.node) makes it from the same staged sources, read part by part; and build.py run on a copy of the
sources, so that a test may break them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest

from paths import ROOT, TESTS

TFX = TESTS / ".node" / "node_modules" / ".bin" / "tfx"
VSX = "{http://schemas.microsoft.com/developer/vsx-schema/2011}"
OPC = "{http://schemas.openxmlformats.org/package/2006/content-types}"


@dataclass(frozen=True)
class Built:
    vsix: Path
    stage: Path
    summary: str


def build_vsix(out: Path, stage: Path, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    """The README's build command, as a user runs it."""
    return subprocess.run([sys.executable, str(cwd / "build.py"), "--out", str(out), "--stage", str(stage), *args],
                          cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


# -- the .vsix against tfx-cli -----------------------------------------------------------------------
def tfx_create(stage: Path, out: Path) -> Path:
    assert TFX.exists(), "tests/run.py installs tfx-cli"
    vsix = out / "tfx.vsix"
    result = subprocess.run([str(TFX), "extension", "create", "--root", str(stage), "--manifest-globs",
                             "vss-extension.json", "--output-path", str(vsix), "--no-prompt"],
                            cwd=stage, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return vsix


def read_vsix(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        types = ElementTree.fromstring(archive.read("[Content_Types].xml"))
        manifest = ElementTree.fromstring(archive.read("extension.vsixmanifest"))
        vsomanifest = json.loads(archive.read("extension.vsomanifest"))
    files = sorted(n for n in names if not n.endswith("/"))
    identity = manifest.find(f"{VSX}Metadata/{VSX}Identity").attrib
    metadata = {child.tag.replace(VSX, ""): (child.text or "").strip() for child in manifest.find(f"{VSX}Metadata")}
    assets = sorted((a.get("Type"), a.get("Path")) for a in manifest.iter(f"{VSX}Asset"))
    links = sorted((p.get("Id"), p.get("Value")) for p in manifest.iter(f"{VSX}Property"))
    defaults = {d.get("Extension"): d.get("ContentType") for d in types.iter(f"{OPC}Default")}
    overrides = {o.get("PartName"): o.get("ContentType") for o in types.iter(f"{OPC}Override")}
    return {"files": files, "folders": sorted(n for n in names if n.endswith("/")), "identity": identity,
            "metadata": metadata, "assets": assets, "links": links, "defaults": defaults, "overrides": overrides,
            "vsomanifest": vsomanifest,
            "targets": sorted(t.get("Id") for t in manifest.iter(f"{VSX}InstallationTarget"))}


# -- versions, publisher, validation (on a copy of the sources) ----------------------------------------
@pytest.fixture
def sources_copy(tmp_path: Path) -> Path:
    copy_root = tmp_path / "repo"
    copy_root.mkdir()
    for name in ("build.py", "vss-extension.json", "overview.md", "LICENSE", "CHANGELOG.md"):
        shutil.copy(ROOT / name, copy_root / name)
    shutil.copytree(ROOT / "task", copy_root / "task")
    shutil.copytree(ROOT / "python", copy_root / "python", ignore=shutil.ignore_patterns("__pycache__"))
    # Share the wheel cache: the lock is the same, so the download is too (and every build checks it).
    (copy_root / "build").mkdir()
    (ROOT / "build" / "wheels").mkdir(parents=True, exist_ok=True)
    (copy_root / "build" / "wheels").symlink_to(ROOT / "build" / "wheels")
    return copy_root


def build_in(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return build_vsix(repo / "dist", repo / "build" / "stage", *args, cwd=repo,
                      env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
