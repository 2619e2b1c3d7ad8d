"""PROGRAM 3, for people: `awswif setup` (one account or a whole organization), `awswif trust-policy` (JSON,
CloudFormation, StackSet, Terraform), `awswif inspect-token`. Nothing in the shared core imports this package
(tests/unit/test_layout.py)."""

from __future__ import annotations

from .main import main

__all__ = ["main"]
