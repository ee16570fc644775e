"""The append side of the audit chain (docs/audit.md "Chain").

Several processes may share one audit directory.  Each append takes an
exclusive flock(2) on ``audit.lock``, re-reads the chain head (the last
record's seq and hash) when the active file changed under it, writes one
line with O_APPEND and, per the fsync policy, fsyncs before the lock is
released, so the records of all processes form one chain.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from craton_hsm.audit import files, keys
from craton_hsm.audit import record as rec
from craton_hsm.backend import audit_primitives as prim


@dataclass(frozen=True)
class Policy:
    algorithm: str             # record.SHA256 or record.BLAKE3_KEYED
    fsync: str                 # "always" | "state" | "never"
    max_file_bytes: int
    checkpoint_every: int


class Trail:
    """One process's handle on an audit directory."""

    def __init__(self, directory: Path, policy: Policy) -> None:
        self.directory = directory
        self._active = str(directory / files.ACTIVE)
        self.policy = policy
        self._fsync_all = policy.fsync == "always"
        self._fsync_state = policy.fsync == "state"
        self.pid = os.getpid()
        self._tlock = threading.Lock()   # flock does not order threads
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_fd = os.open(directory / files.LOCK,
                                os.O_RDWR | os.O_CREAT, 0o600)
        self.key = keys.signing_key(directory)
        self.chain = rec.Chain(rec.SHA256)   # until _sync reads the file
        self._fd = -1
        self._ino = -1
        self._size = 0
        self._seq = 0
        self._head = rec.GENESIS_PREV
        self._first_seq = 1
        self.genesis = False
        with self._locked():
            self._sync()

    # -- the chain head --------------------------------------------------

    def _locked(self) -> _Held:
        return _Held(self._tlock, self._lock_fd)

    def _open_active(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = os.open(self._active,
                           os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        st = os.fstat(self._fd)
        self._ino, self._size = st.st_ino, -1

    def _sync(self) -> None:
        """Re-read the head if another process appended or rotated:
        same inode and the size this process left mean no one else
        wrote (one stat(2), the common case)."""
        try:
            st = os.stat(self._active)
        except FileNotFoundError:
            st = None
        if st is not None and st.st_ino == self._ino \
                and st.st_size == self._size:
            return
        if st is None or st.st_ino != self._ino:
            self._open_active()
            self._read_header()
            st = os.fstat(self._fd)
        if st.st_size != self._size:
            self._read_head(st.st_size)

    def _read_header(self) -> None:
        """The chain algorithm comes from the file's first record
        (genesis or rotate), never from today's configuration."""
        line = files.first_line(self._fd)
        if not line:
            self._adopt(self.policy.algorithm)
            return
        first = files.parse(line)
        self._first_seq = int(first["seq"])
        self._adopt(str(first.get("chain", rec.SHA256)))

    def _adopt(self, algorithm: str) -> None:
        if algorithm not in rec.ALGORITHMS:
            raise OSError(f"unknown audit chain algorithm {algorithm!r}")
        key = keys.chain_key(self.directory) \
            if algorithm == rec.BLAKE3_KEYED else None
        self.chain = rec.Chain(algorithm, key)

    def _read_head(self, size: int) -> None:
        last = files.tail_lines(self._fd, size, 1)
        if last:
            record = files.parse(last[-1])
            self._seq, self._head = int(record["seq"]), str(record["hash"])
        else:
            self._seq, self._head = self._previous_file_head()
            self._first_seq = self._seq + 1
        self._size = size

    def _previous_file_head(self) -> tuple[int, str]:
        rotated = [p for p in files.chain_files(self.directory)
                   if p.name != files.ACTIVE]
        if not rotated:
            return 0, rec.GENESIS_PREV
        fd = os.open(rotated[-1], os.O_RDONLY)
        try:
            last = files.tail_lines(fd, os.fstat(fd).st_size, 1)
        finally:
            os.close(fd)
        record = files.parse(last[-1])
        return int(record["seq"]), str(record["hash"])

    # -- appending -------------------------------------------------------

    def append(self, event: str, fields: dict[str, Any],
               durable: bool) -> None:
        """Write one record (and a checkpoint when one is due); OSError
        when the log cannot be written.  The caller (``audit.append``)
        makes sure this process opened the trail (no fork in between)."""
        tlock = self._tlock
        tlock.acquire()
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                self._sync()
                if not self._seq:
                    self._write("genesis", {"chain": self.chain.algorithm},
                                True)
                    self.genesis = True
                self._write(event, fields, durable)
                if not self._seq % self.policy.checkpoint_every:
                    self._checkpoint()
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            tlock.release()

    def checkpoint(self) -> None:
        with self._locked():
            self._sync()
            if self._seq:
                self._checkpoint()

    def _checkpoint(self) -> None:
        sig = prim.sign(self.key.private,
                        rec.checkpoint_message(self._seq, self._head))
        self._write("checkpoint", {"signed_seq": self._seq,
                                   "signed_hash": self._head,
                                   "key": self.key.key_id,
                                   "sig": sig.hex()}, True)

    def _write(self, event: str, fields: dict[str, Any],
               durable: bool) -> None:
        record = {**fields, "seq": self._seq + 1, "time": rec.utc_now(),
                  "pid": self.pid, "event": event, "prev": self._head}
        line, digest = rec.seal(self.chain, record)
        if self._size + len(line) > self.policy.max_file_bytes \
                and self._size:
            self._rotate()
            record.update(seq=self._seq + 1, prev=self._head)
            line, digest = rec.seal(self.chain, record)
        # One write(2) on an O_APPEND descriptor: the kernel has the
        # record before the call returns (docs/audit.md "Durability").
        try:
            written = os.write(self._fd, line)
            if written != len(line):
                _write_all(self._fd, line[written:])
        except OSError:
            # A full disk takes part of a line: a torn record would break
            # the chain for every later append, so cut it off again (the
            # flock is held: no other process appended meanwhile).
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._seq += 1
        self._head = digest
        self._size += len(line)
        if self._fsync_all or (durable and self._fsync_state):
            os.fsync(self._fd)

    def _seal(self, event: str, fields: dict[str, Any]
              ) -> tuple[bytes, str]:
        record = {**fields, "seq": self._seq + 1, "time": rec.utc_now(),
                  "pid": self.pid, "event": event, "prev": self._head}
        return rec.seal(self.chain, record)

    def _rotate(self) -> None:
        """Close the active file under its first seq's name; the new
        file opens with a ``rotate`` record chained from the old tail."""
        old = files.rotated_name(self._first_seq)
        os.fsync(self._fd)
        os.rename(self.directory / files.ACTIVE, self.directory / old)
        self._open_active()
        self._first_seq = self._seq + 1
        line, digest = self._seal("rotate", {
            "prev_file": old, "chain": self.chain.algorithm})
        _write_all(self._fd, line)
        self._seq, self._head = self._seq + 1, digest
        self._size = len(line)

    def close(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class _Held:
    """The thread lock and the flock, taken and released together."""

    def __init__(self, tlock: threading.Lock, fd: int) -> None:
        self._tlock, self._fd = tlock, fd

    def __enter__(self) -> None:
        self._tlock.acquire()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._tlock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._tlock.release()
