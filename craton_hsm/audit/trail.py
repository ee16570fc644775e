"""The append side of the audit chain (docs/audit.md "Chain").

Several processes may share one audit directory.  Each append takes an
exclusive flock(2) on ``audit.lock``, brings its view of the chain head
(the last record's seq and hash) up to date when another process
appended or rotated meanwhile, writes one line with O_APPEND and, per
the fsync policy, fsyncs before the lock is released, so the records of
all processes form one chain.

"Did anyone else append?" is answered by the shared head kept in the
first bytes of ``audit.lock`` (layout below), mapped into every
appending process: a memory read instead of a stat(2) of the log.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from craton_hsm.audit import files, keys
from craton_hsm.audit import record as rec
from craton_hsm.backend import audit_primitives as prim


@dataclass(frozen=True)
class Policy:
    algorithm: str             # record.SHA256 or record.BLAKE3_KEYED
    fsync: str                 # "always" | "state" | "never"
    max_file_bytes: int
    checkpoint_every: int


# The shared head (docs/audit.md "Files, rotation, several processes"),
# little-endian at offset 0 of audit.lock, read and written only under
# the flock:
#   magic   8 bytes  HEAD_MAGIC
#   epoch   u64      bumped by an appender BEFORE it writes to the log
#   done    u64      set to epoch once the fields below describe the log
#   gen     u64      bumped whenever audit.log becomes another file
#   ino     u64      inode of audit.log
#   size    u64      its size
#   seq     u64      the last record's seq
#   first   u64      seq of the first record of audit.log
#   hash    64 bytes the last record's hash (hex)
# A process whose last epoch still stands knows that no one appended.
# epoch != done means an appender died (or failed) mid-append: the
# others re-read the log itself.
HEAD_MAGIC = b"crhead01"
HEAD_BYTES = mmap.PAGESIZE
_EPOCH = struct.Struct("<Q")
_FIELDS = struct.Struct("<QQQQQ64s")       # gen .. hash
_HEAD = struct.Struct("<8sQQQQQQQ64s")     # the whole head
_EPOCH_AT, _DONE_AT, _FIELDS_AT = 8, 16, 24
_EPOCH_MAX = (1 << 63) - 1
_U64 = (1 << 64) - 1


class Native(Protocol):
    """ffi/audit.c, handed over by the library (``abi.audited``): an
    ordinary record in one call (``append``, when ``fast``: its C
    SHA-256 passed the known-answer check), else its system calls in two
    (``enter``, ``commit``); the GIL is released around each."""

    fast: bool

    def pointer(self, head: mmap.mmap) -> Any:
        """The head's address, valid until :meth:`release`."""

    def release(self, pointer: Any) -> None: ...

    def enter(self, lock_fd: int, log_fd: int, head: Any,
              epoch: int) -> int: ...

    def commit(self, lock_fd: int, log_fd: int, line: bytes, n: int,
               sync: int, head: Any, epoch: int, size: int, gen: int,
               ino: int, seq: int, first: int, digest: bytes) -> int: ...

    def state(self) -> Any:
        """A new struct craton_audit_trail, its mutex initialised."""

    def free(self, state: Any) -> None:
        """Release what ``state`` holds (its digest context)."""

    def lock(self, state: Any) -> None:
        """Take the state's mutex (the trail's thread lock)."""

    def unlock(self, state: Any) -> None: ...

    def hash_of(self, state: Any) -> str:
        """The state's head hash."""

    def append(self, state: Any, body: bytes, n: int, marker: bytes,
               marker_n: int, quotes: int, durable: int) -> int: ...


_native: Native | None = None


def use_native(native: Native | None) -> None:
    """Trails opened from now on append through ``native``."""
    global _native
    _native = native


_TEMPLATES_MAX = 4096      # distinct key sets kept


class Trail:
    """One process's handle on an audit directory."""

    def __init__(self, directory: Path, policy: Policy) -> None:
        self.directory = directory
        self._active = str(directory / files.ACTIVE)
        self.policy = policy
        self._fsync_all = policy.fsync == "always"
        self._fsync_state = policy.fsync == "state"
        self._every = policy.checkpoint_every
        self._max_bytes = policy.max_file_bytes
        self.pid = os.getpid()
        self._native = _native
        # The one-call append's state (ffi/audit.c struct
        # craton_audit_trail), which holds the head between appends:
        # _load and _store copy it around anything done in Python.  Its
        # mutex is then the thread lock (flock does not order threads),
        # taken by that C call itself.
        self._ct: Any = None
        self._c_append: Any = None
        self._c_fast = False    # appends go through _c_append
        self._tlock: _ThreadLock = threading.Lock()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_fd = os.open(directory / files.LOCK,
                                os.O_RDWR | os.O_CREAT, 0o600)
        self._map: mmap.mmap | None = None
        self._pointer: Any = None
        self._templates: dict[tuple[str, ...], rec.Template] = {}
        self._typed: dict[tuple[str, ...], rec.Template] = {}
        self.key = keys.signing_key(directory)
        self.chain = rec.Chain(rec.SHA256)   # until _sync reads the file
        self._fd = -1
        self._ino = -1
        self._gen = -1
        self._size = 0
        self._seq = 0
        self._head = rec.GENESIS_PREV
        self._first_seq = 1
        self._epoch = -1        # the head epoch this process left
        self._next_epoch = 0    # the one _begin marked, for _publish
        self.genesis = False
        if _native is not None and _native.fast:
            self._ct = _native.state()
            self._c_append = _native.append
            self._tlock = _CLock(_native, self._ct)
        try:
            with self._locked():
                # An empty lock file (first use, or a directory written
                # before the head existed) grows to one zeroed page:
                # no magic, so the first append reads the log.
                if os.fstat(self._lock_fd).st_size < HEAD_BYTES:
                    os.ftruncate(self._lock_fd, HEAD_BYTES)
                self._map = mmap.mmap(self._lock_fd, HEAD_BYTES)
                if self._native is not None:
                    self._pointer = self._native.pointer(self._map)
                    ct = self._ct
                    if ct is not None:
                        ct.lock_fd, ct.head = self._lock_fd, self._pointer
                        ct.max_bytes = self._max_bytes
                        ct.every = max(self._every, 0)
                        ct.fsync_all = int(self._fsync_all)
                        ct.fsync_state = int(self._fsync_state)
                        ct.stamp_sec = -1
                self._resync()
                self._store()
        except BaseException:
            self.close()
            raise

    # -- the chain head --------------------------------------------------

    def _store(self) -> None:
        """Hand the head to the one-call append (after Python wrote)."""
        ct = self._ct
        if ct is None:
            return
        ct.log_fd, ct.epoch = self._fd, self._epoch
        ct.gen, ct.ino = self._gen & _U64, self._ino & _U64
        ct.size, ct.seq = self._size & _U64, self._seq
        ct.first = self._first_seq
        ct.hash = self._head.encode("ascii")
        self._c_fast = self.chain.algorithm == rec.SHA256
        ct.fast = int(self._c_fast)

    def _load(self) -> None:
        """Take the head back from the one-call append (before Python
        writes): it moves epoch, seq, size and hash only; it holds the
        head only while the chain is SHA-256 (``_c_fast``)."""
        ct = self._ct
        if ct is None or not self._c_fast:
            return
        assert self._native is not None
        self._epoch, self._seq, self._size = ct.epoch, ct.seq, ct.size
        self._head = self._native.hash_of(ct)

    def _locked(self) -> _Held:
        return _Held(self._tlock, self._lock_fd)

    def locked(self) -> _Held:
        """The appenders' lock (this process's threads and, by flock,
        every other process's), for a reader of the log that must not see
        an append half done (verify.verify_tail at start-up).  Not
        re-entrant: nothing may append while it is held."""
        return self._locked()

    def _current(self) -> bool:
        """True when no other process appended or rotated since this one
        last held the lock (a memory read), and audit.log was not
        removed or replaced behind everyone's back (its link count)."""
        assert self._map is not None
        return _EPOCH.unpack_from(self._map, _EPOCH_AT)[0] == self._epoch \
            and os.fstat(self._fd).st_nlink > 0

    def _resync(self) -> None:
        """Bring the head up to date: from the shared head when another
        process left it complete for the file this one has open, else
        from the log itself."""
        assert self._map is not None
        magic, epoch, done, gen, ino, size, seq, first, digest = \
            _HEAD.unpack_from(self._map, 0)
        whole = magic == HEAD_MAGIC and epoch == done and epoch <= _EPOCH_MAX
        if whole and gen == self._gen and ino == self._ino \
                and self._fd >= 0 and os.fstat(self._fd).st_nlink > 0:
            self._seq, self._head = seq, digest.decode("ascii")
            self._size, self._first_seq = size, first
            self._epoch = epoch
            return
        self._epoch = -1        # until _publish: a failed read repeats
        self._sync(reopen=not whole or gen != self._gen)
        if magic != HEAD_MAGIC:
            self._map[:8] = HEAD_MAGIC
        known = whole and ino == self._ino
        self._gen = gen if known else (gen + 1) & _EPOCH_MAX \
            if magic == HEAD_MAGIC else 1
        self._begin()
        self._publish()

    def _begin(self) -> None:
        """Mark the head as being changed (before any write to the log):
        if this process dies before _publish, the others see epoch !=
        done and re-read the log."""
        assert self._map is not None
        # Epochs stay below 2**63 (the C side takes them as int64_t),
        # whatever a damaged head held.
        epoch = (_EPOCH.unpack_from(self._map, _EPOCH_AT)[0] + 1) \
            & _EPOCH_MAX
        _EPOCH.pack_into(self._map, _EPOCH_AT, epoch)
        self._epoch = -1            # until _publish: re-read if it fails
        self._next_epoch = epoch

    def _publish(self) -> None:
        """The head after this process's writes; ``done`` last, so a
        head cut short by a kill is never taken as complete."""
        assert self._map is not None
        m = self._map
        _FIELDS.pack_into(m, _FIELDS_AT, self._gen, self._ino, self._size,
                          self._seq, self._first_seq,
                          self._head.encode("ascii"))
        epoch = self._next_epoch
        _EPOCH.pack_into(m, _DONE_AT, epoch)
        self._epoch = epoch

    def _open_active(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._fd = os.open(self._active,
                           os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        st = os.fstat(self._fd)
        self._ino, self._size = st.st_ino, -1

    def _sync(self, reopen: bool) -> None:
        """Re-read the head from the log: same inode and the size this
        process left mean no one else wrote."""
        try:
            st = os.stat(self._active)
        except FileNotFoundError:
            st = None
        if not reopen and st is not None and st.st_ino == self._ino \
                and st.st_size == self._size:
            return
        if reopen or st is None or st.st_ino != self._ino:
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
            if len(self._head) != 64 or not self._head.isascii():
                raise ValueError("the last record's hash is malformed")
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

    def append(self, event: str, fields: dict[str, Any], durable: bool,
               typed: bool = False) -> None:
        """Write one record (and a checkpoint when one is due); OSError
        when the log cannot be written.  ``fields`` becomes the record
        (the caller hands over a dict of its own).  ``typed``: whenever
        the caller's keys are the same, so are its values' types (the
        PKCS#11 wrapper's records, abi/audited.py), so the template made
        for the first such record needs no type check.  The caller
        (``audit.append``) makes sure this process opened the trail (no
        fork in between)."""
        if self._c_fast:
            # The common record in one C call (ffi/audit.c); an empty
            # body (quotes -1) only takes the lock for the Python path.
            fields["event"] = event
            keys = tuple(fields)
            plan = (self._typed if typed else self._templates).get(keys) \
                or self._template(keys, fields, typed)
            body, quotes = b"", -1
            if plan.types is not None:
                values = plan.take(fields)
                if typed or tuple(map(type, values)) == plan.types:
                    # A repeated record (same session, key, result) is
                    # one dict lookup instead of a format and an encode.
                    body = plan.bodies.get(values) or plan.body(values)
                    quotes = plan.quotes
            # Takes the state's mutex (tlock) and the flock itself.
            done = self._c_append(self._ct, body, len(body), plan.marker,
                                  plan.marker_n, quotes, durable)
            if not done:
                return
            if done < 0:
                raise OSError(-done, os.strerror(-done))
            # Both held; the head changed (1) or Python writes this one.
            tlock = self._tlock
            try:
                self._load()
                try:
                    self._append_locked(event, fields, durable, done == 1)
                finally:
                    self._store()
            finally:
                tlock.release()
            return
        tlock = self._tlock
        tlock.acquire()
        try:
            native = self._native
            if native is not None:
                stale = native.enter(self._lock_fd, self._fd, self._pointer,
                                     self._epoch)
                if stale < 0:
                    raise OSError(-stale, os.strerror(-stale))
            else:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
                stale = not self._current()
            self._append_locked(event, fields, durable, bool(stale))
        finally:
            if self._ct is not None and self.chain.algorithm == rec.SHA256:
                self._store()   # a SHA-256 chain now: C appends from here
            tlock.release()

    def _template(self, keys: tuple[str, ...], fields: dict[str, Any],
                  typed: bool) -> rec.Template:
        plan = rec.Template(fields, self.pid)
        cache = self._typed if typed else self._templates
        if len(cache) < _TEMPLATES_MAX:
            cache[keys] = plan
        return plan

    def _append_locked(self, event: str, fields: dict[str, Any],
                       durable: bool, stale: bool) -> None:
        """append() with the flock held (released here)."""
        held = True
        try:
            if stale:
                self._resync()
            seq = self._seq + 1
            # The common case: one record, no genesis, checkpoint or
            # rotation; written, published and unlocked by _commit.
            if seq > 1 and seq % self._every:
                fields["seq"] = seq
                fields["time"] = rec.utc_now()
                fields["pid"] = self.pid
                fields["event"] = event
                fields["prev"] = self._head
                line, digest = rec.seal(self.chain, fields)
                if self._size + len(line) <= self._max_bytes:
                    self._commit(line, digest, self._fsync_all or
                                 (durable and self._fsync_state))
                    held = False
                    return
            self._begin()
            if not self._seq:
                self._write("genesis", {"chain": self.chain.algorithm},
                            True)
                self.genesis = True
            # Due when this append passed a multiple of checkpoint_every:
            # a rotation writes its own record first, so the event may
            # land one past the multiple (docs/audit.md "Checkpoints").
            before = self._seq
            self._write(event, fields, durable)
            if self._seq // self._every > before // self._every:
                self._checkpoint()
            self._publish()
        finally:
            if held:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _commit(self, line: bytes, digest: str, sync: bool) -> None:
        """Write one record with the lock held, then publish the head
        and unlock; OSError (lock still held, head left incomplete so
        every process re-reads the log) when it cannot be written."""
        epoch, size, n = (self._epoch + 1) & _EPOCH_MAX, self._size, len(line)
        self._epoch = -1
        native = self._native
        if native is not None:
            failed = native.commit(
                self._lock_fd, self._fd, line, n, sync, self._pointer,
                epoch, size, self._gen, self._ino, self._seq + 1,
                self._first_seq, digest.encode("ascii"))
            if failed:
                raise OSError(-failed, os.strerror(-failed))
        else:
            assert self._map is not None
            self._next_epoch = epoch
            _EPOCH.pack_into(self._map, _EPOCH_AT, epoch)
            self._write_line(line, size)
            if sync:
                os.fsync(self._fd)
        self._seq += 1
        self._head = digest
        self._size = size + n
        if native is None:
            self._publish()
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        else:
            self._epoch = epoch

    def checkpoint(self) -> None:
        with self._locked():
            self._load()
            try:
                if not self._current():
                    self._resync()
                if self._seq:
                    self._begin()
                    self._checkpoint()
                    self._publish()
            finally:
                self._store()

    def _checkpoint(self) -> None:
        self._write("checkpoint", self._signed(), True)

    def _signed(self) -> dict[str, Any]:
        """A checkpoint's fields: the signature of the current head."""
        sig = prim.sign(self.key.private,
                        rec.checkpoint_message(self._seq, self._head))
        return {"signed_seq": self._seq, "signed_hash": self._head,
                "key": self.key.key_id, "sig": sig.hex()}

    def _write(self, event: str, record: dict[str, Any],
               durable: bool) -> None:
        # The core fields go in after the caller's, in this order (the
        # encoder's plan is chosen by the key order).
        record["seq"] = self._seq + 1
        record["time"] = rec.utc_now()
        record["pid"] = self.pid
        record["event"] = event
        record["prev"] = self._head
        line, digest = rec.seal(self.chain, record)
        size = self._size
        if size + len(line) > self._max_bytes and size:
            self._rotate()
            record["seq"], record["prev"] = self._seq + 1, self._head
            if event == "checkpoint":
                # It signs the record before it, now the rotate record.
                record.update(self._signed())
            line, digest = rec.seal(self.chain, record)
            size = self._size
        self._write_line(line, size)
        self._seq += 1
        self._head = digest
        self._size = size + len(line)
        if self._fsync_all or (durable and self._fsync_state):
            os.fsync(self._fd)

    def _write_line(self, line: bytes, size: int) -> None:
        # One write(2) on an O_APPEND descriptor: the kernel has the
        # record before the call returns (docs/audit.md "Durability").
        fd = self._fd
        try:
            written = os.write(fd, line)
            if written != len(line):
                _write_all(fd, line[written:])
        except OSError:
            # A full disk takes part of a line: a torn record would break
            # the chain for every later append, so cut it off again (the
            # flock is held: no other process appended meanwhile).
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise

    def _rotate(self) -> None:
        """Close the active file under its first seq's name; the new
        file opens with a ``rotate`` record chained from the old tail."""
        old = files.rotated_name(self._first_seq)
        os.fsync(self._fd)
        os.rename(self.directory / files.ACTIVE, self.directory / old)
        self._open_active()
        self._gen = (self._gen + 1) & _EPOCH_MAX
        self._first_seq = self._seq + 1
        record: dict[str, Any] = {"prev_file": old,
                                  "chain": self.chain.algorithm,
                                  "seq": self._seq + 1,
                                  "time": rec.utc_now(), "pid": self.pid,
                                  "event": "rotate", "prev": self._head}
        line, digest = rec.seal(self.chain, record)
        _write_all(self._fd, line)
        self._seq, self._head = self._seq + 1, digest
        self._size = len(line)

    def close(self) -> None:
        ct, self._ct, self._c_fast = self._ct, None, False
        if ct is not None and self._native is not None:
            self._native.free(ct)
        if self._pointer is not None and self._native is not None:
            self._native.release(self._pointer)
            self._pointer = None
        if self._map is not None:
            self._map.close()
            self._map = None
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class _ThreadLock(Protocol):
    def acquire(self) -> bool: ...

    def release(self) -> None: ...


class _CLock:
    """The mutex of a one-call append's state as the trail's thread
    lock (taken with the GIL released, like any lib call)."""

    def __init__(self, native: Native, state: Any) -> None:
        self._native, self._state = native, state

    def acquire(self) -> bool:
        self._native.lock(self._state)
        return True

    def release(self) -> None:
        self._native.unlock(self._state)


class _Held:
    """The thread lock and the flock, taken and released together."""

    def __init__(self, tlock: _ThreadLock, fd: int) -> None:
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
