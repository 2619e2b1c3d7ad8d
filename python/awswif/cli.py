"""The awswif command for people: trust policies, AWS setup and token inspection."""

from __future__ import annotations

import sys


def main(args: list[str]) -> int:
    sys.stderr.write("usage: awswif task\n")
    return 2
