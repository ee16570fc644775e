"""General purpose, slot and token information functions
(PKCS#11 v3.0 sections 5.4 and 5.5)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from craton_hsm import __version__
from craton_hsm._generated_ck import CKF
from craton_hsm.core import approved
from craton_hsm.core import hsm as hsm_mod
from craton_hsm.core.locking import MutexOps
from craton_hsm.core.token import pad
from craton_hsm.dispatch import events
from craton_hsm.errors import ArgumentsBad

MANUFACTURER = b"Craton HSM"
_INIT_FLAGS = CKF.LIBRARY_CANT_CREATE_OS_THREADS | CKF.OS_LOCKING_OK
VERSION = tuple(int(p) for p in __version__.split(".")[:2])


@dataclass(frozen=True)
class TokenInfo:
    label: bytes
    serial: bytes
    flags: int
    max_sessions: int
    sessions: int
    rw_sessions: int
    max_pin: int
    min_pin: int
    utc_time: bytes


def initialize(flags: int, mutexes: MutexOps | None,
               reserved: bool) -> None:
    """C_Initialize argument rules (spec 5.4, CK_C_INITIALIZE_ARGS)."""
    if reserved:
        raise ArgumentsBad("pReserved must be NULL")
    if flags & ~_INIT_FLAGS:
        # Undefined bits are refused, not ignored: the application would
        # otherwise rely on a behaviour we do not provide (the same rule
        # as C_GetInterface's flags).
        raise ArgumentsBad(f"unknown C_Initialize flags 0x{flags:x}")
    # CKF_LIBRARY_CANT_CREATE_OS_THREADS: accepted, the module creates no
    # threads.  Mutex callbacks without CKF_OS_LOCKING_OK must be used
    # (spec 5.4 case 3); with it either is allowed (case 4) and OS locks
    # are cheaper.
    use_app = mutexes is not None and not flags & CKF.OS_LOCKING_OK
    hsm_mod.initialize(mutexes if use_app else None)
    # Slot events are changes after this point (dispatch/events.py).
    events.baseline(hsm_mod.current())


def finalize() -> None:
    hsm_mod.finalize()


def slot_list(token_present: bool) -> list[int]:
    return hsm_mod.current().slot_ids()


def slot_description(slot_id: int) -> tuple[bytes, int]:
    hsm_mod.current().token(slot_id)
    desc = b"Craton HSM slot %d" % slot_id
    return desc, int(CKF.TOKEN_PRESENT)


def token_info(slot_id: int) -> TokenInfo:
    hsm = hsm_mod.current()
    token = hsm.token(slot_id)
    token.sync()
    sessions = [s for s in hsm.sessions.values() if s.slot_id == slot_id]
    st = token.state
    cfg = hsm.config
    return TokenInfo(
        label=st.label if st else pad(b"", 32),
        serial=pad(st.serial.encode() if st else b"", 16),
        flags=token.flags(),
        max_sessions=cfg.max_sessions,
        sessions=len(sessions),
        rw_sessions=sum(1 for s in sessions if s.rw),
        max_pin=cfg.pin_max_len,
        min_pin=cfg.pin_min_len,
        utc_time=time.strftime("%Y%m%d%H%M%S00", time.gmtime()).encode(),
    )


def mechanism_list(slot_id: int) -> list[int]:
    hsm_mod.current().token(slot_id)
    return approved.visible()


def mechanism_info(slot_id: int, mechanism: int) -> tuple[int, int, int]:
    hsm_mod.current().token(slot_id)
    return approved.info(mechanism)


def require_initialized() -> None:
    hsm_mod.current()
