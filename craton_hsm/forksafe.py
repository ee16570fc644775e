"""Process-wide locks that a forked child gets back unlocked.

fork() copies only the calling thread (POSIX).  A lock another thread held
at that moment stays locked in the child for ever, and the child's first
C_Initialize, C_GenerateRandom or self-test would hang on it.  Locks owned
by a module instance need nothing (a child builds a new instance in its
own C_Initialize); a lock that lives as long as the process (the DRBG's,
the error latch's, the instance slot's) comes from :func:`lock`.

The re-initialisation runs in ``os.register_at_fork(after_in_child=...)``,
which CPython calls from ``PyOS_AfterFork_Child``: from os.fork() in a
Python host, and from the pthread_atfork child handler ffi/shim.c
registers in a C host.  It runs before any other thread exists in the
child.  Leaf module: imports nothing of ours.
"""

from __future__ import annotations

import os
import threading
import weakref

_LOCKS: weakref.WeakSet[threading.Lock] = weakref.WeakSet()


def lock() -> threading.Lock:
    """A ``threading.Lock`` that is released in a forked child."""
    made = threading.Lock()
    _LOCKS.add(made)
    return made


def _reinit_in_child() -> None:
    for made in list(_LOCKS):
        # The same CPython hook logging and concurrent.futures use for
        # their own locks (typeshed does not declare it).
        made._at_fork_reinit()  # type: ignore[attr-defined]


os.register_at_fork(after_in_child=_reinit_in_child)
