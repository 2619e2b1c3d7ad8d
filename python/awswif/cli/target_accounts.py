"""Which accounts a many-accounts setup covers: listed (--accounts), in a file (--accounts-file), or
every active account under an organizational unit through AWS Organizations (--organizational-unit;
nested OUs included, as a StackSet's automatic deployment does). Each comes with the profile name
its line in the task's profiles/chainedProfiles gets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from ..identifiers import ACCOUNT_ID, PROFILE_NAME

_OU = re.compile(r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$", re.ASCII)
ACCOUNTS_MAX = 1000


@dataclass(frozen=True)
class Target:
    account_id: str
    name: str  # its profile name


def from_list(value: str) -> list[Target]:
    """--accounts 111111111111,222222222222 (commas or spaces)."""
    ids = [part for part in re.split(r"[,\s]+", value) if part]
    if not ids:
        raise UserError("--accounts lists no account.", "List 12-digit account ids separated by commas.")
    for account in ids:
        if not ACCOUNT_ID.match(account):
            raise UserError(f"--accounts has '{account}', which is not an AWS account id.",
                            "List 12-digit account ids separated by commas, e.g. 111111111111,222222222222.")
    return _unique([Target(a, a) for a in ids], "--accounts")


def from_file(path: str) -> list[Target]:
    """--accounts-file: one account a line, optionally followed by its profile name; # comments."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"Cannot read --accounts-file {path} ({exc}).",
                        "Give a text file with one 12-digit account id a line.") from None
    targets = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        account, _, name = (part.strip() for part in line.partition(" "))
        name = name or account
        if not ACCOUNT_ID.match(account) or not PROFILE_NAME.match(name):
            raise UserError(f"{path}, line {number} ('{raw.strip()}') is not an account id and an optional "
                            "profile name.", "Write e.g. '222222222222 prod' or '222222222222'.")
        targets.append(Target(account, name))
    if not targets:
        raise UserError(f"--accounts-file {path} lists no account.", "Write one 12-digit account id a line.")
    return _unique(targets, path)


def check_organizational_unit(value: str) -> str:
    if not _OU.match(value):
        raise UserError(f"--organizational-unit '{value}' is not an organizational unit or root id.",
                        "Give ou-xxxx-xxxxxxxx (or r-xxxx for the whole organization), as "
                        "aws organizations list-organizational-units-for-parent shows.")
    return value


def from_organization(organizations: Any, parent_id: str) -> list[Target]:
    """The active accounts under parent_id and its child OUs, named after their account names."""
    from botocore.exceptions import BotoCoreError, ClientError

    found: list[Target] = []
    parents = [parent_id]
    try:
        while parents:
            parent = parents.pop(0)
            for page in organizations.get_paginator("list_accounts_for_parent").paginate(ParentId=parent):
                found += [Target(a["Id"], _profile_name(a.get("Name", ""), a["Id"]))
                          for a in page.get("Accounts", []) if a.get("Status", "ACTIVE") == "ACTIVE"]
            for page in organizations.get_paginator("list_organizational_units_for_parent").paginate(ParentId=parent):
                parents += [unit["Id"] for unit in page.get("OrganizationalUnits", [])]
    except (BotoCoreError, ClientError) as exc:
        raise UserError(f"Could not list the accounts of {parent_id} in AWS Organizations ({exc}).",
                        "Run from the management account or a delegated administrator, with "
                        "organizations:ListAccountsForParent and ListOrganizationalUnitsForParent.") from None
    if not found:
        raise UserError(f"{parent_id} has no active account.", "Check the OU id (nested OUs are included).")
    return _unique(sorted(found, key=lambda t: t.account_id), parent_id)


def _profile_name(account_name: str, account_id: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", account_name).strip("-.")[:64]
    return name if name and name.lower() != "default" else account_id


def _unique(targets: list[Target], source: str) -> list[Target]:
    if len(targets) > ACCOUNTS_MAX:
        raise UserError(f"{source} lists {len(targets)} accounts; one run sets up at most {ACCOUNTS_MAX}.",
                        "Split the list.")
    seen: dict[str, Target] = {}
    names: set[str] = set()
    for target in targets:
        if target.account_id in seen:
            continue
        name = target.name
        # Profile names are compared ignoring case; two accounts named alike keep apart by their ids.
        if name.lower() in names:
            name = f"{name[:51]}-{target.account_id}"
        names.add(name.lower())
        seen[target.account_id] = Target(target.account_id, name)
    return list(seen.values())
