"""C_SessionCancel and C_WaitForSlotEvent (PKCS#11 v3.0 sections 5.6
and 5.5).

Slot events.  Every token here is always present, so the events are the
ones a soft token has: a slot appears (the module keeps one free
uninitialised slot, so initialising it adds a slot) or a token changes
between uninitialised and initialised, in this process or in another
one sharing the data directory.  The state of every slot is recorded at
C_Initialize; a change since the last report is an event, reported once.

A blocking wait polls every ``POLL`` seconds, holding neither the
module lock nor the GIL while it sleeps, and returns
CKR_CRYPTOKI_NOT_INITIALIZED once C_Finalize has run in another thread
(spec 5.4, C_Finalize: a C_WaitForSlotEvent blocked in another thread
returns that code).  Polling rather than a condition variable because
another process's C_InitToken signals nothing to this one: the store
must be read again either way.
"""

from __future__ import annotations

import threading
import time
import weakref

from craton_hsm._generated_ck import CKF, CKR
from craton_hsm.core import hsm as hsm_mod
from craton_hsm.core.session import OpKind
from craton_hsm.dispatch.common import session
from craton_hsm.errors import (
    ArgumentsBad,
    CKRError,
    CryptokiNotInitialized,
)

POLL = 0.05

# C_SessionCancel flag -> the operation it ends (spec 5.6.x: the flags
# are those of CK_MECHANISM_INFO plus CKF_FIND_OBJECTS).
CANCELS = {
    CKF.ENCRYPT: OpKind.ENCRYPT, CKF.DECRYPT: OpKind.DECRYPT,
    CKF.DIGEST: OpKind.DIGEST, CKF.SIGN: OpKind.SIGN,
    CKF.SIGN_RECOVER: OpKind.SIGN_RECOVER, CKF.VERIFY: OpKind.VERIFY,
    CKF.VERIFY_RECOVER: OpKind.VERIFY_RECOVER,
    CKF.MESSAGE_ENCRYPT: OpKind.MESSAGE_ENCRYPT,
    CKF.MESSAGE_DECRYPT: OpKind.MESSAGE_DECRYPT,
    CKF.MESSAGE_SIGN: OpKind.MESSAGE_SIGN,
    CKF.MESSAGE_VERIFY: OpKind.MESSAGE_VERIFY,
    CKF.FIND_OBJECTS: OpKind.FIND,
}
# Single-call functions have nothing left to cancel once they return.
_ATOMIC = (CKF.GENERATE | CKF.GENERATE_KEY_PAIR | CKF.WRAP | CKF.UNWRAP
           | CKF.DERIVE | CKF.ENCAPSULATE | CKF.DECAPSULATE)
_KNOWN = _ATOMIC
for _flag in CANCELS:
    _KNOWN |= _flag


def session_cancel(h: int, flags: int) -> None:
    s = session(h)
    if flags & ~_KNOWN:
        raise ArgumentsBad(f"unknown C_SessionCancel flags 0x{flags:x}")
    for flag, kind in CANCELS.items():
        if flags & flag:
            s.end(kind)


class _Slots:
    """What was last reported of one module instance's slots."""

    def __init__(self, states: dict[int, bool]) -> None:
        self.seen = states
        self.lock = threading.Lock()


_SEEN: weakref.WeakKeyDictionary[hsm_mod.Hsm, _Slots] = \
    weakref.WeakKeyDictionary()


def _states(hsm: hsm_mod.Hsm) -> dict[int, bool]:
    ids = hsm.slot_ids()            # re-reads every slot's store
    return {i: hsm.tokens[i].initialized for i in ids}


def baseline(hsm: hsm_mod.Hsm) -> None:
    """Record the slots at C_Initialize (events are changes after it)."""
    _SEEN[hsm] = _Slots(_states(hsm))


def _take(hsm: hsm_mod.Hsm) -> int | None:
    slots = _SEEN.get(hsm)
    if slots is None:
        slots = _SEEN.setdefault(hsm, _Slots(_states(hsm)))
    now = _states(hsm)
    with slots.lock:
        for slot_id in sorted(now):
            if slots.seen.get(slot_id) != now[slot_id]:
                slots.seen[slot_id] = now[slot_id]
                return slot_id
    return None


def wait_for_slot_event(flags: int) -> int:
    """The slot with an event; CKR_NO_EVENT under CKF_DONT_BLOCK."""
    if flags & ~CKF.DONT_BLOCK:
        raise ArgumentsBad(f"unknown C_WaitForSlotEvent flags 0x{flags:x}")
    hsm = hsm_mod.current()
    while True:
        try:
            slot_id = _take(hsm)
        except CKRError:
            _still(hsm)     # C_Finalize may have closed the stores
            raise
        if slot_id is not None:
            return slot_id
        if flags & CKF.DONT_BLOCK:
            raise CKRError(CKR.NO_EVENT, "no slot event")
        time.sleep(POLL)
        _still(hsm)


def _still(hsm: hsm_mod.Hsm) -> None:
    """CKR_CRYPTOKI_NOT_INITIALIZED once ``hsm`` is finalized (a new
    instance after C_Initialize again does not revive the wait)."""
    try:
        again = hsm_mod.current()
    except CryptokiNotInitialized:
        raise CryptokiNotInitialized(
            "C_Finalize during C_WaitForSlotEvent") from None
    if again is not hsm:
        raise CryptokiNotInitialized("module re-initialised")
