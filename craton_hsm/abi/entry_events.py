"""C entry points C_SessionCancel (PKCS#11 v3.0 section 5.6) and
C_WaitForSlotEvent (section 5.5); semantics in dispatch/events.py."""

from __future__ import annotations

from typing import Any

from _craton_hsm_abi import ffi

from craton_hsm._generated_ck import CKR
from craton_hsm.abi.exports import export
from craton_hsm.dispatch import events
from craton_hsm.errors import ArgumentsBad

OK = int(CKR.OK)


@export("C_SessionCancel")
def c_session_cancel(h: int, flags: int) -> int:
    events.session_cancel(int(h), int(flags))
    return OK


@export("C_WaitForSlotEvent")
def c_wait_for_slot_event(flags: int, p_slot: Any, p_reserved: Any) -> int:
    if p_slot == ffi.NULL or p_reserved != ffi.NULL:
        raise ArgumentsBad("pSlot required, pReserved must be NULL")
    p_slot[0] = events.wait_for_slot_event(int(flags))
    return OK
