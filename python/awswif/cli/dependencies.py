"""What `python3 -m awswif ...` says when run from a checkout whose Python lacks the dependencies
(botocore, requests, PyJWT): the command that installs them, instead of an import traceback.
Imports nothing beyond the standard library, as it runs exactly when those are missing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

# Import name -> the distribution pip installs (the runtime dependencies and what they import).
_DISTRIBUTIONS = {
    "botocore": "botocore", "requests": "requests", "jwt": "PyJWT", "urllib3": "urllib3", "certifi": "certifi",
    "charset_normalizer": "charset-normalizer", "idna": "idna", "dateutil": "python-dateutil", "jmespath": "jmespath",
}


def missing_dependency(exc: ModuleNotFoundError, command: str) -> Optional[str]:
    """The one-line error for a missing dependency; None when the missing module is none of them
    (a genuine bug, which should surface as it is)."""
    root = (exc.name or "").partition(".")[0]
    if root not in _DISTRIBUTIONS:
        return None
    source = Path(__file__).resolve().parents[2]  # python/, which holds pyproject.toml
    return (f"awswif: error: `awswif {command}` needs the {_DISTRIBUTIONS[root]} package, which this Python "
            f"({sys.executable}) does not have. Install awswif with its dependencies from the checkout's root: "
            f"pip install ./python (exactly: {sys.executable} -m pip install {source}).")
