"""Object management functions (PKCS#11 v3.0 section 5.7)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from craton_hsm._generated_ck import CKA, CKO, CKR, CKU
from craton_hsm.core import approved, attributes, profiles, templates
from craton_hsm.core import hsm as hsm_mod
from craton_hsm.core.objects import Obj, matches
from craton_hsm.core.session import OpKind, OpState, Session
from craton_hsm.dispatch.common import (
    lookup,
    open_secrets,
    require_private_ok,
    require_write,
    session,
    visible,
)
from craton_hsm.drbg import random_bytes
from craton_hsm.errors import ActionProhibited, CKRError, OperationActive
from craton_hsm.selftest import pct

Pairs = Iterable[tuple[int, attributes.RawValue]]


def store_new(s: Session, attrs: dict[int, Any]) -> int:
    """Give a validated attribute set a uid and a handle and keep it."""
    approved.check_new_key(attrs)
    is_token = bool(attrs.get(CKA.TOKEN, False))
    require_write(s, is_token)
    require_private_ok(s, attrs)
    hsm = hsm_mod.current()
    uid = random_bytes(16).hex()
    attrs[CKA.UNIQUE_ID] = uid.encode()
    obj = Obj(hsm.handles.new_handle(), uid, attrs, s.slot_id,
              session=None if is_token else s.handle)
    secret = templates.secret_types(attrs)
    # Key material into the object's own arena slices (secmem.py).
    obj.keep_secrets(secret)
    if is_token:
        try:
            with s.token.lock:
                s.token.save_object(obj, secret)
        except BaseException:
            obj.release()
            raise
    hsm.handles.add(obj)
    return obj.handle


def create(h: int, pairs: Pairs) -> int:
    s = session(h)
    tmpl = attributes.parse_template(pairs)
    attrs = templates.build_object(templates.Op.CREATE, tmpl,
                                   so=s.token.login_role == CKU.SO)
    if attrs.get(CKA.CLASS) == CKO.PRIVATE_KEY:
        pct.imported(attrs)     # ISO/IEC 19790 7.10.3.3, on import
    return store_new(s, attrs)


def copy(h: int, src: int, pairs: Pairs) -> int:
    s = session(h)
    obj = lookup(s, src)
    open_secrets(s, obj)
    changes = attributes.parse_template(pairs)
    if not obj.attrs.get(CKA.COPYABLE, True):
        raise ActionProhibited("object is not copyable")
    templates.check_modify(obj.attrs, changes, copy=True,
                           so=s.token.login_role == CKU.SO)
    attrs = dict(obj.attrs)
    attrs.pop(CKA.UNIQUE_ID, None)
    attrs.update(changes)
    return store_new(s, attrs)


def destroy(h: int, oh: int) -> None:
    s = session(h)
    obj = lookup(s, oh, damaged_ok=True)
    require_write(s, obj.is_token)
    if not obj.attrs.get(CKA.DESTROYABLE, True):
        raise ActionProhibited("object is not destroyable")
    hsm = hsm_mod.current()
    if obj.is_token:
        with s.token.lock:
            s.token.delete_object(obj)
    hsm.handles.remove(obj.handle)
    obj.close_secrets()
    obj.release()


def size(h: int, oh: int) -> int:
    s = session(h)
    obj = lookup(s, oh)
    _open_quietly(s, obj)
    return templates.object_size(obj.attrs)


def _open_quietly(s: Session, obj: Obj) -> None:
    """Open a token object's sealed secrets if a login allows it, as
    login used to do for every object (they now open on first use,
    issue 9): the size and find answers stay what they were.  A record
    that fails to open is logged by Obj.open_secrets and left sealed;
    using it as a key reports the error."""
    if obj.is_token and obj.sealed is not None and not obj.secret_types \
            and s.token.mk is not None:
        with contextlib.suppress(CKRError):
            open_secrets(s, obj)


# One result per requested attribute: (raw value or None, CKR of it).
AttrResult = tuple[attributes.RawValue | None, int]


def get_attribute_values(h: int, oh: int,
                         types: list[int]) -> list[AttrResult]:
    s = session(h)
    obj = lookup(s, oh)
    out: list[AttrResult] = []
    for t in types:
        if t not in obj.attrs and t not in obj.secret_types and \
                not (obj.sealed is not None and
                     templates.is_secret_attr(obj.attrs, t)):
            out.append((None, CKR.ATTRIBUTE_TYPE_INVALID))
            continue
        if templates.is_sensitive(obj.attrs, t):
            out.append((None, CKR.ATTRIBUTE_SENSITIVE))
            continue
        if t not in obj.attrs:
            open_secrets(s, obj)
        try:
            out.append((attributes.encode(t, obj.attrs[t]), CKR.OK))
        except (KeyError, CKRError):
            out.append((None, CKR.ATTRIBUTE_TYPE_INVALID))
    return out


def set_attribute_values(h: int, oh: int, pairs: Pairs) -> None:
    s = session(h)
    obj = lookup(s, oh)
    require_write(s, obj.is_token)
    changes = attributes.parse_template(pairs)
    if not obj.attrs.get(CKA.MODIFIABLE, True):
        raise ActionProhibited("object is not modifiable")
    templates.check_modify(obj.attrs, changes,
                           so=s.token.login_role == CKU.SO)
    if obj.is_token:
        open_secrets(s, obj)
        new = Obj(obj.handle, obj.uid, {**obj.attrs, **changes},
                  obj.slot_id)
        secret = templates.secret_types(new.attrs)
        new.keep_secrets(secret)
        with s.token.lock:
            s.token.save_object(new, secret)
        hsm_mod.current().handles.add(new)
        obj.release()
    else:
        # Re-indexed: CKA_LABEL or CKA_ID may change.
        hsm_mod.current().handles.update(obj, changes)
        obj.changed()


def find_init(h: int, pairs: Pairs) -> None:
    s = session(h)
    tmpl = attributes.parse_template(pairs)
    if OpKind.FIND in s.ops:
        raise OperationActive("a find is already active")
    s.token.sync()
    hsm = hsm_mod.current()
    profiles.ensure(hsm.handles, s.slot_id)
    # Like hardware feature objects (v3.0 4.3.1), profile objects are
    # found only by a template that names their class: an application
    # enumerating "all objects" and reading CKA_LABEL (python-pkcs11's
    # get_objects()) would otherwise meet an object without one.
    hidden = () if tmpl.get(CKA.CLASS) == CKO.PROFILE else (CKO.PROFILE,)
    found = [o.handle for o in hsm.handles.candidates(tmpl)
             if visible(s, o) and (o.is_token or _session_alive(hsm, o))
             and o.attrs.get(CKA.CLASS) not in hidden
             and _match(s, o, tmpl)]
    found.sort()
    s.begin(OpKind.FIND, OpState(op=found, mechanism=0))


def _match(s: Session, obj: Obj, tmpl: dict[int, Any]) -> bool:
    if matches(obj, tmpl):
        return True
    # A template naming an attribute the object keeps sealed: open it
    # (only then, so a find by label opens nothing) and match again.
    if obj.sealed is not None and not obj.secret_types and \
            any(t not in obj.attrs for t in tmpl):
        _open_quietly(s, obj)
        return bool(obj.secret_types) and matches(obj, tmpl)
    return False


def _session_alive(hsm: hsm_mod.Hsm, obj: Obj) -> bool:
    return obj.session in hsm.sessions


def find(h: int, max_count: int) -> list[int]:
    s = session(h)
    st = s.get(OpKind.FIND)
    found: list[int] = st.op
    batch, st.op = found[:max_count], found[max_count:]
    return batch


def find_final(h: int) -> None:
    s = session(h)
    s.get(OpKind.FIND)
    s.end(OpKind.FIND)

