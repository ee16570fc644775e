"""Key-material memory: fixed slices of one locked, undumpable arena.

Issue 8 "Memory hygiene" and shared/notes/dependencies.md: key bytes the
module holds (secret key values, private key components, token master
keys, PIN-derived KEKs) live in one anonymous mapping made once per
process, ``mlock``ed (never swapped) and ``MADV_DONTDUMP`` (never in a
core file), and are wiped with ``explicit_bzero`` when freed.  A
bytearray would not do: it moves (leaving an unwiped copy) when it grows,
and small ones share heap pages with everything else.

The arena itself is C (ffi/arena.c), reachable only through the cffi
module; ``craton_hsm.abi.boot`` hands it over with :func:`register`.
Without the .so (CLI, unit tests) the arena is one Python ``bytearray``
that is never resized: wiped the same way, but neither locked nor
excluded from core dumps (``status()`` says so).

Allocation is O(1): power-of-two size classes from 16 bytes to 64 KiB,
each with a FIFO free list (a freed slice is reused last, so a stale
reader sees zeros for as long as possible), carved from a bump pointer.
Larger requests, and requests once the arena is full, get a private
heap ``bytearray`` (wiped on free too) and one warning in the log.

Leaf module: imports nothing of ours but ``forksafe``.
"""

from __future__ import annotations

import collections
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from craton_hsm import forksafe

log = logging.getLogger("craton_hsm")

DEFAULT_ARENA_BYTES = 4 << 20
MIN_CLASS_SHIFT = 4                      # 16 bytes
MAX_CLASS_SHIFT = 16                     # 64 KiB
_N_CLASSES = MAX_CLASS_SHIFT - MIN_CLASS_SHIFT + 1
_ZEROS = bytes(1 << MAX_CLASS_SHIFT)

# Status bits of craton_arena_open (ffi/arena.c).
MAPPED, LOCKED, DONTDUMP = 1, 2, 4

Bytes = bytes | bytearray | memoryview


class Native(Protocol):
    """The C arena, as craton_hsm/abi/boot.py adapts it."""

    def open(self, size: int) -> int: ...
    def buffer(self) -> memoryview: ...
    def wipe(self, offset: int, n: int) -> None: ...
    def error(self) -> int: ...


@dataclass(frozen=True)
class Status:
    """What ``craton-hsm status`` and the log report about the arena."""

    size: int
    native: bool        # the mmap arena of the .so, not a bytearray
    locked: bool        # mlock succeeded (RLIMIT_MEMLOCK, CAP_IPC_LOCK)
    dontdump: bool      # MADV_DONTDUMP applied
    mlock_errno: int    # why mlock failed, 0 if it did not
    used: int           # bytes carved so far (high-water mark)
    overflow: int       # secrets that had to live on the heap


def _size_class(n: int) -> int:
    return max(0, (n - 1).bit_length() - MIN_CLASS_SHIFT)


class Secret:
    """One slice holding key bytes.  ``view`` is a read-only memoryview
    of exactly ``len(secret)`` bytes, usable wherever bytes-like keys are
    accepted (``cryptography`` takes them); ``free()`` wipes it."""

    __slots__ = ("_arena", "_cls", "_gen", "_heap", "_off", "view")

    def __init__(self, arena: Arena, off: int, cls: int, n: int,
                 heap: bytearray | None) -> None:
        self._arena = arena
        self._off = off
        self._cls = cls
        self._gen = arena.gen
        self._heap = heap
        whole = memoryview(heap) if heap is not None else \
            arena.mem[off:off + n]
        self.view = whole.toreadonly()

    def __len__(self) -> int:
        return len(self.view)

    def __repr__(self) -> str:
        # Never the bytes (issue 8: repr and logs redact).
        return f"<Secret {len(self.view)} bytes>"

    def writable(self) -> memoryview:
        """A writable view of the slice, to fill it in place."""
        if self._heap is not None:
            return memoryview(self._heap)
        return self._arena.mem[self._off:self._off + len(self.view)]

    def free(self) -> None:
        """Wipe and give back; idempotent, and a no-op after the arena
        was wiped whole (C_Finalize) since then it is already zero."""
        self._arena.release(self)


class Arena:
    """The allocator over one fixed buffer."""

    def __init__(self, mem: memoryview,
                 wipe: Callable[[int, int], None],
                 status: Status) -> None:
        self.mem = mem
        self._wipe = wipe
        self.status = status
        self.gen = 0
        self.pid = os.getpid()
        self._lock = forksafe.lock()
        self._top = 0
        self._free: list[collections.deque[int]] = [
            collections.deque() for _ in range(_N_CLASSES)]
        self._overflow = 0

    def alloc(self, n: int) -> Secret:
        cls = _size_class(n)
        if cls < _N_CLASSES:
            cap = 1 << (cls + MIN_CLASS_SHIFT)
            with self._lock:
                free = self._free[cls]
                if free:
                    return Secret(self, free.popleft(), cls, n, None)
                if self._top + cap <= len(self.mem):
                    off = self._top
                    self._top += cap
                    return Secret(self, off, cls, n, None)
        self._overflow += 1
        if self._overflow == 1:
            log.warning("key-material arena full or request too large "
                        "(%d bytes): key bytes now also on the unlocked "
                        "heap; raise [memory] arena_bytes", n)
        return Secret(self, -1, -1, n, bytearray(n))

    def release(self, s: Secret) -> None:
        heap = s._heap
        if heap is not None:
            heap[:] = _zeros(len(heap))
            s._heap = bytearray()
            _drop_view(s)
            return
        with self._lock:
            if s._gen != self.gen or s._cls < 0:
                return
            cap = 1 << (s._cls + MIN_CLASS_SHIFT)
            self._wipe(s._off, cap)
            self._free[s._cls].append(s._off)
            s._cls = -1
        _drop_view(s)

    def wipe_all(self) -> None:
        """Zero every slice and forget them all (C_Finalize, fork)."""
        with self._lock:
            if self._top:
                self._wipe(0, self._top)
            self._top = 0
            for free in self._free:
                free.clear()
            self.gen += 1

    def report(self) -> Status:
        st = self.status
        return Status(st.size, st.native, st.locked, st.dontdump,
                      st.mlock_errno, self._top, self._overflow)


def _zeros(n: int) -> bytes:
    # Exactly n: a heap secret may exceed the largest class, and a
    # shorter right-hand side would resize the bytearray, which its
    # exported view forbids (BufferError) and which would not wipe it.
    return _ZEROS[:n] if n <= len(_ZEROS) else bytes(n)


def _drop_view(s: Secret) -> None:
    # A holder of the old view now gets ValueError instead of reading
    # the zeros, or a later key in the reused slice.  A buffer still
    # exported from it (a call in progress) keeps it; that is harmless.
    try:
        s.view.release()
    except BufferError:
        pass


def python_arena(size: int) -> Arena:
    mem = memoryview(bytearray(size))

    def wipe(off: int, n: int) -> None:
        mem[off:off + n] = _zeros(n)

    return Arena(mem, wipe, Status(size, False, False, False, 0, 0, 0))


_native: Native | None = None
_arena: Arena | None = None
_START = forksafe.lock()


def register(native: Native) -> None:
    """Called once by craton_hsm.abi.boot: use the .so's arena."""
    global _native
    _native = native


def _native_arena(native: Native, size: int) -> Arena | None:
    bits = native.open(size)
    if not bits & MAPPED:
        log.error("key-material arena: mmap of %d bytes failed (errno "
                  "%d); using an unlocked heap buffer", size,
                  native.error())
        return None
    mem = native.buffer()
    status = Status(len(mem), True, bool(bits & LOCKED),
                    bool(bits & DONTDUMP), native.error(), 0, 0)
    _log_lock(status)
    return Arena(mem, native.wipe, status)


def _log_lock(st: Status) -> None:
    if not st.locked:
        log.warning("key-material arena (%d bytes) is NOT locked in "
                    "memory: mlock failed with %s (raise RLIMIT_MEMLOCK, "
                    "ulimit -l, or lower [memory] arena_bytes); key bytes "
                    "may be swapped", st.size, os.strerror(st.mlock_errno))


def start(size: int = DEFAULT_ARENA_BYTES) -> Status:
    """Make the arena at C_Initialize; later calls keep it (no per-call
    mmap), except in a forked child, which wipes its copy of the
    parent's keys and locks again (locks are not inherited)."""
    global _arena
    with _START:
        arena = _arena
        if arena is not None and arena.pid == os.getpid():
            if size != arena.status.size and arena.status.native:
                log.info("key-material arena keeps its %d bytes (asked "
                         "%d): it is made once per process",
                         arena.status.size, size)
            return arena.report()
        if arena is not None:
            arena.wipe_all()
            arena.pid = os.getpid()
            if _native is not None and arena.status.native:
                bits = _native.open(arena.status.size)
                st = arena.status
                arena.status = Status(st.size, True, bool(bits & LOCKED),
                                      st.dontdump, _native.error(), 0, 0)
                _log_lock(arena.status)
            return arena.report()
        made = _native_arena(_native, size) if _native is not None \
            else None
        _arena = made or python_arena(size)
        return _arena.report()


def _current() -> Arena:
    arena = _arena
    if arena is None:
        start()
        arena = _arena
        assert arena is not None
    return arena


def alloc(n: int) -> Secret:
    """``n`` zero bytes in the arena."""
    return _current().alloc(n)


def secret(data: Bytes) -> Secret:
    """A copy of ``data`` in the arena (the caller's copy is its own)."""
    s = _current().alloc(len(data))
    s.writable()[:] = data
    return s


def wipe_all() -> None:
    """C_Finalize: every slice zeroed, every Secret already freed."""
    if _arena is not None:
        _arena.wipe_all()


def status() -> Status:
    return _current().report()
