"""Command-line dispatch: `task` is what the launcher runs; the other commands are for people."""

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
    from . import cli

    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
