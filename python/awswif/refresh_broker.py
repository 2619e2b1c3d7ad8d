"""Concurrent refreshes of one job share one process's start-up. Terraform configures up to ten provider
blocks at once, each running its profile's credential_process; every one of them would load Python's
HTTP stack and botocore (most of a refresh's CPU) on a 2-core agent. Instead the first refresh of a run
folder leads: while its own refresh runs, and while any it took on still runs, it serves the others
that start meanwhile over a Unix socket in that folder; they only start Python, ask, and print what
they are handed.

What keeps this as safe as every call doing its own work: nothing secret is written to disk (the lock
file is empty, the socket carries the answer in memory); the socket lies in the run folder (0700, the
agent's user); a request is served only with the job access token the leader itself was given, and
only for the leader's own config file; each request still gets its own fresh OIDC token and session.
No process outlives its caller: the leader is one of the SDK's own credential processes, which the SDK
waits for, and it stops taking requests as soon as its work is done. A follower whose leader goes away
does its refresh itself. Stdlib only, so that a follower imports nothing else (Windows Pythons before
3.10 have no AF_UNIX: there every call refreshes alone)."""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Optional

SOCKET_NAME = "refresh.sock"
LOCK_NAME = "refresh.lock"
# How long a follower waits for a leader that holds the lock to open its socket, and for its answer
# (the Go SDK gives a credential process one minute; a refresh's own retries stop at 45 s).
CONNECT_WAIT, ANSWER_WAIT = 2.0, 55.0
MAX_REQUEST = 64 * 1024

Answer = tuple[int, str, str]  # exit code, stdout, stderr of the refresh


def target(args: list[str]) -> tuple[str, str]:
    """The --profile and --config of a credential_process line ("" where absent: the refresh reports it)."""
    found = {"--profile": "", "--config": ""}
    for index, arg in enumerate(args):
        name, equals, inline = arg.partition("=")
        if name in found:
            found[name] = inline if equals else (args[index + 1] if index + 1 < len(args) else "")
    return found["--profile"], found["--config"]


def available() -> bool:
    return hasattr(socket, "AF_UNIX") and hasattr(os, "getuid")


def refresh(profile: str, config_file: str, environ: Mapping[str, str], alone: Callable[[], Answer],
            served: Callable[[str], Answer]) -> Answer:
    """Join the refresh that leads for this run folder, or lead one: `alone()` is this call's own refresh,
    `served(profile)` the refresh the leader runs for a follower's profile."""
    token = environ.get("SYSTEM_ACCESSTOKEN", "").strip()
    folder = Path(config_file).parent
    if not available() or not token or not folder.is_dir():
        return alone()
    deadline = time.monotonic() + CONNECT_WAIT
    while True:
        answer = _ask(folder / SOCKET_NAME, profile, config_file, token)
        if answer is not None:
            if environ.get("SYSTEM_DEBUG", "").strip().lower() == "true":
                code, out, err = answer
                return code, out, f"aws-wif credential_process: served by the refresh that leads for {folder}.\n{err}"
            return answer
        leader = _Leader.claim(folder, config_file, token, served)
        if leader is not None:
            try:
                return alone()
            finally:
                leader.close()
        if time.monotonic() > deadline:  # a leader holds the lock but answers no one: do it ourselves
            return alone()
        time.sleep(0.01)


def _ask(path: Path, profile: str, config_file: str, token: str) -> Optional[Answer]:
    """The leader's answer, or None when no leader listens (or it went away before answering)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(ANSWER_WAIT)
            connection.connect(str(path))
            connection.sendall(json.dumps({"profile": profile, "config": config_file, "token": token}).encode()
                               + b"\n")
            connection.shutdown(socket.SHUT_WR)
            data = b"".join(iter(lambda: connection.recv(65536), b""))
        reply = json.loads(data)
        return int(reply["code"]), str(reply["out"]), str(reply["err"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class _Leader:
    def __init__(self, lock: int, listener: socket.socket, path: Path, config_file: str, token: str,
                 served: Callable[[str], Answer]) -> None:
        self._lock = lock
        self._listener = listener
        self._path = path
        self._config_file = config_file
        self._token = token
        self._served = served
        self._active = 0
        self._idle = threading.Condition()
        self._closing = False
        # Accepting in short waits, so that close() can drain what is queued and stop.
        listener.settimeout(0.02)
        self._acceptor = threading.Thread(target=self._accept, name="awswif-refresh-leader", daemon=True)
        self._acceptor.start()

    @classmethod
    def claim(cls, folder: Path, config_file: str, token: str, served: Callable[[str], Answer]) -> Optional[_Leader]:
        import fcntl

        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            lock = os.open(folder / LOCK_NAME, flags, 0o600)  # empty: it holds no secret
        except OSError:
            return None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(lock).st_uid != os.getuid():
                raise OSError("not ours")
            path = folder / SOCKET_NAME
            if path.is_symlink() or path.exists():
                path.unlink()  # a leader that died left it: we hold the lock, so nobody serves it
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(path))
            listener.listen(64)
        except OSError:
            os.close(lock)
            return None
        return cls(lock, listener, path, config_file, token, served)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except socket.timeout:
                if self._closing:
                    return  # nothing more is queued
                continue
            except OSError:
                return
            connection.setblocking(True)
            with self._idle:
                self._active += 1
            threading.Thread(target=self._serve, args=(connection,), name="awswif-refresh-follower",
                             daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            with connection:
                connection.settimeout(ANSWER_WAIT)
                data = b""
                while len(data) <= MAX_REQUEST:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                request = json.loads(data)
                if not (isinstance(request, dict) and isinstance(request.get("token"), str)
                        and hmac.compare_digest(request["token"].encode(), self._token.encode())
                        and request.get("config") == self._config_file and isinstance(request.get("profile"), str)):
                    return  # not a caller of this job and run folder: it gets no answer, and refreshes alone
                code, out, err = self._served(request["profile"])
                connection.sendall(json.dumps({"code": code, "out": out, "err": err}).encode())
        except (OSError, ValueError):
            pass
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def close(self) -> None:
        """Stop taking requests (the socket's name goes first: a refresh starting now leads its own), serve
        those already queued, finish them, and leave nothing behind but the empty lock file."""
        with contextlib.suppress(OSError):
            self._path.unlink()
        self._closing = True
        self._acceptor.join(timeout=ANSWER_WAIT)
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=ANSWER_WAIT)
        self._listener.close()
        os.close(self._lock)
