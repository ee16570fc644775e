"""The module's lock seam: OS locks, or the application's mutexes.

PKCS#11 v3.0 section 5.4 (CK_C_INITIALIZE_ARGS) and 2.10 (multi-threading):
when C_Initialize is given CreateMutex/DestroyMutex/LockMutex/UnlockMutex
and *not* CKF_OS_LOCKING_OK, the library must use those functions for its
locking; with both, it may use either (we take OS locks: cheaper); with
neither, the application promises not to call concurrently and OS locks are
harmless.

Which locks go through the seam: the two that serialise the module's state
changes and are held across whole PKCS#11 operations, ``Hsm.lock``
(sessions, handles) and ``Token.lock`` (login state, PINs, token objects).
They are the module's critical sections in the sense of section 2.10.
The short leaf locks inside components (handle table, store, DRBG, latch)
guard a few statements of in-memory bookkeeping and stay OS locks, like the
interpreter's own GIL, which no embedded CPython can do without: an
application that forbids every OS lock cannot host this module at all
(docs/threads.md says so).

Both kinds are re-entrant, because the core re-enters them (``Token.sync``
inside ``C_Login``).  Application mutexes need not be recursive (the spec
does not ask), so :class:`AppLock` counts re-entry itself and calls the
application only on the outermost acquire and release.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Protocol, Self


class MutexOps(Protocol):
    """The application's four callbacks; each raises ``CKRError`` with the
    callback's CK_RV when it returns anything but CKR_OK (spec 5.4: that
    value is what the PKCS#11 call then returns)."""

    def create(self) -> object: ...

    def destroy(self, mutex: object) -> None: ...

    def lock(self, mutex: object) -> None: ...

    def unlock(self, mutex: object) -> None: ...


class ModuleLock(Protocol):
    """What the core needs of a lock: ``with lock:`` and re-entry."""

    def __enter__(self) -> object: ...

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None,
                 tb: TracebackType | None) -> bool | None: ...


class AppLock:
    """A re-entrant lock over one application mutex."""

    def __init__(self, ops: MutexOps) -> None:
        self._ops = ops
        self._mutex = ops.create()
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> Self:
        me = threading.get_ident()
        # Only this thread can have stored its own id here, so reading
        # _owner without the mutex is safe for this comparison.
        if self._owner == me:
            self._depth += 1
            return self
        # cffi releases the GIL around the callback, so a thread blocked
        # in LockMutex does not stop the owner from reaching UnlockMutex.
        self._ops.lock(self._mutex)
        self._owner, self._depth = me, 1
        return self

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._ops.unlock(self._mutex)

    def destroy(self) -> None:
        self._ops.destroy(self._mutex)


class Locks:
    """Makes the module's locks for one C_Initialize..C_Finalize lifetime
    and destroys the application's mutexes at the end (DestroyMutex for
    every CreateMutex)."""

    def __init__(self, ops: MutexOps | None = None) -> None:
        self._ops = ops
        self._made: list[AppLock] = []

    @property
    def application(self) -> bool:
        return self._ops is not None

    def new(self) -> ModuleLock:
        if self._ops is None:
            return threading.RLock()
        lock = AppLock(self._ops)
        self._made.append(lock)
        return lock

    def destroy(self) -> None:
        """Destroy every mutex, even after one DestroyMutex failed; the
        first failure is raised (C_Finalize returns its CK_RV)."""
        made, self._made = self._made, []
        failure: BaseException | None = None
        for lock in made:
            try:
                lock.destroy()
            except Exception as exc:  # noqa: BLE001 - re-raised below
                failure = failure or exc
        if failure is not None:
            raise failure
