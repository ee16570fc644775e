"""A change counter beside a token file, so a process learns that
another one wrote without asking SQLite (issue 9: token keys).

Before every use of a token object the module checks whether another
process changed the token (``Token.sync``, docs/storage.md
"Concurrency").  Asked of SQLite, that check is a read transaction --
about 4 µs, a fifth of an ECDSA signature.  Here it is one 8-byte
``pread`` of ``slot-<N>.sqlite3-signal``:

* a writer, holding SQLite's write lock (``BEGIN IMMEDIATE``: writers
  are serialised by it, and SQLite drops it when its holder dies), makes
  the counter **odd** before it writes and **even** again after its
  ``COMMIT`` or ``ROLLBACK``; a value still odd when a writer takes the
  lock was left by one that died mid-way, and the next write ends it;
* a reader that finds the value even and equal to the one it saw at
  its last SQLite check knows nothing was committed since; an odd value
  (a write in progress, or a writer that died mid-way) or a new one
  sends it to SQLite, which stays the authority.

A torn or short read, an unreadable or missing file, only cost a SQLite
check: the counter can make a process ask SQLite more often, never make
it miss a commit (a commit happens between the odd and the even write,
and the reader caches only even values; a counter found damaged restarts
at a random value, so it cannot come back to one a reader holds).
``pread``, not ``mmap``: a file truncated behind our back must not be
able to raise SIGBUS in the host.  A writer that cannot mark its write
(the pre-write ``pwrite`` fails) does not write at all.  Like SQLite's
``-wal`` and ``-shm``, the file must not be deleted while processes use
the token: those holding the old file would not see the others' writes
until they restart (docs/storage.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Final

_log = logging.getLogger("craton_hsm")
_SIZE = 8
_ORDER: Final = "little"
_MASK = (1 << 64) - 1     # wraps at 2**64, an even number: parity kept


def signal_path(token_file: Path) -> Path:
    return token_file.with_name(token_file.name + "-signal")


class ChangeSignal:
    """The counter file of one token file; ``read`` is None when it
    cannot be used (the caller asks SQLite)."""

    def __init__(self, path: Path, writable: bool) -> None:
        self.path = path
        self._fd: int | None = None
        self._writable = False
        flags = os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            if writable:
                self._fd = os.open(path, flags | os.O_RDWR | os.O_CREAT,
                                   0o600)
                self._writable = True
            else:
                self._fd = os.open(path, flags | os.O_RDONLY)
        except OSError as e:
            # A read-only data dir without the file: every check goes to
            # SQLite, as before this file existed.
            _log.debug("token change signal %s unusable: %s", path,
                       e.strerror)

    def read(self) -> int | None:
        fd = self._fd
        if fd is None:
            return None
        try:
            raw = os.pread(fd, _SIZE, 0)
        except OSError:
            return None
        if len(raw) != _SIZE:
            return None     # new (empty) or truncated: ask SQLite
        return int.from_bytes(raw, _ORDER)

    def begin_write(self) -> None:
        """Mark a write as in progress (odd); OSError if it cannot be
        marked, and then the caller must not write.  Only with SQLite's
        write lock held."""
        if not self._writable:
            return
        value = self.read()
        if value is None:
            # New, emptied or truncated: counting on from 0 could bring
            # back a value some reader still holds (and skip its check),
            # so a damaged counter restarts at a random even value.
            value = int.from_bytes(os.urandom(_SIZE), _ORDER) & ~1
        self._put(value + 1 if value % 2 == 0 else value + 2)

    def end_write(self) -> None:
        """The write is committed or rolled back (even).  A failure here
        leaves the value odd: every reader keeps asking SQLite, which is
        slower but right, so it is logged, not raised."""
        if not self._writable:
            return
        value = self.read()
        try:
            if value is None or value % 2 == 0:
                raise OSError("the counter is not marked as written")
            self._put(value + 1)
        except OSError as e:
            _log.warning("token change signal %s not updated: %s",
                         self.path, e)

    def _put(self, value: int) -> None:
        assert self._fd is not None
        raw = (value & _MASK).to_bytes(_SIZE, _ORDER)
        if os.pwrite(self._fd, raw, 0) != _SIZE:
            raise OSError(f"short write to {self.path}")

    def close(self) -> None:
        fd, self._fd = self._fd, None
        self._writable = False
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
