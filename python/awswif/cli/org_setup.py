"""`awswif setup` across many accounts: in each, through a role assumed there, what the chosen
pattern needs (web identity: provider + role; --trust-role: a spoke role trusting the hub). A few
accounts at a time, each independent of the others (one account's failure stops only that one;
a re-run completes it and leaves the done ones unchanged), a progress line as each finishes, then a
table and the task inputs to paste."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import UserError
from ..identifiers import RoleArn
from .aws_setup import Plan, Spec, setup
from .target_accounts import Target
from .trust_formats import ChainedSpec, hub_role_policy


@dataclass
class Outcome:
    target: Target
    plan: Optional[Plan] = None
    error: str = ""
    log: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not self.error and self.plan is not None and not self.plan.held_back

    def result(self, dry_run: bool) -> str:
        if self.error or self.plan is None:
            return "failed"
        if self.plan.held_back:
            return "needs --update"
        if not self.plan.changes:
            return "unchanged"
        return "would change" if dry_run else "done"


def set_up_accounts(targets: Sequence[Target], iam_in: Callable[[str], Any], spec_for: Callable[[str], Spec], *,
                    dry_run: bool, update: bool, parallel: int, write: Callable[[str], None]) -> list[Outcome]:
    """Every target, at most `parallel` at once; the outcomes in the targets' order."""
    lock = threading.Lock()
    finished = [0]

    def one(target: Target) -> Outcome:
        outcome = Outcome(target)
        try:
            outcome.plan = setup(iam_in(target.account_id), target.account_id, spec_for(target.account_id),
                                 dry_run=dry_run, update=update, log=outcome.log.append)
        except UserError as problem:
            outcome.error = str(problem)
        except Exception as exc:  # one account's surprise must not lose the others' results
            outcome.error = f"{type(exc).__name__}: {exc}"
        with lock:
            finished[0] += 1
            write(_progress(outcome, finished[0], len(targets), dry_run))
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(targets)))) as pool:
        return list(pool.map(one, targets))


def _progress(outcome: Outcome, number: int, total: int, dry_run: bool) -> str:
    head = f"[{number}/{total}] {outcome.target.account_id} {outcome.result(dry_run)}"
    if outcome.error:
        return f"{head}: {outcome.error}"
    changes = _changes(outcome)
    lines = [f"{head}{': ' + changes if outcome.plan and outcome.plan.changes else ''}"]
    # What each change is, diffs, and what was left alone; "unchanged" lines would only be noise here.
    lines += ["    " + line for entry in outcome.log if not entry.startswith("unchanged:")
              for line in entry.splitlines()]
    return "\n".join(lines)


def _changes(outcome: Outcome) -> str:
    if outcome.error or outcome.plan is None:
        return "-"
    counts = Counter(outcome.plan.summaries)
    if not counts:
        return "nothing"
    words = [kind if n == 1 else f"{n} {'policies' if kind == 'policy' else kind + 's'}" for kind, n in counts.items()]
    return ", ".join(words)


def table(outcomes: Sequence[Outcome], dry_run: bool) -> str:
    rows = [("ACCOUNT", "RESULT", "WOULD CHANGE" if dry_run else "CHANGED", "ROLE ARN OR ERROR")]
    rows += [(o.target.account_id, o.result(dry_run), _changes(o), o.error or (o.plan.role_arn if o.plan else ""))
             for o in outcomes]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "".join("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3] + "\n"
                   for row in rows)


def summary(outcomes: Sequence[Outcome], dry_run: bool) -> str:
    done = sum(o.done for o in outcomes)
    failed = sum(bool(o.error) for o in outcomes)
    held = len(outcomes) - done - failed
    verb = "could be set up as asked" if dry_run else "done"
    if done == len(outcomes):
        return f"{done} of {len(outcomes)} accounts {verb}.\n"
    parts = [f"{failed} failed"] * bool(failed) + [f"{held} need --update (see above)"] * bool(held)
    again = ("fix the cause and re-run the same command: it completes these and leaves the others unchanged"
             if failed else "re-run with --update to apply the differences")
    return f"{done} of {len(outcomes)} accounts {verb}; {', '.join(parts)}: {again}.\n"


def paste_lines(outcomes: Sequence[Outcome], spec: Spec, dry_run: bool) -> str:
    """The task inputs that use the accounts set up: the profiles (web identity) or chainedProfiles
    (hub and spoke) lines, and the allowedAccountIds guard."""
    ready = [o for o in outcomes if o.done and o.plan is not None]
    if not ready:
        return ""
    when = " (once set up)" if dry_run else ""
    lines = [f"Inputs for the AwsWifAssume@1 step{when}:"]
    if isinstance(spec, ChainedSpec):
        main, key, others = spec.hub_role_arn, "chainedProfiles", ready
        hub = RoleArn.parse(main)
        accounts = ([hub.account] if hub else []) + [o.target.account_id for o in ready]
    else:
        main, key, others = str(ready[0].plan.role_arn if ready[0].plan else ""), "profiles", ready[1:]
        accounts = [o.target.account_id for o in ready]
    lines.append(f"    roleArn: {main}")
    if others:
        lines.append(f"    {key}: |")
        lines += [f"      {o.target.name}={o.plan.role_arn if o.plan else ''}" for o in others]
    lines.append(f"    allowedAccountIds: {','.join(dict.fromkeys(accounts))}")
    if isinstance(spec, ChainedSpec):
        arns = [o.plan.role_arn for o in ready if o.plan]
        lines.append(f"The hub role {spec.hub_role_arn} also needs this statement in its permissions:")
        lines.append("    " + json.dumps(hub_role_policy(spec, arns)["Statement"][0]))
    missing = len(outcomes) - len(ready)
    if missing:
        lines.append(f"({missing} account{'s' if missing != 1 else ''} not listed: not set up yet.)")
    return "\n".join(lines) + "\n"
