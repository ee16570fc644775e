"""The module's error state (seed 004 "Self-tests"; FIPS 140-3 ISO/IEC
19790 7.10.2: a module that fails a self-test enters an error state and
performs no cryptographic service until it is re-initialised).

One process-wide flag.  Whoever detects a failure (a power-on or
conditional self-test, the DRBG's continuous and health tests, the audit
chain check) calls :func:`latch`; every cryptographic entry point calls
:func:`check` first.  C_Finalize followed by C_Initialize re-runs the
power-on self-tests and clears it (:func:`reset`); nothing else does, so
nothing can fall back to a weaker path.  Sits below every layer: it imports
only the error types.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from craton_hsm import forksafe
from craton_hsm._generated_ck import CKR
from craton_hsm.errors import CKRError

_log = logging.getLogger("craton_hsm")


@dataclass(frozen=True)
class Failure:
    test: str      # the self-test's name, e.g. "kat-aes-gcm"
    detail: str    # what went wrong; never key bytes


_lock = forksafe.lock()
# The failure, while latched: empty or one element.  A list, not a
# rebound global, so the entry points (abi/exports.py) test it in place
# (``if HELD:``) without a call (issue 9).  Read-only outside this
# module.
HELD: list[Failure] = []
# Told of every failure (the audit trail records it); registered by
# modules above this one, so the latch never imports them.
_listeners: list[Callable[[Failure], None]] = []


def listen(listener: Callable[[Failure], None]) -> None:
    _listeners.append(listener)


class ModuleErrorState(CKRError):
    """CKR_GENERAL_ERROR: the module is latched in its error state."""

    rv = int(CKR.GENERAL_ERROR)


def latch(test: str, detail: str) -> ModuleErrorState:
    """Enter the error state; returns the exception for the caller to
    raise.  The first failure wins: later ones are logged, not stored."""
    failure = Failure(test, detail)
    with _lock:
        if not HELD:
            HELD.append(failure)
    for listener in _listeners:
        # A listener must never stop the latch from being raised.
        with contextlib.suppress(Exception):
            listener(failure)
    _log.critical("self-test %s failed: %s; the module is in its error "
                  "state until C_Finalize and C_Initialize", test, detail)
    return ModuleErrorState(f"module error state: self-test {test} "
                            f"failed ({detail})")


def check() -> None:
    """Raise CKR_GENERAL_ERROR when latched (cheap when not)."""
    if not HELD:
        return
    for failure in HELD[:1]:     # [:1]: a concurrent reset() may empty it
        raise ModuleErrorState(f"module error state: self-test "
                               f"{failure.test} failed ({failure.detail})")


def failure() -> Failure | None:
    return next(iter(HELD[:1]), None)


def reset() -> None:
    """Only the power-on self-tests, after passing, call this."""
    with _lock:
        HELD.clear()
