"""The .vsix ships bytecode for the interpreters its build named (build.py --bytecode), so a freshly
unpacked task usually has it. On any other interpreter Python compiles each module it imports, and
the AWS client's modules are most of that work: this then starts a second interpreter that
compiles them on another core while this one loads requests and asks for the token, so that the
import on the background thread finds bytecode ready. When bytecode for this interpreter is there
(shipped, or written by an earlier run) it starts nothing."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Optional

from .agent import child_environment

if TYPE_CHECKING:
    import subprocess  # nosec B404

# What the background thread imports for the AWS client (sts.make_client). Adding PyJWT (imported
# by the main process right after requests) measured slower: the two processes then compile it twice.
_MODULES = "import botocore.session, botocore.config, botocore.client, botocore.endpoint, botocore.parsers"


def start_if_cold(environ: Mapping[str, str]) -> Optional[subprocess.Popen[bytes]]:
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.origin:
        return None
    folder = os.path.dirname(spec.origin)
    if os.path.exists(importlib.util.cache_from_source(os.path.join(folder, "client.py"))):
        return None
    # Imported only when cold: a warm run (every self-hosted one) should not pay for it.
    # Our own interpreter with a fixed argument list and no agent secrets in its environment.
    import subprocess  # nosec B404

    code = f"import sys; sys.path[0] = {os.path.dirname(folder)!r}; {_MODULES}"
    try:
        return subprocess.Popen(  # nosec B603
            [sys.executable, "-E", "-s", "-S", "-c", code],
            env=child_environment(environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None  # only a speed-up: the run does the same work itself
