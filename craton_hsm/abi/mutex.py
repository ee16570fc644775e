"""The application's mutex callbacks from CK_C_INITIALIZE_ARGS
(PKCS#11 v3.0 section 5.4), as the core's ``MutexOps``.

Calls go through cffi, which releases the GIL around each call, so a
thread blocked in the application's LockMutex never holds the interpreter
(core/locking.py relies on that).  A callback's CK_RV other than CKR_OK
becomes a ``CKRError`` carrying it, so the PKCS#11 call in progress
returns exactly that value.
"""

from __future__ import annotations

from typing import Any

from _craton_hsm_abi import ffi

from craton_hsm._generated_ck import CKR
from craton_hsm.errors import CKRError

_OK = int(CKR.OK)


def _check(rv: int, what: str) -> None:
    if rv != _OK:
        raise CKRError(int(rv), f"application {what} returned 0x{rv:x}")


class CallbackMutexes:
    """The four function pointers, copied out of the caller's struct
    (it need not outlive C_Initialize)."""

    def __init__(self, args: Any) -> None:
        self._create = args.CreateMutex
        self._destroy = args.DestroyMutex
        self._lock = args.LockMutex
        self._unlock = args.UnlockMutex

    def create(self) -> object:
        out = ffi.new("void **")
        _check(self._create(out), "CreateMutex")
        return out[0]

    def destroy(self, mutex: object) -> None:
        _check(self._destroy(mutex), "DestroyMutex")

    def lock(self, mutex: object) -> None:
        _check(self._lock(mutex), "LockMutex")

    def unlock(self, mutex: object) -> None:
        _check(self._unlock(mutex), "UnlockMutex")
