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
        code = task.main(agent.from_process(), version)
        # The run is over: every logging command is written and any credentials file closed.
        # Tearing down the interpreter (botocore's thousands of objects) would be paid on every
        # run (docs/performance.md), so flush and leave without it. The bundle's only exit hook (certifi's)
        # deletes a temporary copy of its CA file, made only when imported from a zip: never here.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    try:
        if args[:1] == ["credential-process"]:
            _credential_process(args[1:])
        from . import cli

        return cli.main(args)
    except ModuleNotFoundError as exc:
        # A checkout run as `python3 -m awswif` before `pip install ./python`: say that, not a traceback.
        from .cli.dependencies import missing_dependency

        message = missing_dependency(exc, args[0] if args else "")
        if message is None:
            raise
        sys.stderr.write(message + "\n")
        return 1


def _credential_process(args: list[str]) -> None:
    """A profile's refresh: joined to the one that leads for its run folder, or led (refresh_broker.py).
    Only the leader loads the refresh's code; a follower starts Python and asks."""
    import os

    from . import refresh_broker

    def refresh(arguments: list[str]) -> tuple[int, str, str]:
        from . import credential_process

        return credential_process.answer(arguments, os.environ)

    profile, config = refresh_broker.target(args)
    if profile and config:
        code, out, err = refresh_broker.refresh(profile, config, os.environ, lambda: refresh(args),
                                                lambda name: refresh(["--profile", name, "--config", config]))
    else:
        code, out, err = refresh(args)
    sys.stdout.write(out)
    sys.stderr.write(err)
    # As for the task: the output is written; skip tearing down botocore's objects.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
