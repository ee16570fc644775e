"""Encryption, decryption, digest, signing and verification functions
(PKCS#11 v3.0 sections 5.8-5.13, 5.14 for the dual-function calls).

``init`` is shared by every keyed operation; the output-buffer protocol
is ``core.session.deliver``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from craton_hsm._generated_ck import CKA, CKK, CKO
from craton_hsm.core import approved, lifecycle
from craton_hsm.core.objects import Obj
from craton_hsm.core.session import (
    WRITTEN,
    OpKind,
    OpState,
    Out,
    Session,
    deliver,
    ending_on_error,
)
from craton_hsm.dispatch.common import key as key_of
from craton_hsm.dispatch.common import session
from craton_hsm.errors import (
    CKRError,
    KeyFunctionNotPermitted,
    KeyIndigestible,
    KeyTypeInconsistent,
    MechanismInvalid,
    OperationActive,
)
from craton_hsm.mechanisms.registry import Op

# The capability attribute a key must carry for each operation (spec 4.7).
CAPABILITY = {
    OpKind.ENCRYPT: CKA.ENCRYPT, OpKind.DECRYPT: CKA.DECRYPT,
    OpKind.SIGN: CKA.SIGN, OpKind.VERIFY: CKA.VERIFY,
    OpKind.SIGN_RECOVER: CKA.SIGN_RECOVER,
    OpKind.VERIFY_RECOVER: CKA.VERIFY_RECOVER,
}
MECH_OP = {
    OpKind.DIGEST: Op.DIGEST, OpKind.ENCRYPT: Op.ENCRYPT,
    OpKind.DECRYPT: Op.DECRYPT, OpKind.SIGN: Op.SIGN,
    OpKind.VERIFY: Op.VERIFY, OpKind.SIGN_RECOVER: Op.SIGN_RECOVER,
    OpKind.VERIFY_RECOVER: Op.VERIFY_RECOVER,
}
ASYMMETRIC = frozenset({CKK.RSA, CKK.EC, CKK.EC_EDWARDS,
                        CKK.EC_MONTGOMERY, CKK.ML_DSA, CKK.ML_KEM})
# Operations done with the private half of an asymmetric pair.
PRIVATE_OPS = frozenset({OpKind.SIGN, OpKind.DECRYPT, OpKind.SIGN_RECOVER})


# Plain ints for the per-*Init checks: an IntEnum member read is a
# class-attribute look-up through the enum machinery (issue 9).
_KEY_TYPE = int(CKA.KEY_TYPE)
_CLASS = int(CKA.CLASS)
_ALLOWED = int(CKA.ALLOWED_MECHANISMS)
_SECRET_KEY = int(CKO.SECRET_KEY)
_PRIVATE_KEY = int(CKO.PRIVATE_KEY)
_PUBLIC_KEY = int(CKO.PUBLIC_KEY)
_ASYMMETRIC = frozenset(int(t) for t in ASYMMETRIC)
_PRIVATE_OPS = frozenset(PRIVATE_OPS)
_CAPABILITY = {kind: int(cap) for kind, cap in CAPABILITY.items()}


def expected_class(kind: OpKind, key_type: int) -> int:
    if key_type not in _ASYMMETRIC:
        return _SECRET_KEY
    return _PRIVATE_KEY if kind in _PRIVATE_OPS else _PUBLIC_KEY


def check_key(kind: OpKind | None, capability: int | None, mechanism: int,
              key_types: frozenset[int], obj: Obj,
              expect_class: int | None = None) -> None:
    """Key checks shared by every keyed *Init (spec 5.8 ff.)."""
    attrs = obj.attrs
    key_type = attrs.get(_KEY_TYPE)
    if key_type is None or key_type not in key_types:
        raise KeyTypeInconsistent(
            f"key type {key_type} not usable with 0x{mechanism:x}")
    want = expect_class if expect_class is not None else \
        expected_class(kind or OpKind.SIGN, key_type)
    if attrs.get(_CLASS) != want:
        raise KeyTypeInconsistent("wrong key class for this operation")
    if capability is not None:
        if not attrs.get(capability, False):
            raise KeyFunctionNotPermitted(
                f"key lacks attribute 0x{capability:x}")
        lifecycle.check_use(capability, attrs)
        approved.check_use(capability, attrs)
    allowed = attrs.get(_ALLOWED)
    if allowed and mechanism not in allowed:
        raise MechanismInvalid("mechanism not in CKA_ALLOWED_MECHANISMS")


def init(h: int, kind: OpKind, mechanism: int, params: Any,
         key_handle: int | None) -> None:
    s = session(h)
    if kind in s.ops:
        raise OperationActive(f"{kind.value} operation already active")
    what = MECH_OP[kind]
    spec = approved.mechanism(mechanism, what, params)
    factory = spec.factory(what)
    obj: Obj | None = None
    if key_handle is not None:
        obj = key_of(s, key_handle)
        check_key(kind, _CAPABILITY[kind], mechanism, spec.key_types, obj)
    s.begin(kind, OpState(factory(obj, params), mechanism,
                          key_handle or 0))


def abort(h: int, kind: OpKind) -> None:
    """End the active ``kind`` operation after the ABI refused an argument
    of the call; an invalid session has no operation to end."""
    try:
        s = session(h)
    except CKRError:
        return
    s.end(kind)


def _one_shot(s: Session, kind: OpKind) -> OpState:
    st = s.get(kind)
    if st.multipart:
        s.end(kind)
        raise OperationActive("multi-part operation in progress")
    return st


def _single(s: Session, kind: OpKind, cap: int | None,
            run: Callable[[Any], bytes], data: Any) -> Out:
    """A single-part call whose output length is exact (C_Digest,
    C_Sign): when the caller's buffer fits and no result is held, the
    work runs here without ``deliver``'s general protocol (issue 9);
    otherwise ``deliver`` answers, with the same spec 5.2 rules."""
    st = _one_shot(s, kind)
    size = st.op.size
    if st.pending is not None or cap is None or cap < size:
        return deliver(s, kind, cap, size, lambda: run(data), exact=True,
                       finishes=True)
    out: bytes = ending_on_error(s, kind, run, data)
    if cap < len(out):      # never for an exact size; kept like deliver
        st.pending = out
        st.pending_finishes = True
        return len(out), None
    s.ops.pop(kind, None)
    return len(out), out


# -- digest ------------------------------------------------------------------

def digest(h: int, data: Any, cap: int | None) -> Out:
    s = session(h)
    return _single(s, OpKind.DIGEST, cap, s.get(OpKind.DIGEST).op.digest,
                   data)


def digest_update(h: int, data: bytes) -> None:
    s = session(h)
    with s.active(OpKind.DIGEST) as st:
        st.feed(len(data))
        st.op.update(data)


def digest_key(h: int, key_handle: int) -> None:
    s = session(h)
    with s.active(OpKind.DIGEST) as st:
        obj = key_of(s, key_handle)
        if obj.attrs.get(CKA.CLASS) != CKO.SECRET_KEY:
            raise KeyIndigestible("only secret keys can be digested")
        st.multipart = True
        st.op.update_key(bytes(obj.attrs[CKA.VALUE]))


def digest_final(h: int, cap: int | None) -> Out:
    s = session(h)
    st = s.get(OpKind.DIGEST)
    return deliver(s, OpKind.DIGEST, cap, st.op.size, st.op.final,
                   exact=True, finishes=True)


# -- sign / verify -----------------------------------------------------------

def sign(h: int, data: Any, cap: int | None,
         kind: OpKind = OpKind.SIGN) -> Out:
    s = session(h)
    return _single(s, kind, cap, s.get(kind).op.sign, data)


def update(h: int, kind: OpKind, data: bytes) -> None:
    """C_SignUpdate / C_VerifyUpdate."""
    s = session(h)
    with s.active(kind) as st:
        st.feed(len(data))
        st.op.update(data)


def sign_final(h: int, cap: int | None) -> Out:
    s = session(h)
    st = s.get(OpKind.SIGN)
    return deliver(s, OpKind.SIGN, cap, st.op.size, st.op.final,
                   exact=True, finishes=True)


def verify(h: int, data: Any, signature: bytes) -> None:
    s = session(h)
    st = _one_shot(s, OpKind.VERIFY)
    # The operation ends either way (spec 5.13: C_Verify always
    # terminates it); no context manager on this per-call path.
    try:
        st.op.verify(data, signature)
    finally:
        s.ops.pop(OpKind.VERIFY, None)


def verify_final(h: int, signature: bytes) -> None:
    s = session(h)
    with s.active(OpKind.VERIFY) as st:
        st.op.final(signature)
    s.end(OpKind.VERIFY)


def verify_recover(h: int, signature: bytes, cap: int | None) -> Out:
    s = session(h)
    st = _one_shot(s, OpKind.VERIFY_RECOVER)
    return deliver(s, OpKind.VERIFY_RECOVER, cap,
                   st.op.one_shot_size(len(signature)),
                   lambda: st.op.one_shot(signature), exact=False,
                   finishes=True)


# -- encrypt / decrypt -------------------------------------------------------

def crypt(h: int, kind: OpKind, data: Any, cap: int | None,
          dest: Any = None) -> Out:
    """C_Encrypt / C_Decrypt (single part).  ``data`` may be a view of
    the caller's buffer and ``dest`` one of its output buffer: an op
    with ``one_shot_into`` writes there directly when the result surely
    fits (the buffers may be the same: PKCS#11 allows in-place
    encryption)."""
    s = session(h)
    st = _one_shot(s, kind)
    op = st.op
    size = op.one_shot_size(len(data))
    into = getattr(op, "one_shot_into", None)
    if into is not None and dest is not None and st.pending is None \
            and cap is not None and cap >= size:
        # The common case straight, without deliver's closures (its
        # ``into`` branch, inlined): the upper bound fits, so no retry.
        n: int = ending_on_error(s, kind, into, data, dest)
        s.ops.pop(kind, None)
        return n, WRITTEN
    return deliver(s, kind, cap, size, lambda: op.one_shot(data),
                   exact=False, finishes=True)


def crypt_update(h: int, kind: OpKind, data: Any, cap: int | None,
                 dest: Any = None) -> Out:
    s = session(h)
    st = s.get(kind)
    st.multipart = True
    op = st.op

    def make() -> bytes:
        # Counted when consumed: a length query or a too-small buffer
        # does not feed the operation.
        st.feed(len(data))
        out: bytes = op.update(data)
        return out

    def write(out: Any) -> int:
        st.feed(len(data))
        n: int = op.update_into(data, out)
        return n
    return deliver(s, kind, cap, op.update_size(len(data)), make,
                   exact=True, finishes=False,
                   into=write if hasattr(op, "update_into") else None,
                   dest=dest)


def crypt_final(h: int, kind: OpKind, cap: int | None) -> Out:
    s = session(h)
    st = s.get(kind)
    return deliver(s, kind, cap, st.op.final_size(), st.op.final,
                   exact=False, finishes=True)


# -- dual-function operations (spec 5.14) -----------------------------------

def dual_update(h: int, first: OpKind, second: OpKind, data: Any,
                cap: int | None) -> Out:
    """C_DigestEncryptUpdate, C_SignEncryptUpdate (data feeds both) and
    C_DecryptDigestUpdate, C_DecryptVerifyUpdate (the plaintext feeds
    the second).  The partner operation is fed only when output was
    really delivered, so a length query or CKR_BUFFER_TOO_SMALL retry
    never feeds it twice."""
    s = session(h)
    crypt_kind = second if first in (OpKind.DIGEST, OpKind.SIGN) else first
    partner = first if crypt_kind is second else second
    s.get(partner)
    out = crypt_update(h, crypt_kind, data, cap)
    n, value = out
    if isinstance(value, bytes):
        fed = data if crypt_kind is OpKind.ENCRYPT else value
        with s.active(partner) as st:
            st.feed(len(fed))
            st.op.update(fed)
    return n, value
