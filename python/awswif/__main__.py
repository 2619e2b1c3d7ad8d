"""Command-line dispatch: `task` is what the launcher runs, `credential-process` what the profiles
the task writes run (through awswif_credential_process.py); the other commands are for people."""

from __future__ import annotations

import sys
from typing import Optional


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["task"]:
        import os

        from . import warmup

        warmup.start_if_cold(os.environ)
        from . import agent, task

        version = args[2] if args[1:2] == ["--version"] and len(args) > 2 else "dev"
        return task.main(agent.from_process(), version)
    if args[:1] == ["credential-process"]:
        from . import credential_process

        return credential_process.main(args[1:])
    from . import cli

    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
