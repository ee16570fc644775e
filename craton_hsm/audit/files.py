"""Names and reading of the log files in an audit directory.

``audit.log`` is the active file.  Rotation renames it to
``audit-<first seq, 12 digits>.log``; the files in name order followed by
``audit.log`` are the whole chain.  ``audit.lock`` is the flock(2) target
every appending process shares (its inode never changes, unlike the
active file's); its first page is the shared chain head (trail.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ACTIVE = "audit.log"
LOCK = "audit.lock"
_ROTATED_GLOB = "audit-[0-9]*.log"


def rotated_name(first_seq: int) -> str:
    return f"audit-{first_seq:012d}.log"


def chain_files(directory: Path) -> list[Path]:
    """Every log file in chain order (rotated ones, then the active)."""
    files = sorted(directory.glob(_ROTATED_GLOB))
    active = directory / ACTIVE
    if active.exists():
        files.append(active)
    return files


def first_line(fd: int) -> bytes:
    """The first line of an open file (b"" when it is empty)."""
    chunk = os.pread(fd, 4096, 0)
    size = 4096
    while b"\n" not in chunk and len(chunk) == size:
        size *= 4
        chunk = os.pread(fd, size, 0)
    return chunk.split(b"\n", 1)[0] if b"\n" in chunk else chunk


def tail_lines(fd: int, size: int, count: int) -> list[bytes]:
    """Up to ``count`` last complete lines of a file ``size`` bytes long
    (a final line without its newline is kept: the caller judges it)."""
    if size == 0:
        return []
    window = 8192
    while True:
        start = max(0, size - window)
        chunk = os.pread(fd, size - start, start)
        lines = chunk.split(b"\n")
        if chunk.endswith(b"\n"):
            lines.pop()
        if start > 0:
            lines = lines[1:]   # the first one may be cut
        if len(lines) >= count or start == 0:
            return lines[-count:]
        window *= 4


def parse(line: bytes) -> dict[str, Any]:
    """A record from its line; ValueError if it is not a JSON object."""
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")  # noqa: TRY004 (callers)
    return record
