"""C entry points: encryption, decryption, digests, signatures, key
generation and random numbers (PKCS#11 v3.0 sections 5.8-5.16).

Functions of one shape (``*Init``, one-shot with output, ``*Update``)
share one shell each, registered under every name that has that shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from _craton_hsm_abi import ffi

from craton_hsm._generated_ck import CKR
from craton_hsm.abi import marshal as m
from craton_hsm.abi.exports import export
from craton_hsm.core.session import OpKind, Out
from craton_hsm.dispatch import crypto, keys, random, state, wrap
from craton_hsm.dispatch.common import session
from craton_hsm.errors import ArgumentsBad, CKRError

OK = int(CKR.OK)
NULL = ffi.NULL
K = OpKind
T = TypeVar("T")


def _keyed_init(kind: OpKind) -> Callable[..., int]:
    def init(h: int, p_mech: Any, h_key: int) -> int:
        mech, params = m.mechanism(p_mech)
        crypto.init(int(h), kind, mech, params, int(h_key))
        return OK
    return init


for _name, _kind in (("C_EncryptInit", K.ENCRYPT),
                     ("C_DecryptInit", K.DECRYPT),
                     ("C_SignInit", K.SIGN), ("C_VerifyInit", K.VERIFY),
                     ("C_SignRecoverInit", K.SIGN_RECOVER),
                     ("C_VerifyRecoverInit", K.VERIFY_RECOVER)):
    export(_name)(_keyed_init(_kind))


@export("C_DigestInit")
def c_digest_init(h: int, p_mech: Any) -> int:
    mech, params = m.mechanism(p_mech)
    crypto.init(int(h), K.DIGEST, mech, params, None)
    return OK


def _args(h: int, kind: OpKind, read: Callable[..., T], *args: Any) -> T:
    """``read(*args)``: read cdata arguments; a bad one ends the active
    operation too (spec 5.2: every error except CKR_BUFFER_TOO_SMALL
    terminates it).  The readers are module functions, not a closure
    made per call (issue 9)."""
    try:
        return read(*args)
    except CKRError:
        crypto.abort(int(h), kind)
        raise


def _capacity_and_view(p_out: Any, p_len: Any, p_in: Any, n: int
                       ) -> tuple[int | None, Any]:
    # The input is a zero-copy view: each of these calls consumes it
    # before returning, and what a mechanism keeps for a later call
    # (multi-part buffering) it copies (marshal.view).
    return m.capacity(p_out, p_len), m.view(p_in, int(n))


def _view_and_data(p_a: Any, n_a: int, p_b: Any, n_b: int
                   ) -> tuple[Any, bytes]:
    return m.view(p_a, int(n_a)), m.data(p_b, int(n_b))


def _in_out(kind: OpKind, fn: Callable[[int, Any, int | None], Out]
            ) -> Callable[..., int]:
    """(h, in, in_len, out, out_len*) shells."""
    def call(h: int, p_in: Any, n: int, p_out: Any, p_len: Any) -> int:
        cap, data = _args(h, kind, _capacity_and_view, p_out, p_len, p_in,
                          n)
        return m.write_out(p_out, p_len, fn(int(h), data, cap))
    return call


def _in_out_into(kind: OpKind,
                 fn: Callable[[int, OpKind, Any, int | None, Any], Out]
                 ) -> Callable[..., int]:
    """The same shell for encryption and decryption, whose output can be
    as long as the input: the mechanism may write it straight into the
    caller's buffer (core/session.py ``deliver``)."""
    def call(h: int, p_in: Any, n: int, p_out: Any, p_len: Any) -> int:
        cap, data = _args(h, kind, _capacity_and_view, p_out, p_len, p_in,
                          n)
        return m.write_out(p_out, p_len,
                           fn(int(h), kind, data, cap, m.dest(p_out, cap)))
    return call


export("C_Digest")(_in_out(K.DIGEST, crypto.digest))
export("C_Sign")(_in_out(K.SIGN, crypto.sign))
export("C_SignRecover")(_in_out(
    K.SIGN_RECOVER, lambda h, d, c: crypto.sign(h, d, c, K.SIGN_RECOVER)))
export("C_VerifyRecover")(_in_out(K.VERIFY_RECOVER, crypto.verify_recover))
export("C_Encrypt")(_in_out_into(K.ENCRYPT, crypto.crypt))
export("C_Decrypt")(_in_out_into(K.DECRYPT, crypto.crypt))
export("C_EncryptUpdate")(_in_out_into(K.ENCRYPT, crypto.crypt_update))
export("C_DecryptUpdate")(_in_out_into(K.DECRYPT, crypto.crypt_update))


def _final(kind: OpKind, fn: Callable[[int, int | None], Out]
           ) -> Callable[..., int]:
    def call(h: int, p_out: Any, p_len: Any) -> int:
        cap = _args(h, kind, m.capacity, p_out, p_len)
        return m.write_out(p_out, p_len, fn(int(h), cap))
    return call


export("C_DigestFinal")(_final(K.DIGEST, crypto.digest_final))
export("C_SignFinal")(_final(K.SIGN, crypto.sign_final))
export("C_EncryptFinal")(_final(
    K.ENCRYPT, lambda h, c: crypto.crypt_final(h, K.ENCRYPT, c)))
export("C_DecryptFinal")(_final(
    K.DECRYPT, lambda h, c: crypto.crypt_final(h, K.DECRYPT, c)))


@export("C_DigestUpdate")
def c_digest_update(h: int, p_in: Any, n: int) -> int:
    crypto.digest_update(int(h), m.view(p_in, int(n)))
    return OK


@export("C_DigestKey")
def c_digest_key(h: int, h_key: int) -> int:
    crypto.digest_key(int(h), int(h_key))
    return OK


@export("C_SignUpdate")
def c_sign_update(h: int, p_in: Any, n: int) -> int:
    crypto.update(int(h), K.SIGN, m.view(p_in, int(n)))
    return OK


@export("C_VerifyUpdate")
def c_verify_update(h: int, p_in: Any, n: int) -> int:
    crypto.update(int(h), K.VERIFY, m.view(p_in, int(n)))
    return OK


@export("C_Verify")
def c_verify(h: int, p_in: Any, n: int, p_sig: Any, n_sig: int) -> int:
    data, sig = _args(h, K.VERIFY, _view_and_data, p_in, n, p_sig, n_sig)
    crypto.verify(int(h), data, sig)
    return OK


@export("C_VerifyFinal")
def c_verify_final(h: int, p_sig: Any, n_sig: int) -> int:
    sig = _args(h, K.VERIFY, m.data, p_sig, int(n_sig))
    crypto.verify_final(int(h), sig)
    return OK


@export("C_GenerateKey")
def c_generate_key(h: int, p_mech: Any, p_tmpl: Any, n: int,
                   p_key: Any) -> int:
    if p_key == NULL:
        raise ArgumentsBad("NULL key handle pointer")
    mech, params = m.mechanism(p_mech)
    p_key[0] = keys.generate_key(int(h), mech, params,
                                 m.template(p_tmpl, int(n)))
    return OK


@export("C_GenerateKeyPair")
def c_generate_key_pair(h: int, p_mech: Any, p_pub: Any, n_pub: int,
                        p_priv: Any, n_priv: int, p_h_pub: Any,
                        p_h_priv: Any) -> int:
    if p_h_pub == NULL or p_h_priv == NULL:
        raise ArgumentsBad("NULL key handle pointer")
    mech, params = m.mechanism(p_mech)
    p_h_pub[0], p_h_priv[0] = keys.generate_key_pair(
        int(h), mech, params, m.template(p_pub, int(n_pub)),
        m.template(p_priv, int(n_priv)))
    return OK


@export("C_SeedRandom")
def c_seed_random(h: int, p_seed: Any, n: int) -> int:
    random.seed_random(int(h), m.data(p_seed, int(n)))
    return OK


@export("C_GenerateRandom")
def c_generate_random(h: int, p_out: Any, n: int) -> int:
    value = random.generate_random(int(h), int(n))
    if n and p_out == NULL:
        raise ArgumentsBad("NULL output buffer")
    ffi.memmove(p_out, value, len(value))
    return OK


@export("C_GetFunctionStatus")
def c_get_function_status(h: int) -> int:
    # Legacy (spec 5.17): parallel functions are not supported.
    session(int(h))
    return int(CKR.FUNCTION_NOT_PARALLEL)


@export("C_CancelFunction")
def c_cancel_function(h: int) -> int:
    session(int(h))
    return int(CKR.FUNCTION_NOT_PARALLEL)


@export("C_WrapKey")
def c_wrap_key(h: int, p_mech: Any, h_wrapping: int, h_key: int,
               p_out: Any, p_len: Any) -> int:
    mech, params = m.mechanism(p_mech)
    cap = m.capacity(p_out, p_len)
    return m.write_out(p_out, p_len, wrap.wrap_key(
        int(h), mech, params, int(h_wrapping), int(h_key), cap))


@export("C_UnwrapKey")
def c_unwrap_key(h: int, p_mech: Any, h_unwrapping: int, p_wrapped: Any,
                 n_wrapped: int, p_tmpl: Any, n: int, p_key: Any) -> int:
    if p_key == NULL:
        raise ArgumentsBad("NULL key handle pointer")
    mech, params = m.mechanism(p_mech)
    p_key[0] = wrap.unwrap_key(
        int(h), mech, params, int(h_unwrapping),
        m.data(p_wrapped, int(n_wrapped)), m.template(p_tmpl, int(n)))
    return OK


@export("C_DeriveKey")
def c_derive_key(h: int, p_mech: Any, h_base: int, p_tmpl: Any, n: int,
                 p_key: Any) -> int:
    if p_key == NULL:
        raise ArgumentsBad("NULL key handle pointer")
    mech, params = m.mechanism(p_mech)
    p_key[0] = wrap.derive_key(int(h), mech, params, int(h_base),
                               m.template(p_tmpl, int(n)))
    return OK


def _dual(first: OpKind, second: OpKind
          ) -> Callable[[int, Any, int | None], Out]:
    def call(h: int, data: Any, cap: int | None) -> Out:
        return crypto.dual_update(h, first, second, data, cap)
    return call


for _name, _first, _second in (
        ("C_DigestEncryptUpdate", K.DIGEST, K.ENCRYPT),
        ("C_SignEncryptUpdate", K.SIGN, K.ENCRYPT),
        ("C_DecryptDigestUpdate", K.DECRYPT, K.DIGEST),
        ("C_DecryptVerifyUpdate", K.DECRYPT, K.VERIFY)):
    _crypt = _second if _second is K.ENCRYPT else _first
    export(_name)(_in_out(_crypt, _dual(_first, _second)))


@export("C_GetOperationState")
def c_get_operation_state(h: int, p_out: Any, p_len: Any) -> int:
    return m.write_out(p_out, p_len,
                       state.get_state(int(h), m.capacity(p_out, p_len)))


@export("C_SetOperationState")
def c_set_operation_state(h: int, p_state: Any, n: int, h_enc: int,
                          h_auth: int) -> int:
    if p_state == NULL:
        raise ArgumentsBad("NULL state")
    state.set_state(int(h), m.data(p_state, int(n)), int(h_enc),
                    int(h_auth))
    return OK
