"""The awswif command for people: trust policies, AWS setup and token inspection.

    awswif trust-policy   print the IAM OIDC provider and a hardened trust policy (json, cloudformation,
                          terraform, or stackset for a whole organizational unit); with --trust-role, a spoke
                          role's trust policy for hub-and-spoke role chaining
    awswif setup          create or update them in your AWS account, or in many accounts (--accounts,
                          --accounts-file, --organizational-unit) through a role assumed in each
                          (idempotent; --dry-run, --update)
    awswif inspect-token  decode a token and show the trust condition that admits it
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Optional, TextIO, Union

from ..agent import neutralize
from ..connection import AWS, AZURE_RM
from ..errors import UserError
from ..identifiers import ROLE_NAME, RoleArn
from ..trust import azure_devops_issuer, azure_devops_subject, entra_issuer
from .connection_import import ImportedConnection, issuer_and_subjects, read_connection
from .guardrails import Guardrails, check_policy_arn, policy_account, policy_in_account, read_guardrails
from .target_accounts import Target, check_organizational_unit, from_file, from_list
from .trust_formats import FORMATS, ChainedSpec, TrustSpec, hub_role_policy, render, render_chained

_ENTRA_SUBJECT = re.compile(r"/sc/[0-9a-fA-F-]{36}/[0-9a-fA-F-]{36}$")
STACKSET = "stackset"
# Accounts set up at once: each makes a handful of IAM calls, and IAM throttles a caller beyond ~a few dozen.
PARALLEL_DEFAULT, PARALLEL_MAX = 8, 32
Spec = Union[TrustSpec, ChainedSpec]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="awswif", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def trust_arguments(command: argparse.ArgumentParser) -> None:
        command.add_argument("--connection-type", choices=(AZURE_RM, AWS), default=AZURE_RM,
                             help="the task's connectionType: azureRM (default), or aws for an AWS (workload "
                             "identity federation) connection, whose tokens always have the Azure DevOps issuer "
                             "and the subject sc://<organization>/<project>/<connection>")
        issuer = command.add_argument_group("the token's issuer (one of)")
        issuer.add_argument("--from-connection", action="append", default=[], metavar="FILE|-",
                            help="the JSON `az devops service-endpoint show` prints for the connection: its issuer "
                                 "and subject, exactly (repeatable for connections of one issuer)")
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
        hub = command.add_argument_group("or, for a spoke role in hub-and-spoke role chaining")
        hub.add_argument("--trust-role", metavar="HUB_ROLE_ARN",
                         help="instead of a token's issuer and subject: trust this (hub) role, for a spoke role "
                              "in a chainedProfiles line")
        # The task tags every chained session and may set a source identity (session_tags.py), so
        # the spoke's trust allows both unless told otherwise; the --allow-* flags of 1.0 still parse.
        hub.add_argument("--no-session-tags", action="store_true",
                         help="leave sts:TagSession out (only with skipSessionTagging: true in the task)")
        hub.add_argument("--no-source-identity", action="store_true",
                         help="leave sts:SetSourceIdentity out (only if no step sets sourceIdentity)")
        hub.add_argument("--allow-session-tags", action="store_true", help=argparse.SUPPRESS)
        hub.add_argument("--allow-source-identity", action="store_true", help=argparse.SUPPRESS)
        role = command.add_argument_group("the role")
        role.add_argument("--role-name", default="azure-pipelines", help="default: azure-pipelines")
        role.add_argument("--managed-policy-arn", action="append", default=[], help="attach this policy (repeatable)")
        role.add_argument("--max-session-duration", type=int, default=3600, help="3600 to 43200 seconds")
        rails = command.add_argument_group("guard rails (what service control policies may require)")
        rails.add_argument("--permissions-boundary", metavar="POLICY_ARN", help="the role's permissions boundary")
        rails.add_argument("--role-path", metavar="/PATH/", help="the role's path (default /)")
        rails.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                           help="tag the role and the IAM OIDC provider (repeatable)")
        command.add_argument("--partition", default="aws", choices=("aws", "aws-cn", "aws-us-gov"))

    policy = commands.add_parser("trust-policy", help="print the provider and a hardened trust policy")
    trust_arguments(policy)
    policy.add_argument("--account-id", help="the AWS account (needed for --format json; with --trust-role the "
                                             "spoke account)")
    policy.add_argument("--format", choices=(*FORMATS, STACKSET), default="json",
                        help="stackset: one template for a service-managed StackSet (every account of an OU)")
    policy.add_argument("--existing-provider", action="store_true",
                        help="the account already has the IAM OIDC provider: reference it, do not create it")
    stackset = policy.add_argument_group("for --format stackset: the deployment commands it prints")
    stackset.add_argument("--organizational-unit", action="append", default=[], metavar="OU_ID",
                          help="deploy to this OU (repeatable)")
    stackset.add_argument("--region", default="us-east-1", help="the one region of the stack instances "
                                                               "(IAM is global; default us-east-1)")
    stackset.add_argument("--stack-set-name", help="default: aws-wif-<role name>")

    setup = commands.add_parser("setup", help="create or update the provider and role with your AWS credentials")
    trust_arguments(setup)
    setup.add_argument("--region", help="for the AWS API calls (default: your AWS configuration, else us-east-1)")
    setup.add_argument("--dry-run", action="store_true", help="print what would change; change nothing")
    setup.add_argument("--update", action="store_true", help="also change an existing role that differs")
    many = setup.add_argument_group("many accounts, through a role assumed in each (one of)")
    targets = many.add_mutually_exclusive_group()
    targets.add_argument("--accounts", metavar="ID,ID,...", help="these accounts")
    targets.add_argument("--accounts-file", metavar="FILE", help="one account id a line, optionally followed by "
                                                                 "its profile name")
    targets.add_argument("--organizational-unit", metavar="OU_ID", help="every active account under this OU "
                         "(nested OUs included), listed through AWS Organizations")
    many.add_argument("--assume-role-name", help="the role to assume in each account "
                                                 "(default: OrganizationAccountAccessRole)")
    many.add_argument("--parallel", type=int, help="accounts set up at once, 1 to 32 (default 8)")

    inspect = commands.add_parser("inspect-token", help="decode a token (never printed) and show its trust condition")
    inspect.add_argument("file", nargs="?", default="-", help="a file holding the token, or - for standard input")
    return parser


def trust_spec(args: argparse.Namespace, account_id: Optional[str] = None, subjects_needed: bool = True) -> TrustSpec:
    """The issuer and subjects from the flags, in whichever form the user has them."""
    if not subjects_needed:
        return _role_spec(args, "", ["-"], account_id)
    imported: list[ImportedConnection] = getattr(args, "imported", [])
    if imported:
        issuer, subjects = _imported_trust(args, imported)
    else:
        issuer, subjects = _flag_trust(args)
    if not subjects:
        raise UserError("No subject was given.", "Add --subject (or --organization, --project and --connection).")
    for subject in subjects:
        if "*" in subject or "?" in subject:
            raise UserError(f"The subject '{subject}' has a wildcard.",
                            "Trust exact subjects only: a wildcard admits connections you did not mean to.")
    return _role_spec(args, issuer, subjects, account_id)


def _imported_trust(args: argparse.Namespace, imported: Sequence[ImportedConnection]) -> tuple[str, list[str]]:
    given = [flag for flag, value in (("--tenant-id", args.tenant_id), ("--subject", args.subject),
                                      ("--project", args.project), ("--connection", args.connection)) if value]
    if given:
        raise UserError(f"--from-connection does not go with {', '.join(given)}.",
                        "The connection's JSON gives the issuer and subject; drop the other flags.")
    if args.connection_type == AWS and not all(c.is_aws for c in imported):
        raise UserError("--connection-type aws, but --from-connection gives an Azure RM connection.",
                        "Drop --connection-type aws: the connection's JSON says which type it is.")
    return issuer_and_subjects(imported, args.organization_id, args.organization)


def _flag_trust(args: argparse.Namespace) -> tuple[str, list[str]]:
    if args.connection_type == AWS:
        _check_aws_connection_flags(args)
    if bool(args.organization_id) == bool(args.tenant_id):
        raise UserError("Give exactly one of --organization-id (Azure DevOps issuer) and --tenant-id (Entra issuer), "
                        "or --from-connection.", "The task's log shows which issuer your connection's tokens carry.")
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
                            "Copy the connection's 'Workload Identity federation subject' into --subject, "
                            "or give --from-connection.")
        for subject in subjects:
            if not _ENTRA_SUBJECT.search(subject):
                sys.stderr.write(f"awswif: note: '{subject}' does not end with /sc/<organization id>/<connection id> "
                                 "as Entra-issued Azure DevOps subjects do; check it against the connection.\n")
    return issuer, subjects


def _role_spec(args: argparse.Namespace, issuer: str, subjects: list[str], account_id: Optional[str]) -> TrustSpec:
    if not ROLE_NAME.match(args.role_name):
        raise UserError(f"'{args.role_name}' is not a valid IAM role name.", "Use 1-64 of letters, digits and _+=,.@-.")
    if not 3600 <= args.max_session_duration <= 43200:
        raise UserError("--max-session-duration must be from 3600 to 43200 seconds.", "IAM allows no other values.")
    account = account_id or getattr(args, "account_id", None)
    if account and not re.fullmatch(r"\d{12}", account):
        raise UserError(f"'{account}' is not an AWS account id.", "Use the 12-digit id.")
    policies = [check_policy_arn(arn, "--managed-policy-arn", args.partition) for arn in args.managed_policy_arn]
    return TrustSpec(issuer=issuer, subjects=subjects, account_id=account, partition=args.partition,
                     role_name=args.role_name, managed_policy_arns=policies,
                     max_session_duration=args.max_session_duration,
                     existing_provider=bool(getattr(args, "existing_provider", False)),
                     guardrails=_guardrails(args))


def _guardrails(args: argparse.Namespace) -> Guardrails:
    return read_guardrails(args.permissions_boundary, args.role_path, args.tag, args.partition)


def _check_aws_connection_flags(args: argparse.Namespace) -> None:
    """An AWS connection is an extension-contributed type: Azure DevOps issues its tokens itself, so
    the issuer is always https://vstoken.dev.azure.com/<organization id> and the subject is built
    from names; there is no Entra issuer to migrate to."""
    if args.tenant_id or not args.organization_id:
        raise UserError("--connection-type aws needs --organization-id (and no --tenant-id).",
                        "An AWS connection's tokens always come from the Azure DevOps issuer "
                        "https://vstoken.dev.azure.com/<organization id>.")
    if not args.connection and not args.subject:
        raise UserError("--connection-type aws needs --organization, --project and --connection.",
                        "They make the subject sc://<organization>/<project>/<connection>, exactly as the "
                        "connection's tokens carry it.")
    for subject in args.subject:
        if not re.fullmatch(r"sc://[^/]+/[^/]+/.+", subject):
            raise UserError(f"'{subject}' is not an AWS connection's subject.",
                            "It has the form sc://<organization>/<project>/<connection name>.")


def chained_spec(args: argparse.Namespace) -> ChainedSpec:
    """The spoke role's trust: the hub role's ARN instead of a token's issuer and subjects."""
    given = [flag for flag, value in (("--organization-id", args.organization_id), ("--tenant-id", args.tenant_id),
                                      ("--subject", args.subject), ("--organization", args.organization),
                                      ("--project", args.project), ("--connection", args.connection),
                                      ("--from-connection", args.from_connection),
                                      ("--existing-provider", getattr(args, "existing_provider", False)))
             if value]
    if given:
        raise UserError(f"--trust-role does not go with {', '.join(given)}.",
                        "A spoke role trusts the hub role only; run the command without --trust-role for the hub.")
    hub = RoleArn.parse(args.trust_role)
    if not hub:
        raise UserError(f"--trust-role '{args.trust_role}' is not an IAM role ARN.",
                        "Give the hub role's ARN (the roleArn input), e.g. arn:aws:iam::111111111111:role/deploy.")
    spec = trust_spec(args, subjects_needed=False)
    return ChainedSpec(hub_role_arn=args.trust_role, account_id=spec.account_id, partition=hub.partition,
                       role_name=spec.role_name, managed_policy_arns=spec.managed_policy_arns,
                       max_session_duration=spec.max_session_duration, guardrails=spec.guardrails,
                       session_tags=not args.no_session_tags, source_identity=not args.no_source_identity)


def _spec(args: argparse.Namespace, account_id: Optional[str] = None) -> Spec:
    if args.trust_role:
        spec = chained_spec(args)
        return dataclasses.replace(spec, account_id=account_id) if account_id else spec
    given = [flag for flag, value in (("--no-session-tags", args.no_session_tags),
                                      ("--no-source-identity", args.no_source_identity),
                                      ("--allow-session-tags", args.allow_session_tags),
                                      ("--allow-source-identity", args.allow_source_identity)) if value]
    if given:
        raise UserError(f"{', '.join(given)} go{'es' if len(given) == 1 else ''} with --trust-role.",
                        "They let the hub role's session tag a spoke's session; a web-identity role gets neither "
                        "from the task.")
    return trust_spec(args, account_id)


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
        if args.command in ("trust-policy", "setup"):
            if [s for s in args.from_connection if s == "-"][1:]:
                raise UserError("--from-connection - (standard input) is given twice.", "Read one of them from a file.")
            args.imported = [read_connection(source, stdin) for source in args.from_connection]
        if args.command == "trust-policy":
            _trust_policy(args, out)
        elif args.command == "inspect-token":
            from .token_inspect import describe

            out.write(neutralize(describe(_read_token(args.file, stdin), datetime.now(timezone.utc))))
        elif args.command == "setup":
            return _setup(args, out)
    except UserError as problem:
        sys.stderr.write(f"awswif: error: {problem}\n")
        return 1
    return 0


def _trust_policy(args: argparse.Namespace, out: TextIO) -> None:
    spec = _spec(args)
    if args.format != STACKSET:
        if args.organizational_unit or args.stack_set_name:
            raise UserError("--organizational-unit and --stack-set-name go with --format stackset.",
                            "Add --format stackset, or drop them.")
        out.write(render_chained(spec, args.format) if isinstance(spec, ChainedSpec) else render(spec, args.format))
        return
    from .stackset import as_stackset, chained_as_stackset, deploy_commands, stack_set_name

    if args.account_id:
        raise UserError("--format stackset takes no --account-id.",
                        "A StackSet's template serves every account (AWS::AccountId); drop --account-id.")
    units = [check_organizational_unit(unit) for unit in args.organizational_unit]
    name = stack_set_name(spec.role_name, args.stack_set_name)
    out.write(chained_as_stackset(spec) if isinstance(spec, ChainedSpec) else as_stackset(spec))
    # The template goes to standard output (to redirect into the file); what to do with it to stderr.
    notes = ["awswif: save the template as stackset.json, then, from the management account (add --call-as "
             "DELEGATED_ADMIN to both from a delegated administrator):"]
    notes += ["  " + command for command in deploy_commands(name, units, args.region)]
    if any(policy_account(arn) not in ("", "aws")
           for arn in [*spec.managed_policy_arns, spec.guardrails.permissions_boundary or ""]):
        notes.append("awswif: note: customer managed policies are taken from each account (same path and name).")
    sys.stderr.write("\n".join(notes) + "\n")


def _write_line(out: TextIO, line: str) -> None:
    out.write(line + "\n")


def _write_now(out: TextIO, line: str) -> None:
    # A progress line is for someone watching 50 accounts go by, also through a pipe.
    out.write(line + "\n")
    out.flush()


def _targets(args: argparse.Namespace) -> Optional[list[Target]]:
    """The accounts of a many-accounts setup as far as the flags tell (an OU is listed later)."""
    if args.accounts is None and not args.accounts_file and not args.organizational_unit:
        given = [flag for flag, value in (("--assume-role-name", args.assume_role_name), ("--parallel", args.parallel))
                 if value is not None]
        if given:
            raise UserError(f"{' and '.join(given)} go with --accounts, --accounts-file or --organizational-unit.",
                            "Add the accounts to set up, or drop them to set up your own account.")
        return None
    args.assume_role_name = args.assume_role_name or "OrganizationAccountAccessRole"
    args.parallel = PARALLEL_DEFAULT if args.parallel is None else args.parallel
    if not ROLE_NAME.match(args.assume_role_name):
        raise UserError(f"--assume-role-name '{args.assume_role_name}' is not a valid IAM role name.",
                        "Give the role's name only (no ARN, no path), e.g. OrganizationAccountAccessRole.")
    if not 1 <= args.parallel <= PARALLEL_MAX:
        raise UserError(f"--parallel must be from 1 to {PARALLEL_MAX}.",
                        "IAM throttles a caller that runs more at once.")
    if args.accounts is not None:
        return from_list(args.accounts)
    if args.accounts_file:
        return from_file(args.accounts_file)
    check_organizational_unit(args.organizational_unit)
    return None


def _setup(args: argparse.Namespace, out: TextIO) -> int:
    from .aws_access import Caller

    _spec(args)  # every flag checked before any AWS call
    targets = _targets(args)
    many = targets is not None or bool(args.organizational_unit)
    caller = Caller.sign_in(args.region)
    args.partition = caller.partition
    from .aws_setup import aws_errors

    try:
        if not many:
            return _setup_one(args, caller.iam(), caller.account_id, out)
        if targets is None:
            from .target_accounts import from_organization

            targets = from_organization(caller.organizations(), args.organizational_unit)
        return _setup_many(args, caller, targets, out)
    except aws_errors() as exc:
        raise UserError(f"An AWS call failed ({exc}).",
                        "Check the flags against the message and that your credentials may manage IAM; what was "
                        "done before it stands, and re-running continues from there.") from None


def _setup_one(args: argparse.Namespace, iam: Any, account_id: str, out: TextIO) -> int:
    from .aws_setup import setup

    spec = _spec(args, account_id)
    out.write(f"Account {account_id}{' (dry run: nothing is changed)' if args.dry_run else ''}\n")
    plan = setup(iam, account_id, spec, dry_run=args.dry_run, update=args.update,
                 log=lambda line: _write_line(out, line))
    if plan.held_back:
        out.write("Some differences were left alone; re-run with --update to apply them.\n")
        return 1
    if not plan.changes:
        out.write("Nothing to change.\n")
    if isinstance(spec, ChainedSpec):
        out.write(f"chainedProfiles line for AwsWifAssume@1: NAME={plan.role_arn}\n")
        out.write(f"The hub role {spec.hub_role_arn} also needs in its permissions: "
                  f"{json.dumps(hub_role_policy(spec, [plan.role_arn])['Statement'][0])}\n")
    elif args.connection_type == AWS or (args.imported and all(c.is_aws for c in args.imported)):
        names = ", ".join(args.connection) or ", ".join(args.subject) or ", ".join(c.name for c in args.imported)
        out.write(f"Role ARN for the AWS connection ({names}): {plan.role_arn}\n")
    else:
        out.write(f"roleArn for AwsWifAssume@1: {plan.role_arn}\n")
    return 0


def _setup_many(args: argparse.Namespace, caller: Any, targets: list[Target], out: TextIO) -> int:
    from .org_setup import paste_lines, set_up_accounts, summary, table

    spec = _spec(args, targets[0].account_id)
    pattern = (f"a spoke role {spec.role_name} trusting {spec.hub_role_arn}" if isinstance(spec, ChainedSpec)
               else f"IAM OIDC provider and role {spec.role_name}")
    out.write(f"Setting up {len(targets)} account{'s' if len(targets) != 1 else ''} ({pattern}; through "
              f"{args.assume_role_name}, {min(args.parallel, len(targets))} at a time"
              f"{'; dry run: nothing is changed' if args.dry_run else ''})\n")

    def spec_for(account_id: str) -> Spec:
        # A role can use only its own account's customer managed policies: the same path and name there.
        return dataclasses.replace(spec, account_id=account_id,
                                   managed_policy_arns=[policy_in_account(a, account_id)
                                                        for a in spec.managed_policy_arns],
                                   guardrails=spec.guardrails.in_account(account_id))

    outcomes = set_up_accounts(targets, lambda account: caller.iam_in(account, args.assume_role_name), spec_for,
                               dry_run=args.dry_run, update=args.update, parallel=args.parallel,
                               write=lambda text: _write_now(out, text))
    out.write("\n" + table(outcomes, args.dry_run) + "\n" + summary(outcomes, args.dry_run))
    pasted = paste_lines(outcomes, spec, args.dry_run)
    if pasted:
        out.write("\n" + pasted)
    return 0 if all(o.done for o in outcomes) else 1

