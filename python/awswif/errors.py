"""The one exception a user ever sees: what is wrong, and what to do about it."""

from __future__ import annotations


class UserError(Exception):
    """A failure explained for the pipeline author.

    ``what`` says what went wrong, ``fix`` what to do; ``details`` are extra lines (claims, a
    trust policy block) worth showing in the log but too long for the one-line error.
    """

    def __init__(self, what: str, fix: str = "", details: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix
        self.details = details

    def __str__(self) -> str:
        # A fix that starts on its own line (one paragraph per failing profile) needs no space.
        separator = "" if self.fix.startswith("\n") else " "
        return f"{self.what}{separator}{self.fix}".strip()
