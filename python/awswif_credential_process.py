"""What a `credential_process` line written by AwsWifAssume@1 runs: `awswif credential-process`.

A file rather than `python -c`, so that Python puts this folder first on sys.path: the awswif
package beside it and, in the .vsix (lib/, run with -E -s -S), its vendored dependencies, never
the step's working directory or site-packages. A failure to load keeps the credential-process
contract: one line on stderr, exit code 1, nothing on stdout; a traceback only with System.Debug.
"""

import os
import sys


def run() -> int:
    try:
        from awswif.__main__ import main

        return main(["credential-process", *sys.argv[1:]])
    except Exception as exc:  # a damaged install, or a Python the bundled code does not support
        if os.environ.get("SYSTEM_DEBUG", "").strip().lower() == "true":
            import traceback

            traceback.print_exc()
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        sys.stderr.write(f"aws-wif credential_process could not load its code on Python {version} "
                         f"({type(exc).__name__}). Reinstall the extension; set System.Debug to true for details.\n")
        return 1


if __name__ == "__main__":
    sys.exit(run())
