"""Look-ups shared by the dispatch modules: session, object, key."""

from __future__ import annotations

from craton_hsm._generated_ck import CKA, CKU
from craton_hsm.core import hsm as hsm_mod
from craton_hsm.core.objects import HandleTable, Obj
from craton_hsm.core.session import Session
from craton_hsm.errors import (
    CKRError,
    DeviceError,
    KeyHandleInvalid,
    ObjectHandleInvalid,
    SessionReadOnly,
    UserNotLoggedIn,
)

_open_session = hsm_mod.SESSIONS.get


def session(h: int) -> Session:
    """The session for a handle (CKR_CRYPTOKI_NOT_INITIALIZED first: no
    session is open while the module is not initialised, so a miss
    takes the slow path, which names the right code)."""
    s = _open_session(h)
    if s is None:
        return hsm_mod.current().session(h)
    return s


def visible(s: Session, obj: Obj) -> bool:
    """Spec 2.4/4.4: token objects of this slot and this application's
    session objects; private objects only while the user is logged in."""
    if obj.slot_id != s.slot_id:
        return False
    return not (obj.is_private and s.token.login_role != CKU.USER)


def lookup(s: Session, h: int,
           error: type[CKRError] = ObjectHandleInvalid,
           damaged_ok: bool = False) -> Obj:
    """The visible object ``h``; a damaged stored record is
    CKR_DEVICE_ERROR (only C_DestroyObject may take it, to clean up)."""
    # The module's handle table, reached from the session (every token
    # shares it) rather than through hsm.current() again.
    handles: HandleTable = s.token.handles
    obj = handles.get(h)
    if obj is not None and obj.is_token:
        s.token.sync()      # another process may have changed it
        obj = handles.get(h)
    if obj is None or not visible(s, obj):
        raise error(f"no object {h}")
    if obj.damage is not None and not damaged_ok:
        raise DeviceError(obj.damage)
    return obj


def key(s: Session, h: int) -> Obj:
    """An object used as a key, its secrets opened for use."""
    obj = lookup(s, h, KeyHandleInvalid)
    open_secrets(s, obj)
    return obj


def open_secrets(s: Session, obj: Obj) -> None:
    if obj.is_token and obj.sealed is not None:
        st = s.token.require_initialized()
        obj.open_secrets(s.token.mk, st.serial)


def require_write(s: Session, is_token: bool) -> None:
    """Token objects change only in R/W sessions (spec 5.7)."""
    if is_token and not s.rw:
        raise SessionReadOnly("token objects need a R/W session")


def require_private_ok(s: Session, attrs: dict[int, object]) -> None:
    """Private objects are created only by a logged-in user."""
    if attrs.get(CKA.PRIVATE) and s.token.login_role != CKU.USER:
        raise UserNotLoggedIn("private objects need a user login")


def require_user(s: Session) -> None:
    if s.token.login_role != CKU.USER:
        raise UserNotLoggedIn("this function needs a user login")
