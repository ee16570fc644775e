"""Background TLS servers on 127.0.0.1 for the handshake tests.

A server runs in its own process group, is waited for until its port
accepts connections, and is always killed (the whole group) when the
`with` block ends, so a failed assertion never leaves it running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .conftest import Result

STARTUP_SECONDS = 30.0
CLIENT_SECONDS = 30


def run_client(argv: list[str], env: dict[str, str],
               stdin: bytes = b"Q\n") -> Result:
    """A TLS client run to completion, killed after CLIENT_SECONDS."""
    proc = subprocess.run(argv, env=env, input=stdin, capture_output=True,
                          timeout=CLIENT_SECONDS, check=False)
    return Result(proc.returncode, proc.stdout,
                  proc.stderr.decode(errors="replace"))


def sent_certificate(client_output: str) -> bytes:
    """The first PEM certificate a TLS client printed (the server's)."""
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    assert begin in client_output, client_output
    body = client_output.split(begin, 1)[1].split(end, 1)[0]
    return f"{begin}{body}{end}\n".encode()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def serving(argv: list[str], env: dict[str, str], port: int,
            log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` until the block ends; fail if `port` never opens.

    The server's output goes to `log`; its text is in the failure
    message when the server exits or never listens.
    """
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _accepts(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"{argv[0]} did not listen on 127.0.0.1:{port} "
                    f"(exit {proc.poll()}):\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
