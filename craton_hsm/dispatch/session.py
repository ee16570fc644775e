"""Session and login functions, token and PIN management
(PKCS#11 v3.0 sections 5.5 and 5.6)."""

from __future__ import annotations

from craton_hsm._generated_ck import CKF, CKU
from craton_hsm.core import hsm as hsm_mod
from craton_hsm.core import throttle
from craton_hsm.core.session import Session
from craton_hsm.core.token import Token
from craton_hsm.dispatch.common import session
from craton_hsm.errors import (
    ArgumentsBad,
    OperationNotInitialized,
    SessionExists,
    SessionParallelNotSupported,
    SessionReadOnly,
    SessionReadOnlyExists,
    SessionReadWriteSoExists,
    UserAlreadyLoggedIn,
    UserAnotherAlreadyLoggedIn,
    UserNotLoggedIn,
    UserTypeInvalid,
)

# Plain ints: ``int & IntFlag`` runs IntFlag.__rand__ in Python.
_SERIAL = int(CKF.SERIAL_SESSION)
_RW = int(CKF.RW_SESSION)


def open_session(slot_id: int, flags: int) -> int:
    hsm = hsm_mod.current()
    token = hsm.token(slot_id)
    if not flags & _SERIAL:
        # Spec 5.6: legacy parallel sessions must be refused.
        raise SessionParallelNotSupported("CKF_SERIAL_SESSION not set")
    if token.state is None:
        # Only a token this process has not seen initialised can change
        # this call's answer when another process changed the file (an
        # initialised token never goes back: C_InitToken re-initialises
        # it).  Every call that reads objects or PINs syncs itself, so
        # an open need not pay a store query each time (issue 9).
        token.sync()
    token.require_initialized()
    if not flags & _RW and token.login_role == CKU.SO:
        raise SessionReadWriteSoExists("SO is logged in: R/W only")
    return hsm.open_session(slot_id, flags).handle


def close_session(h: int) -> None:
    hsm = hsm_mod.current()
    s = hsm.session(h)
    _close(hsm, s)


def close_all(slot_id: int) -> None:
    hsm = hsm_mod.current()
    hsm.token(slot_id)
    for s in hsm.slot_sessions(slot_id):
        _close(hsm, s)


def _close(hsm: hsm_mod.Hsm, s: Session) -> None:
    with hsm.lock:
        last = hsm.drop_session(s)
        if last is None:
            return
        s.ops.clear()
        # Session objects live and die with their session (spec 4.4).
        handles = hsm.handles
        for obj in handles.of_session(s.handle):
            handles.remove(obj.handle)
            obj.release()
        # Closing the last session logs the application out (spec 5.6).
        if last:
            s.token.logout()


def session_info(h: int) -> tuple[int, int, int]:
    s = session(h)
    return s.slot_id, s.state, s.flags


def login(h: int, user_type: int, pin: bytes) -> None:
    hsm = hsm_mod.current()
    s = hsm.session(h)
    token = s.token
    token.sync()
    # Backoff after wrong PINs, slept before the token lock is taken
    # (core/throttle.py); the role a context-specific login checks is
    # the one logged in.
    role = token.login_role if user_type == CKU.CONTEXT_SPECIFIC \
        else user_type
    if role in (CKU.SO, CKU.USER):
        throttle.wait(token.config, token.state, role)
    with token.lock:
        token.sync()
        if user_type == CKU.CONTEXT_SPECIFIC:
            # Re-authentication for CKA_ALWAYS_AUTHENTICATE keys (5.6).
            if token.login_role is None:
                raise UserNotLoggedIn("context-specific login needs a login")
            if not s.ops:
                raise OperationNotInitialized("no operation to authorise")
            token.verify(token.login_role, pin)
            return
        if user_type not in (CKU.SO, CKU.USER):
            raise UserTypeInvalid(f"user type {user_type}")
        if token.login_role == user_type:
            raise UserAlreadyLoggedIn("already logged in")
        if token.login_role is not None:
            raise UserAnotherAlreadyLoggedIn("another user is logged in")
        if user_type == CKU.SO and any(
                not x.rw for x in hsm.slot_sessions(s.slot_id)):
            raise SessionReadOnlyExists("R/O sessions exist")
        token.login(user_type, pin)


def logout(h: int) -> None:
    hsm = hsm_mod.current()
    s = hsm.session(h)
    token = s.token
    with token.lock:
        if token.login_role is None:
            raise UserNotLoggedIn("not logged in")
        was_user = token.login_role == CKU.USER
        for x in hsm.slot_sessions(s.slot_id):
            x.ops.clear()
        if was_user:
            # Private session objects are destroyed at logout (5.6).
            for obj in hsm.handles.values():
                if obj.session is not None and obj.slot_id == s.slot_id \
                        and obj.is_private:
                    hsm.handles.remove(obj.handle)
        token.logout()


def init_token(slot_id: int, so_pin: bytes, label: bytes) -> None:
    hsm = hsm_mod.current()
    token: Token = hsm.token(slot_id)
    with token.lock:
        if any(True for _ in hsm.slot_sessions(slot_id)):
            raise SessionExists("close all sessions of the slot first")
        token.sync()
        token.init_token(so_pin, label)
    hsm.slot_ids()


def init_pin(h: int, pin: bytes) -> None:
    s = session(h)
    if s.token.login_role != CKU.SO:
        raise UserNotLoggedIn("C_InitPIN needs the SO")
    if not s.rw:
        raise SessionReadOnly("C_InitPIN needs a R/W session")
    with s.token.lock:
        s.token.set_user_pin(pin)


def set_pin(h: int, old: bytes, new: bytes) -> None:
    s = session(h)
    if not s.rw:
        raise SessionReadOnly("C_SetPIN needs a R/W session")
    role = CKU.SO if s.token.login_role == CKU.SO else CKU.USER
    with s.token.lock:
        s.token.sync()
        s.token.change_pin(role, old, new)


def check_pin_arg(pin: bytes | None) -> bytes:
    if pin is None:
        raise ArgumentsBad("PIN pointer is NULL")
    return pin
