"""C entry points: general, slot, token, session and login functions
(PKCS#11 v3.0 sections 5.4-5.6).  Each is a thin shell: read cdata,
call dispatch, write cdata.  ``export`` guards every one (STYLE R1)."""

from __future__ import annotations

from typing import Any

from _craton_hsm_abi import ffi

from craton_hsm._generated_ck import CKR
from craton_hsm.abi import (  # noqa: F401
    entry_crypto,
    entry_events,
    entry_kem,
    entry_message,
    entry_object,
    profiling,
)
from craton_hsm.abi import marshal as m
from craton_hsm.abi.exports import export
from craton_hsm.abi.mutex import CallbackMutexes
from craton_hsm.dispatch import general, session
from craton_hsm.errors import ArgumentsBad

OK = int(CKR.OK)
NULL = ffi.NULL
_DESCRIPTION = b"Craton HSM software token"


@export("C_Initialize")
def c_initialize(p_args: Any) -> int:
    flags, reserved, mutexes = 0, False, None
    if p_args != NULL:
        args = ffi.cast("CK_C_INITIALIZE_ARGS *", p_args)
        fns = [args.CreateMutex, args.DestroyMutex, args.LockMutex,
               args.UnlockMutex]
        given = sum(1 for f in fns if f != NULL)
        if given not in (0, 4):
            # Spec 5.4: all four or none.
            raise ArgumentsBad("some but not all mutex functions given")
        flags = int(args.flags)
        reserved = args.pReserved != NULL
        if given == 4:
            mutexes = CallbackMutexes(args)
    general.initialize(flags, mutexes, reserved)
    return OK


@export("C_Finalize")
def c_finalize(p_reserved: Any) -> int:
    if p_reserved != NULL:
        raise ArgumentsBad("pReserved must be NULL")
    general.finalize()
    profiling.dump()
    return OK


@export("C_GetInfo")
def c_get_info(p_info: Any) -> int:
    general.require_initialized()
    if p_info == NULL:
        raise ArgumentsBad("NULL CK_INFO")
    p_info.cryptokiVersion.major, p_info.cryptokiVersion.minor = 3, 0
    m.fixed(p_info.manufacturerID, general.MANUFACTURER)
    p_info.flags = 0
    m.fixed(p_info.libraryDescription, _DESCRIPTION)
    p_info.libraryVersion.major, p_info.libraryVersion.minor = \
        general.VERSION
    return OK


@export("C_GetSlotList")
def c_get_slot_list(token_present: int, p_list: Any, p_count: Any) -> int:
    return m.write_ulongs(p_list, p_count,
                          general.slot_list(bool(token_present)))


@export("C_GetSlotInfo")
def c_get_slot_info(slot_id: int, p_info: Any) -> int:
    desc, flags = general.slot_description(int(slot_id))
    if p_info == NULL:
        raise ArgumentsBad("NULL CK_SLOT_INFO")
    m.fixed(p_info.slotDescription, desc)
    m.fixed(p_info.manufacturerID, general.MANUFACTURER)
    p_info.flags = flags
    _versions(p_info)
    return OK


def _versions(p: Any) -> None:
    p.hardwareVersion.major, p.hardwareVersion.minor = general.VERSION
    p.firmwareVersion.major, p.firmwareVersion.minor = general.VERSION


@export("C_GetTokenInfo")
def c_get_token_info(slot_id: int, p_info: Any) -> int:
    info = general.token_info(int(slot_id))
    if p_info == NULL:
        raise ArgumentsBad("NULL CK_TOKEN_INFO")
    m.fixed(p_info.label, info.label)
    m.fixed(p_info.manufacturerID, general.MANUFACTURER)
    m.fixed(p_info.model, b"Craton HSM")
    m.fixed(p_info.serialNumber, info.serial)
    p_info.flags = info.flags
    p_info.ulMaxSessionCount = info.max_sessions
    p_info.ulSessionCount = info.sessions
    p_info.ulMaxRwSessionCount = info.max_sessions
    p_info.ulRwSessionCount = info.rw_sessions
    p_info.ulMaxPinLen = info.max_pin
    p_info.ulMinPinLen = info.min_pin
    for name in ("ulTotalPublicMemory", "ulFreePublicMemory",
                 "ulTotalPrivateMemory", "ulFreePrivateMemory"):
        setattr(p_info, name, m.UNAVAILABLE)
    _versions(p_info)
    m.fixed(p_info.utcTime, info.utc_time)
    return OK


@export("C_GetMechanismList")
def c_get_mechanism_list(slot_id: int, p_list: Any, p_count: Any) -> int:
    return m.write_ulongs(p_list, p_count,
                          general.mechanism_list(int(slot_id)))


@export("C_GetMechanismInfo")
def c_get_mechanism_info(slot_id: int, mech: int, p_info: Any) -> int:
    lo, hi, flags = general.mechanism_info(int(slot_id), int(mech))
    if p_info == NULL:
        raise ArgumentsBad("NULL CK_MECHANISM_INFO")
    p_info.ulMinKeySize, p_info.ulMaxKeySize, p_info.flags = lo, hi, flags
    return OK


@export("C_InitToken")
def c_init_token(slot_id: int, p_pin: Any, n: int, p_label: Any) -> int:
    general.require_initialized()
    if p_label == NULL:
        raise ArgumentsBad("NULL label")
    # Spec: 32 blank-padded bytes.  Some clients (PyKCS11) pass a shorter
    # NUL-terminated string; stop at a NUL rather than read past it.
    label = ffi.string(ffi.cast("char *", p_label), 32)
    session.init_token(int(slot_id), m.pin(p_pin, int(n)), label)
    return OK


@export("C_InitPIN")
def c_init_pin(h: int, p_pin: Any, n: int) -> int:
    session.init_pin(int(h), m.pin(p_pin, int(n)))
    return OK


@export("C_SetPIN")
def c_set_pin(h: int, p_old: Any, n_old: int, p_new: Any,
              n_new: int) -> int:
    session.set_pin(int(h), m.pin(p_old, int(n_old)),
                    m.pin(p_new, int(n_new)))
    return OK


@export("C_OpenSession")
def c_open_session(slot_id: int, flags: int, p_app: Any, notify: Any,
                   p_session: Any) -> int:
    general.require_initialized()
    if p_session == NULL:
        raise ArgumentsBad("NULL session handle pointer")
    p_session[0] = session.open_session(int(slot_id), int(flags))
    return OK


@export("C_CloseSession")
def c_close_session(h: int) -> int:
    session.close_session(int(h))
    return OK


@export("C_CloseAllSessions")
def c_close_all_sessions(slot_id: int) -> int:
    session.close_all(int(slot_id))
    return OK


@export("C_GetSessionInfo")
def c_get_session_info(h: int, p_info: Any) -> int:
    slot_id, state, flags = session.session_info(int(h))
    if p_info == NULL:
        raise ArgumentsBad("NULL CK_SESSION_INFO")
    p_info.slotID, p_info.state, p_info.flags = slot_id, state, flags
    p_info.ulDeviceError = 0
    return OK


@export("C_Login")
def c_login(h: int, user_type: int, p_pin: Any, n: int) -> int:
    general.require_initialized()
    session.login(int(h), int(user_type), m.pin(p_pin, int(n)))
    return OK


@export("C_LoginUser")
def c_login_user(h: int, user_type: int, p_pin: Any, n: int,
                 p_user: Any, n_user: int) -> int:
    # Spec 5.6 (3.0): tokens without user names treat this as C_Login.
    general.require_initialized()
    session.login(int(h), int(user_type), m.pin(p_pin, int(n)))
    return OK


@export("C_Logout")
def c_logout(h: int) -> int:
    session.logout(int(h))
    return OK
