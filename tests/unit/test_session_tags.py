"""The session-tag rules (session_tags.py) at their edges: which organization a collection URL names,
how values tags do not allow are sanitised, and the signed subject replacing forgeable variables."""

from __future__ import annotations

import pytest

from awswif.session_tags import ChainedIdentity, default_tags, organization_name, sanitize


@pytest.mark.parametrize(("uri", "name"), [
    ("https://dev.azure.com/contoso/", "contoso"),
    ("https://dev.azure.com/Contoso", "contoso"),
    ("https://contoso.visualstudio.com/", "contoso"),
    ("https://tfs.example.com/tfs/DefaultCollection/", "https://tfs.example.com/tfs/DefaultCollection"),
    ("", ""),
])
def test_the_organization_a_collection_url_names(uri: str, name: str) -> None:
    assert organization_name(uri) == name


def test_sanitising_keeps_letters_of_any_script_and_cuts_at_256() -> None:
    assert sanitize("refs/pull/7/merge") == "refs/pull/7/merge"
    assert sanitize("Zoë 'x' #1 (ops)") == "Zoë _x_ _1 _ops_"
    assert sanitize("日本語-ok") == "日本語-ok"
    assert len(sanitize("x" * 300)) == 256


def test_empty_variables_leave_their_tags_out() -> None:
    tags = dict(default_tags({"System.TeamProject": "infra", "Release.ReleaseId": "12", "Build.SourceBranch": ""}))
    assert tags == {"AzureDevOps": "Pipelines", "Project": "infra", "BuildId": "12"}


def test_the_signed_subject_replaces_only_what_the_run_filled_in() -> None:
    run = ChainedIdentity(tags=(("Organization", "forged"), ("Project", "forged"), ("Team", "a")),
                          defaulted_keys=("Organization", "Project"))
    signed = run.with_signed_names("sc://contoso/infra/my-connection")
    assert signed.tags == (("Organization", "contoso"), ("Project", "infra"), ("Team", "a"))
    authored = ChainedIdentity(tags=(("Project", "mine"),), defaulted_keys=())
    assert authored.with_signed_names("sc://contoso/infra/c").tags == (("Project", "mine"),)
    # The Entra issuer's subject names no project: the variables stay.
    assert run.with_signed_names("/eid1/c/pub/t/x/a/y/sc/o/c") == run
