"""The awswif command for people: trust policies, AWS setup and token inspection.

    awswif trust-policy   print the IAM OIDC provider and a hardened trust policy (json, cloudformation, terraform);
                          with --trust-role, a spoke role's trust policy for hub-and-spoke role chaining
    awswif setup          create or update them in your AWS account (idempotent; --dry-run, --update)
    awswif inspect-token  decode a token and show the trust condition that admits it
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timezone
from typing import Optional, TextIO

from .agent import neutralize
from .errors import UserError
from .inputs import ROLE_ARN
from .trust import azure_devops_issuer, azure_devops_subject, entra_issuer
from .trust_formats import FORMATS, ChainedSpec, TrustSpec, render, render_chained

_ENTRA_SUBJECT = re.compile(r"/sc/[0-9a-fA-F-]{36}/[0-9a-fA-F-]{36}$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="awswif", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def trust_arguments(command: argparse.ArgumentParser) -> None:
        issuer = command.add_argument_group("the token's issuer (one of)")
        issuer.add_argument("--organization-id", help="Azure DevOps issuer: the organization id "
                            "($(System.CollectionId), or the VisualStudioOnline-<hex> resource group name)")
        issuer.add_argument("--tenant-id", help="Microsoft Entra issuer: the tenant id")
        subject = command.add_argument_group("the subject(s) to trust")
        subject.add_argument("--subject", action="append", default=[],
                             help="the connection's subject, exactly (repeat for several)")
        subject.add_argument("--organization",
                             help="Azure DevOps issuer: organization name (with --project, --connection)")
        subject.add_argument("--project", help="project name")
        subject.add_argument("--connection", action="append", default=[], help="service connection name (repeatable)")
        role = command.add_argument_group("the role")
        role.add_argument("--role-name", default="azure-pipelines", help="default: azure-pipelines")
        role.add_argument("--managed-policy-arn", action="append", default=[], help="attach this policy (repeatable)")
        role.add_argument("--max-session-duration", type=int, default=3600, help="3600 to 43200 seconds")
        command.add_argument("--partition", default="aws", choices=("aws", "aws-cn", "aws-us-gov"))

    policy = commands.add_parser("trust-policy", help="print the provider and a hardened trust policy")
    trust_arguments(policy)
    policy.add_argument("--account-id", help="the AWS account (needed for --format json)")
    policy.add_argument("--format", choices=FORMATS, default="json")
    policy.add_argument("--existing-provider", action="store_true",
                        help="the account already has the IAM OIDC provider: reference it, do not create it")
    policy.add_argument("--trust-role", metavar="HUB_ROLE_ARN",
                        help="instead of a token's issuer and subject: trust this (hub) role, for a spoke role "
                             "in a chainedProfiles line; --account-id is then the spoke account")

    setup = commands.add_parser("setup", help="create or update the provider and role with your AWS credentials")
    trust_arguments(setup)
    setup.add_argument("--region", help="for the AWS API calls (default: your AWS configuration, else us-east-1)")
    setup.add_argument("--dry-run", action="store_true", help="print what would change; change nothing")
    setup.add_argument("--update", action="store_true", help="also change an existing role that differs")

    inspect = commands.add_parser("inspect-token", help="decode a token (never printed) and show its trust condition")
    inspect.add_argument("file", nargs="?", default="-", help="a file holding the token, or - for standard input")
    return parser


def trust_spec(args: argparse.Namespace, account_id: Optional[str] = None, subjects_needed: bool = True) -> TrustSpec:
    """The issuer and subjects from the flags, in whichever form the user has them."""
    if not subjects_needed:
        return _role_spec(args, "", ["-"], account_id)
    if bool(args.organization_id) == bool(args.tenant_id):
        raise UserError("Give exactly one of --organization-id (Azure DevOps issuer) and --tenant-id (Entra issuer).",
                        "The task's log shows which issuer your connection's tokens carry.")
    subjects = list(args.subject)
    if args.organization_id:
        issuer = azure_devops_issuer(args.organization_id)
        named = (args.organization, args.project, args.connection)
        if any(named):
            if not all(named):
                raise UserError("--organization, --project and --connection go together.",
                                "Give all three, or the exact --subject.")
            subjects += [azure_devops_subject(args.organization, args.project, c) for c in args.connection]
    else:
        issuer = entra_issuer(args.tenant_id)
        if args.organization or args.connection:
            raise UserError("Entra-issued subjects are not built from names.",
                            "Copy the connection's 'Workload Identity federation subject' into --subject.")
        for subject in subjects:
            if not _ENTRA_SUBJECT.search(subject):
                sys.stderr.write(f"awswif: note: '{subject}' does not end with /sc/<organization id>/<connection id> "
                                 "as Entra-issued Azure DevOps subjects do; check it against the connection.\n")
    if not subjects:
        raise UserError("No subject was given.", "Add --subject (or --organization, --project and --connection).")
    for subject in subjects:
        if "*" in subject or "?" in subject:
            raise UserError(f"The subject '{subject}' has a wildcard.",
                            "Trust exact subjects only: a wildcard admits connections you did not mean to.")
    return _role_spec(args, issuer, subjects, account_id)


def _role_spec(args: argparse.Namespace, issuer: str, subjects: list[str], account_id: Optional[str]) -> TrustSpec:
    if not _ROLE_NAME.match(args.role_name):
        raise UserError(f"'{args.role_name}' is not a valid IAM role name.", "Use 1-64 of letters, digits and _+=,.@-.")
    if not 3600 <= args.max_session_duration <= 43200:
        raise UserError("--max-session-duration must be from 3600 to 43200 seconds.", "IAM allows no other values.")
    account = account_id or getattr(args, "account_id", None)
    if account and not re.fullmatch(r"\d{12}", account):
        raise UserError(f"'{account}' is not an AWS account id.", "Use the 12-digit id.")
    return TrustSpec(issuer=issuer, subjects=subjects, account_id=account, partition=args.partition,
                     role_name=args.role_name, managed_policy_arns=args.managed_policy_arn,
                     max_session_duration=args.max_session_duration,
                     existing_provider=bool(getattr(args, "existing_provider", False)))


def chained_spec(args: argparse.Namespace) -> ChainedSpec:
    """The spoke role's trust: the hub role's ARN instead of a token's issuer and subjects."""
    given = [flag for flag, value in (("--organization-id", args.organization_id), ("--tenant-id", args.tenant_id),
                                      ("--subject", args.subject), ("--organization", args.organization),
                                      ("--project", args.project), ("--connection", args.connection),
                                      ("--existing-provider", args.existing_provider)) if value]
    if given:
        raise UserError(f"--trust-role does not go with {', '.join(given)}.",
                        "A spoke role trusts the hub role only; run the command without --trust-role for the hub.")
    match = ROLE_ARN.match(args.trust_role)
    if not match:
        raise UserError(f"--trust-role '{args.trust_role}' is not an IAM role ARN.",
                        "Give the hub role's ARN (the roleArn input), e.g. arn:aws:iam::111111111111:role/deploy.")
    spec = trust_spec(args, subjects_needed=False)
    return ChainedSpec(hub_role_arn=args.trust_role, account_id=spec.account_id, partition=match["partition"],
                       role_name=spec.role_name, managed_policy_arns=spec.managed_policy_arns,
                       max_session_duration=spec.max_session_duration)


def _read_token(source: str, stdin: TextIO) -> str:
    if source == "-":
        return stdin.read()
    try:
        with open(source, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise UserError(f"Cannot read {source}: {exc.strerror}.",
                        "Give a file holding the token, or - for stdin.") from None


def main(argv: list[str], out: TextIO = sys.stdout, stdin: TextIO = sys.stdin) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "trust-policy" and args.trust_role:
            out.write(render_chained(chained_spec(args), args.format))
        elif args.command == "trust-policy":
            out.write(render(trust_spec(args), args.format))
        elif args.command == "inspect-token":
            from .token_inspect import describe

            out.write(neutralize(describe(_read_token(args.file, stdin), datetime.now(timezone.utc))))
        elif args.command == "setup":
            return _setup(args, out)
    except UserError as problem:
        sys.stderr.write(f"awswif: error: {problem}\n")
        return 1
    return 0


def _write_line(out: TextIO, line: str) -> None:
    out.write(line + "\n")


def _setup(args: argparse.Namespace, out: TextIO) -> int:
    from .aws_setup import aws_clients, setup

    trust_spec(args)  # every flag checked before any AWS call
    iam, account_id, partition = aws_clients(args.region)
    if partition != args.partition:
        args.partition = partition
    spec = trust_spec(args, account_id)
    out.write(f"Account {account_id}{' (dry run: nothing is changed)' if args.dry_run else ''}\n")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        plan = setup(iam, account_id, spec, dry_run=args.dry_run, update=args.update,
                     log=lambda line: _write_line(out, line))
    except (BotoCoreError, ClientError) as exc:
        raise UserError(f"AWS refused a change: {exc}",
                        "Check the flags against the message and that your credentials may manage IAM; "
                        "what was done before it stands, and re-running continues from there.") from None
    if plan.held_back:
        out.write("Some differences were left alone; re-run with --update to apply them.\n")
        return 1
    if not plan.changes:
        out.write("Nothing to change.\n")
    out.write(f"roleArn for AwsWifAssume@1: {plan.role_arn}\n")
    return 0
