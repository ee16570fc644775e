"""Message-based encryption, decryption, signing and verification
(PKCS#11 v3.0 sections 5.11-5.15).

C_Message*Init starts an operation that lasts until C_Message*Final;
in between, any number of messages, each either whole (C_EncryptMessage)
or in parts (C_EncryptMessageBegin, then C_EncryptMessageNext until
CKF_END_OF_MESSAGE).  A failed message ends that message only, never
the message-based operation: the operation is the key's context, each
message is independent (spec 5.11: only C_MessageEncryptFinal finishes
it).  A length query or CKR_BUFFER_TOO_SMALL consumes nothing and
generates no IV.

The multi-part paths buffer the message and run the AEAD at its end:
decryption must release no plaintext before the tag verifies (SP
800-38D 7.2) and OpenSSL's CCM cannot stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from craton_hsm._generated_ck import CKA, CKG, CKM, CKR
from craton_hsm.core import approved
from craton_hsm.core.session import OpKind, OpState, Out, Session
from craton_hsm.dispatch.common import key as key_of
from craton_hsm.dispatch.common import session
from craton_hsm.dispatch.crypto import check_key
from craton_hsm.errors import (
    CKRError,
    MechanismParamInvalid,
    OperationActive,
    OperationNotInitialized,
)
from craton_hsm.mechanisms import message
from craton_hsm.mechanisms.params import AeadMessageParams
from craton_hsm.mechanisms.registry import REGISTRY, Op, ParamKind

K = OpKind
MECH_OP = {K.MESSAGE_ENCRYPT: Op.MESSAGE_ENCRYPT,
           K.MESSAGE_DECRYPT: Op.MESSAGE_DECRYPT,
           K.MESSAGE_SIGN: Op.MESSAGE_SIGN,
           K.MESSAGE_VERIFY: Op.MESSAGE_VERIFY}
# The key checks are those of the single-message operation (spec 5.11).
PLAIN = {K.MESSAGE_ENCRYPT: K.ENCRYPT, K.MESSAGE_DECRYPT: K.DECRYPT,
         K.MESSAGE_SIGN: K.SIGN, K.MESSAGE_VERIFY: K.VERIFY}
CAPABILITY = {K.MESSAGE_ENCRYPT: CKA.ENCRYPT,
              K.MESSAGE_DECRYPT: CKA.DECRYPT,
              K.MESSAGE_SIGN: CKA.SIGN, K.MESSAGE_VERIFY: CKA.VERIFY}
PART = "part"


def init(h: int, kind: OpKind, mechanism: int, params: Any,
         key_handle: int) -> None:
    s = session(h)
    if kind in s.ops:
        raise OperationActive(f"{kind.value} operation already active")
    op_name = MECH_OP[kind]
    spec = approved.mechanism(mechanism, op_name, params)
    factory = spec.factory(op_name)
    obj = key_of(s, key_handle)
    check_key(PLAIN[kind], CAPABILITY[kind], mechanism, spec.key_types,
              obj)
    op = factory(obj, params)
    s.begin(kind, OpState(op=op, mechanism=mechanism, key_handle=key_handle,
                          extra={"new": lambda: factory(obj, params)}))


def param_kind(h: int, kind: OpKind) -> ParamKind:
    """Which structure the per-message pParameter of ``kind`` is
    (session and operation checked first)."""
    return REGISTRY[session(h).get(kind).mechanism].message_params


def final(h: int, kind: OpKind) -> None:
    """C_Message*Final: ends the operation, a message in progress too."""
    s = session(h)
    s.get(kind)
    s.end(kind)


def _whole(st: OpState) -> None:
    if PART in st.extra:
        raise OperationActive("a multi-part message is in progress")


def _part(st: OpState) -> Any:
    if PART not in st.extra:
        raise OperationNotInitialized("no message begun")
    return st.extra[PART]


@contextmanager
def _message(st: OpState) -> Iterator[None]:
    """A failed call ends the message in progress (not the operation);
    CKR_BUFFER_TOO_SMALL ends nothing (spec 5.2)."""
    try:
        yield
    except CKRError as exc:
        if exc.rv != CKR.BUFFER_TOO_SMALL:
            st.extra.pop(PART, None)
        raise


# -- encryption and decryption ---------------------------------------------

def _iv(s: Session, st: OpState, p: AeadMessageParams) -> bytes:
    """The IV of the next message, generated when the caller asked."""
    st.op.check(p)
    if approved.enabled() and st.mechanism == CKM.AES_GCM and \
            p.generator == CKG.NO_GENERATE:
        # SP 800-38D 8.2 / FIPS 140-3 IG C.H: in the approved mode the
        # module itself constructs GCM IVs for encryption.
        raise MechanismParamInvalid(
            "approved mode: GCM encryption needs a generated IV")
    counter = 0
    if p.generator in message.COUNTING:
        name = (st.key_handle, message.fixed_part(p))
        counter = s.iv_counters.get(name, 0)
        iv = message.make_iv(p, counter)
        s.iv_counters[name] = counter + 1
        return iv
    return message.make_iv(p, counter)


def encrypt_message(h: int, p: AeadMessageParams, aad: bytes, data: bytes,
                    cap: int | None) -> tuple[Out, bytes, bytes]:
    """C_EncryptMessage: (output, IV used, tag)."""
    s = session(h)
    st = s.get(K.MESSAGE_ENCRYPT)
    _whole(st)
    if cap is None or cap < len(data):
        st.op.check(p)
        return (len(data), None), b"", b""
    iv = _iv(s, st, p)
    out, tag = st.op.encrypt(replace(p, iv=iv), iv, aad, data)
    return (len(out), out), iv, tag


def decrypt_message(h: int, p: AeadMessageParams, aad: bytes, data: bytes,
                    cap: int | None) -> Out:
    s = session(h)
    st = s.get(K.MESSAGE_DECRYPT)
    _whole(st)
    if cap is None or cap < len(data):
        st.op.check(p)
        return len(data), None
    out: bytes = st.op.decrypt(p, aad, data)
    return len(out), out


def begin(h: int, kind: OpKind, p: AeadMessageParams | None,
          aad: bytes) -> bytes:
    """C_EncryptMessageBegin / C_DecryptMessageBegin (and the sign and
    verify ones with ``p`` None); returns the IV an encryption uses."""
    s = session(h)
    st = s.get(kind)
    _whole(st)
    iv = b""
    if kind is K.MESSAGE_ENCRYPT and p is not None:
        iv = _iv(s, st, p)
        p = replace(p, iv=iv)
    elif p is not None:
        st.op.check(p)
    new = st.extra["new"]
    st.extra[PART] = (p, aad, bytearray()) if p is not None else new()
    return iv


def crypt_next(h: int, kind: OpKind, p: AeadMessageParams, data: bytes,
               cap: int | None, end: bool) -> tuple[Out, bytes]:
    """C_EncryptMessageNext / C_DecryptMessageNext: (output, tag).  A
    part before CKF_END_OF_MESSAGE gives no output; the last gives the
    whole message's."""
    s = session(h)
    st = s.get(kind)
    with _message(st):
        begun, aad, buf = _part(st)
        total = len(buf) + len(data)
        if cap is None or cap < (total if end else 0):
            return ((total if end else 0), None), b""
        st.feed(len(data))
        buf += data
        if not end:
            return (0, b""), b""
        del st.extra[PART]
        if kind is K.MESSAGE_ENCRYPT:
            out, tag = st.op.encrypt(begun, begun.iv, aad, bytes(buf))
            return (len(out), out), tag
        # The tag is read from the last call's parameter.
        out = st.op.decrypt(replace(begun, tag=p.tag), aad, bytes(buf))
        return (len(out), out), b""


# -- signing and verification ------------------------------------------------

def sign_message(h: int, data: bytes, cap: int | None) -> Out:
    st = session(h).get(K.MESSAGE_SIGN)
    _whole(st)
    op = st.extra["new"]()
    if cap is None or cap < op.size:
        return op.size, None
    sig: bytes = op.sign(data)
    return len(sig), sig


def sign_next(h: int, data: bytes, cap: int | None, last: bool) -> Out:
    """C_SignMessageNext: a NULL pulSignatureLen means more parts
    follow (spec 5.13)."""
    st = session(h).get(K.MESSAGE_SIGN)
    with _message(st):
        op = _part(st)
        if last and (cap is None or cap < op.size):
            return op.size, None
        st.feed(len(data))
        op.update(data)
        if not last:
            return 0, b""
        del st.extra[PART]
        sig: bytes = op.final()
        return len(sig), sig


def verify_message(h: int, data: bytes, signature: bytes) -> None:
    st = session(h).get(K.MESSAGE_VERIFY)
    _whole(st)
    st.extra["new"]().verify(data, signature)


def verify_next(h: int, data: bytes, signature: bytes | None) -> None:
    """C_VerifyMessageNext: a NULL pSignature means more parts follow."""
    st = session(h).get(K.MESSAGE_VERIFY)
    with _message(st):
        op = _part(st)
        st.feed(len(data))
        op.update(data)
        if signature is not None:
            del st.extra[PART]
            op.final(signature)
