"""What every chained sts:AssumeRole carries besides the role: session tags that say which pipeline run
acts (so spoke accounts can write ABAC policies on aws:PrincipalTag/Project), the transitive tag keys,
and the source identity CloudTrail shows in every account of the chain. AssumeRoleWithWebIdentity
takes none of these (its tags come from the token), so they apply to chainedProfiles only."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlsplit

from .agent import Agent
from .errors import UserError
from .identifiers import SESSION_TAGS_MAX, SOURCE_IDENTITY, TAG_KEY_MAX, TAG_VALUE_MAX, tag_text_ok

# The tags a run sends unless skipSessionTagging, as configure-aws-credentials sends Repository,
# Workflow, Actor, Commit and Branch for GitHub (src/helpers, sanitizeGitHubVariables): each from the
# first of its variables that is set; a tag whose variables are all empty is left out.
DEFAULT_TAGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Organization", ("System.CollectionUri",)),
    ("Project", ("System.TeamProject",)),
    ("Pipeline", ("Build.DefinitionName", "Release.DefinitionName")),
    ("BuildId", ("Build.BuildId", "Release.ReleaseId")),
    ("Branch", ("Build.SourceBranch",)),
    ("Commit", ("Build.SourceVersion",)),
    ("RequestedFor", ("Build.RequestedFor", "Release.RequestedFor")),
)
FIXED_TAG = ("AzureDevOps", "Pipelines")
# configure-aws-credentials replaces what the tag rules do not allow with "_" and cuts at 256.
SANITIZATION_CHARACTER = "_"
_ORGANIZATION_IN_URL = (re.compile(r"^dev\.azure\.com/([^/]+)"), re.compile(r"^([^./]+)\.visualstudio\.com(?:/|$)"))
_ADO_SUBJECT = re.compile(r"^sc://(?P<organization>[^/]+)/(?P<project>[^/]+)/")


@dataclass(frozen=True)
class ChainedIdentity:
    """The tags (key order as sent), transitive keys and source identity of every chained AssumeRole."""

    tags: tuple[tuple[str, str], ...] = ()
    transitive_keys: tuple[str, ...] = ()
    source_identity: Optional[str] = None
    # The keys whose values the run took from job variables (not the author's sessionTags).
    defaulted_keys: tuple[str, ...] = ()

    def parameters(self, external_id: Optional[str] = None) -> dict[str, Any]:
        """The AssumeRole parameters, in botocore's shapes (STS API reference, AssumeRole)."""
        values: dict[str, Any] = {}
        if self.tags:
            values["Tags"] = [{"Key": k, "Value": v} for k, v in self.tags]
        if self.transitive_keys:
            values["TransitiveTagKeys"] = list(self.transitive_keys)
        if self.source_identity:
            values["SourceIdentity"] = self.source_identity
        if external_id:
            values["ExternalId"] = external_id
        return values

    def with_signed_names(self, subject: str) -> ChainedIdentity:
        """Organization and Project from the token's signed subject (sc://org/project/connection, the
        Azure DevOps issuer's) instead of job variables, which an earlier step of the job could set."""
        match = _ADO_SUBJECT.match(subject)
        if not match:
            return self
        signed = {"Organization": sanitize(match["organization"]), "Project": sanitize(match["project"])}
        tags = tuple((k, signed[k]) if k in signed and k in self.defaulted_keys else (k, v) for k, v in self.tags)
        return ChainedIdentity(tags, self.transitive_keys, self.source_identity, self.defaulted_keys)

    # The profile record (profile_record.py) keeps them, so a refresh sends the same.
    def record_fields(self) -> dict[str, str]:
        values: dict[str, str] = {}
        if self.tags:
            values["session_tags"] = json.dumps([list(t) for t in self.tags], separators=(",", ":"), ensure_ascii=True)
        if self.transitive_keys:
            values["transitive_tag_keys"] = ",".join(self.transitive_keys)
        if self.source_identity:
            values["source_identity"] = self.source_identity
        return values

    @classmethod
    def from_record(cls, tags: str, transitive: str, source_identity: str) -> ChainedIdentity:
        pairs = json.loads(tags) if tags else []
        if not isinstance(pairs, list) or not all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs):
            raise ValueError("session_tags is not a list of [key, value] pairs")
        return cls(tuple((k, v) for k, v in pairs), tuple(k for k in transitive.split(",") if k),
                   source_identity or None)


def sanitize(value: str) -> str:
    return "".join(c if tag_text_ok(c) else SANITIZATION_CHARACTER for c in value)[:TAG_VALUE_MAX]


def default_tags(variables: Mapping[str, str]) -> list[tuple[str, str]]:
    tags = [FIXED_TAG]
    for key, names in DEFAULT_TAGS:
        value = next((variables[n] for n in names if variables.get(n)), "")
        if key == "Organization":
            value = organization_name(value)
        if value:
            tags.append((key, sanitize(value)))
    return tags


def organization_name(collection_uri: str) -> str:
    """contoso from https://dev.azure.com/contoso/ or https://contoso.visualstudio.com/; an Azure
    DevOps Server collection URL stays whole (it is what names the organization there)."""
    parts = urlsplit(collection_uri)
    where = (parts.netloc + parts.path).lower() if parts.netloc else ""
    for pattern in _ORGANIZATION_IN_URL:
        match = pattern.match(where)
        if match:
            return match.group(1)
    return collection_uri.rstrip("/")


def read_chained_identity(agent: Agent, chained: bool) -> ChainedIdentity:
    """The inputs sessionTags, transitiveTagKeys, skipSessionTagging and sourceIdentity, checked against
    the STS rules before any call; the default tags from the job's variables."""
    text, transitive_text = agent.input("sessionTags"), agent.input("transitiveTagKeys")
    skip = agent.boolean_input("skipSessionTagging")
    source_identity = _source_identity(agent.input("sourceIdentity"))
    if not chained:
        given = [n for n, v in (("sessionTags", text), ("transitiveTagKeys", transitive_text),
                                ("sourceIdentity", source_identity)) if v]
        if given:
            raise UserError(f"{' and '.join(given)} apply to chainedProfiles, and this step has none.",
                            "AssumeRoleWithWebIdentity takes no session tags or source identity (its tags come from "
                            "the token): add the roles as chainedProfiles, or remove the input.")
        return ChainedIdentity()
    if skip:
        given = [n for n, v in (("sessionTags", text), ("transitiveTagKeys", transitive_text)) if v]
        if given:
            raise UserError(f"skipSessionTagging is true, and {' and '.join(given)} is set.",
                            "skipSessionTagging sends no tag at all: remove it, or remove the tag inputs.")
        return ChainedIdentity(source_identity=source_identity)
    defaults, author = default_tags(_job_variables(agent)), _author_tags(text)
    tags = _merge(defaults, author)
    authored = {k.lower() for k, _ in author}
    return ChainedIdentity(tuple(tags), _transitive(transitive_text, tags), source_identity,
                           tuple(k for k, _ in defaults if k.lower() not in authored))


def _job_variables(agent: Agent) -> dict[str, str]:
    return {name: agent.variable(name) for _, names in DEFAULT_TAGS for name in names}


def _author_tags(text: str) -> list[tuple[str, str]]:
    tags = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"The sessionTags input, line {number} ('{line}')"
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep or not key:
            raise UserError(f"{where} is not KEY=VALUE.", "Write one tag a line, e.g. CostCenter=1234.")
        if len(key) > TAG_KEY_MAX or not tag_text_ok(key):
            raise UserError(f"{where}: the key is not a valid tag key.",
                            f"Use 1 to {TAG_KEY_MAX} letters, digits, spaces and _ . : / = + - @.")
        if key.lower().startswith("aws:"):
            raise UserError(f"{where}: tag keys starting with 'aws:' are reserved for AWS.", "Choose another key.")
        if len(value) > TAG_VALUE_MAX or not tag_text_ok(value):
            raise UserError(f"{where}: the value is not a valid tag value.",
                            f"Use up to {TAG_VALUE_MAX} letters, digits, spaces and _ . : / = + - @.")
        tags.append((key, value))
    return tags


def _merge(defaults: Sequence[tuple[str, str]], author: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    # Tag keys are case-insensitive to STS ("you cannot have two keys that differ only in case"):
    # an author's key replaces the default of that name in any case.
    merged: dict[str, tuple[str, str]] = {k.lower(): (k, v) for k, v in defaults}
    seen: set[str] = set()
    for key, value in author:
        if key.lower() in seen:
            raise UserError(f"The sessionTags input has the key '{key}' twice (keys are compared ignoring case).",
                            "Give each tag once.")
        seen.add(key.lower())
        merged.pop(key.lower(), None)
        merged[key.lower()] = (key, value)
    if len(merged) > SESSION_TAGS_MAX:
        raise UserError(f"The session would carry {len(merged)} tags; AWS STS takes at most {SESSION_TAGS_MAX}.",
                        "Remove some sessionTags (the run's own tags count too; skipSessionTagging drops them).")
    return list(merged.values())


def _transitive(text: str, tags: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    keys = {k.lower(): k for k, _ in tags}
    chosen = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.lower() not in keys:
            raise UserError(f"The transitiveTagKeys input names '{part}', which is not one of the session's tags.",
                            f"Name tags the session carries: {', '.join(keys.values())}.")
        chosen.append(keys[part.lower()])
    return tuple(dict.fromkeys(chosen))


def _source_identity(value: str) -> Optional[str]:
    if not value:
        return None
    if not SOURCE_IDENTITY.match(value) or value.lower().startswith("aws:"):
        raise UserError(f"The sourceIdentity input '{value}' is not a valid source identity.",
                        "Use 2 to 64 characters from letters, digits and _ + = , . @ - (not starting with 'aws:'), "
                        "e.g. $(Build.RequestedForEmail).")
    return value
