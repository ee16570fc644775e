"""Registration of the Python side of the C entry points.

The only caller of ``ffi.def_extern`` (cffi "extern Python").  Every
``py_C_*`` gets ``error=CKR_GENERAL_ERROR`` and one guard, because a bare
def_extern that raises or returns None gives 0, which is CKR_OK
(PKCS#11 v3.0 section 5.1).  ``finish()`` makes every function nobody
implemented return CKR_FUNCTION_NOT_SUPPORTED.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from _craton_hsm_abi import ffi, lib

from craton_hsm import latch
from craton_hsm._generated_ck import CKR
from craton_hsm.abi import audited
from craton_hsm.core.hsm import SESSIONS
from craton_hsm.errors import rv_of

F = TypeVar("F", bound=Callable[..., Any])

_log = logging.getLogger("craton_hsm")
_GENERAL_ERROR = int(CKR.GENERAL_ERROR)
_NOT_SUPPORTED = int(CKR.FUNCTION_NOT_SUPPORTED)
_MAX_RV = 2 ** (8 * ffi.sizeof("CK_RV")) - 1

# The py_C_* names cffi compiled into this .so, read from the module
# itself so the list cannot drift from the binary (the build derives them
# from cbindings/pkcs11_functions.h).
FUNCTIONS: tuple[str, ...] = tuple(
    sorted(n[3:] for n in dir(lib) if n.startswith("py_C_"))
)
_exported: set[str] = set()

# Test-only fault switch (docs/configuration.md, "Test-only switches"):
# CRATON_HSM_TEST_RAISE=<C function name> makes that one entry point raise
# inside its guard, to exercise the unexpected-exception path.  Read once
# at import, and applied at registration, so every other function pays
# nothing per call.
FAULT_ENV = "CRATON_HSM_TEST_RAISE"
_FAULT, _, _FAULT_KIND = os.environ.get(FAULT_ENV, "").partition(":")


class InjectedPanic(BaseException):
    """What ``<name>:base`` raises: like pyo3's PanicException (a Rust
    panic inside `cryptography`), not an Exception."""

# Refused with CKR_GENERAL_ERROR while the module is in its error state
# (craton_hsm/latch.py; ISO/IEC 19790 7.10.1: no cryptographic service
# after a self-test failed): every call that runs a mechanism, makes,
# imports or unseals key material, or returns random bytes.  Slot,
# session and object listing, C_GetInfo and C_Finalize still answer, so
# an application can see the state and re-initialise.
_OPS = ("Encrypt", "Decrypt", "Digest", "Sign", "Verify", "SignRecover",
        "VerifyRecover", "VerifySignature")
_MSG = ("Encrypt", "Decrypt", "Sign", "Verify")
# Built from patterns, kept to the functions this .so really has.
LATCHED: frozenset[str] = frozenset(FUNCTIONS) & frozenset(
    {f"C_{o}{s}" for o in _OPS for s in ("Init", "", "Update", "Final")}
    | {f"C_Message{o}{s}" for o in _MSG for s in ("Init", "Final")}
    | {f"C_{o}Message{s}" for o in _MSG for s in ("", "Begin", "Next")}
    | {"C_DigestKey", "C_DigestEncryptUpdate", "C_DecryptDigestUpdate",
       "C_SignEncryptUpdate", "C_DecryptVerifyUpdate", "C_GenerateKey",
       "C_GenerateKeyPair", "C_WrapKey", "C_UnwrapKey", "C_DeriveKey",
       "C_WrapKeyAuthenticated", "C_UnwrapKeyAuthenticated",
       "C_EncapsulateKey", "C_DecapsulateKey", "C_SeedRandom",
       "C_GenerateRandom", "C_CreateObject", "C_CopyObject",
       "C_GetOperationState", "C_SetOperationState", "C_InitToken",
       "C_InitPIN", "C_SetPIN", "C_Login", "C_LoginUser"}
)


# PKCS#11 v3.0 2.6 asks applications not to use one session from two
# threads at once, but an application that does must not get a wrong
# answer with CKR_OK: two threads' C_Digest on one operation would both
# feed it (measured by tests/abi/stress.c before this: 0.5-2% of CKR_OK
# results wrong).  So every call whose first argument is a session handle
# holds that session's lock for its whole run; a racing call then sees
# the operation finished (CKR_OPERATION_NOT_INITIALIZED) instead of torn.
# C_SessionCancel is left out: it must be able to reach an operation.
_NOT_SESSION = frozenset({
    "C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList",
    "C_GetSlotList", "C_GetSlotInfo", "C_GetTokenInfo",
    "C_GetMechanismList", "C_GetMechanismInfo", "C_InitToken",
    "C_OpenSession", "C_CloseAllSessions", "C_WaitForSlotEvent",
    "C_GetInterfaceList", "C_GetInterface", "C_SessionCancel"})
SERIALISED: frozenset[str] = frozenset(FUNCTIONS) - _NOT_SESSION


def _on_error(
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> None:
    """Last resort (e.g. an out-of-range return); cffi then returns error."""
    _log.error("PKCS#11 entry point failed", exc_info=exc)


def _raised(name: str, exc: BaseException) -> int:
    """The CK_RV of an exception that reached the guard; anything but a
    CKRError is logged (with its traceback) under the C function's
    name."""
    code = rv_of(exc)
    if code == _GENERAL_ERROR:
        _log.error("%s raised", name, exc_info=exc)
    return code


def _not_rv(name: str, rv: Any) -> int:
    """The guard's answer to a return value that is not a plain int: an
    int subclass in range (an IntEnum member) passes; bool (True would
    read as CKR_CANCEL), anything else and out-of-range values are
    logged and become CKR_GENERAL_ERROR."""
    if rv.__class__ is bool or not isinstance(rv, int) \
            or not 0 <= rv <= _MAX_RV:
        _log.error("%s returned %r, not a CK_RV", name, rv)
        return _GENERAL_ERROR
    return rv


def guarded(fn: Callable[..., Any],
            name: str | None = None) -> Callable[..., int]:
    """Map the outcome of an entry point onto a CK_RV, never CKR_OK by
    accident: CKRError -> its rv, other exceptions and non-int returns ->
    logged (under the C function's ``name``) and CKR_GENERAL_ERROR."""
    return _entry(fn, name or fn.__name__, serial=False, latched=False)


def _entry(fn: Callable[..., Any], name: str, *, serial: bool,
           latched: bool) -> Callable[..., int]:
    """``fn`` behind the guard, and, as asked, the error-state check
    (LATCHED) and its session's lock (SERIALISED), in one Python frame.

    Each layer used to be a wrapper of its own (guard -> lock -> latch
    check -> body, four frames and ~4 look-ups of the module instance
    per call); the variant is now chosen here, once per function
    (issue 9).  The order is unchanged: the lock is taken before the
    latch is read, and the guard sees every exception of both."""
    if serial:
        entry = _serial_entry(fn, name, latched)
    elif latched:
        entry = _latched_entry(fn, name)
    else:
        entry = _plain_entry(fn, name)
    functools.update_wrapper(entry, fn)
    return entry


# In the three variants below: the ABI boundary is the one place a blind
# catch is right, nothing may unwind into the C caller (STYLE R1).
# BaseException, because a Rust panic inside `cryptography` arrives as
# pyo3's PanicException, which is not an Exception (found by fuzzing).
# Each binds what it uses as closure variables (cell reads, no global or
# attribute look-ups on the hot path).

def _plain_entry(fn: Callable[..., Any], name: str) -> Callable[..., int]:
    raised, not_rv, top = _raised, _not_rv, _MAX_RV

    def entry(*args: Any) -> int:
        try:
            rv = fn(*args)
        except BaseException as exc:  # noqa: BLE001
            return raised(name, exc)
        if rv.__class__ is int and 0 <= rv <= top:
            return rv
        return not_rv(name, rv)
    return entry


def _latched_entry(fn: Callable[..., Any], name: str) -> Callable[..., int]:
    raised, not_rv, top = _raised, _not_rv, _MAX_RV
    held, check = latch.HELD, latch.check

    def entry(*args: Any) -> int:
        try:
            if held:
                check()
            rv = fn(*args)
        except BaseException as exc:  # noqa: BLE001
            return raised(name, exc)
        if rv.__class__ is int and 0 <= rv <= top:
            return rv
        return not_rv(name, rv)
    return entry


def _serial_entry(fn: Callable[..., Any], name: str,
                  latched: bool) -> Callable[..., int]:
    raised, not_rv, top = _raised, _not_rv, _MAX_RV
    # An empty list for an unlatched function: ``if held`` is then never
    # true, and one body serves both.
    held: list[latch.Failure] = latch.HELD if latched else []
    check, lookup = latch.check, SESSIONS.get

    def entry(session: Any, *args: Any) -> int:
        try:
            s = lookup(session)
            if s is None:
                # No such session (or no module): the body answers
                # with the right code.
                if held:
                    check()
                rv = fn(session, *args)
            else:
                with s.lock:
                    if held:
                        check()
                    rv = fn(session, *args)
        except BaseException as exc:  # noqa: BLE001
            return raised(name, exc)
        if rv.__class__ is int and 0 <= rv <= top:
            return rv
        return not_rv(name, rv)
    return entry


def export(name: str) -> Callable[[F], F]:
    """Register the decorated function as the body of ``py_<name>``."""
    if name not in FUNCTIONS:
        raise ValueError(f"{name} is not a Python-implemented PKCS#11 "
                         "function")

    def register(fn: F) -> F:
        body: Callable[..., Any] = _injected(fn) if name == _FAULT else fn
        inner = _entry(body, name, serial=name in SERIALISED,
                       latched=name in LATCHED)
        # The audit hook runs outside the guard (it records the CK_RV);
        # a second guard keeps a fault in the hook itself from reaching
        # cffi's last resort.  Unaudited calls (C_Sign, C_Digest, ...)
        # are not hooked and keep the one guard on their hot path.
        entry = audited.wrap(name, inner)
        if entry is not inner:
            entry = guarded(entry, name)
        ffi.def_extern(name="py_" + name, error=_GENERAL_ERROR,
                       onerror=_on_error)(entry)
        _exported.add(name)
        return fn

    return register


def _injected(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` replaced by a body that raises (the test-only switch)."""
    @functools.wraps(fn)
    def raise_fault(*_args: Any) -> int:
        if _FAULT_KIND == "base":
            raise InjectedPanic("injected fault")
        raise RuntimeError("injected fault")
    return raise_fault


def _not_supported(*_args: Any) -> int:
    return _NOT_SUPPORTED


def finish() -> None:
    """Give every function not exported a CKR_FUNCTION_NOT_SUPPORTED body;
    cffi would otherwise answer 0 (CKR_OK) for it."""
    for name in FUNCTIONS:
        if name not in _exported:
            ffi.def_extern(name="py_" + name,
                           error=_NOT_SUPPORTED)(_not_supported)
