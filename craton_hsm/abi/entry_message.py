"""C entry points of the message-based functions (PKCS#11 v3.0
sections 5.11-5.15): C_MessageEncryptInit ... C_MessageVerifyFinal.

Each shell reads cdata (the per-message parameter through
abi/msgparams.py, whose structure the active operation's mechanism
names), calls dispatch/message.py and writes results back: output by
the buffer protocol of spec 5.2, a generated IV and the tag into the
caller's parameter structure, only when output was really delivered.
"""

from __future__ import annotations

from typing import Any

from _craton_hsm_abi import ffi

from craton_hsm._generated_ck import CKF, CKR
from craton_hsm.abi import marshal as m
from craton_hsm.abi import msgparams
from craton_hsm.abi import params as mparams
from craton_hsm.abi.exports import export
from craton_hsm.core.session import OpKind
from craton_hsm.dispatch import message
from craton_hsm.errors import ArgumentsBad
from craton_hsm.mechanisms.params import AeadMessageParams
from craton_hsm.mechanisms.registry import ParamKind, lookup

OK = int(CKR.OK)
NULL = ffi.NULL
K = OpKind
_CRYPT = (K.MESSAGE_ENCRYPT, K.MESSAGE_DECRYPT)


def _init(kind: OpKind) -> Any:
    def init(h: int, p_mech: Any, h_key: int) -> int:
        if p_mech == NULL:
            raise ArgumentsBad("NULL mechanism")
        mech = int(p_mech.mechanism)
        # AEAD parameters travel with each message; the Init mechanism
        # of those carries none.  MACs keep their usual parameter.
        kind_of = ParamKind.NONE if kind in _CRYPT else lookup(mech).params
        params = mparams.decode(kind_of, ffi, p_mech.pParameter,
                                int(p_mech.ulParameterLen))
        message.init(int(h), kind, mech, params, int(h_key))
        return OK
    return init


def _final(kind: OpKind) -> Any:
    def final(h: int) -> int:
        message.final(int(h), kind)
        return OK
    return final


for _kind, _name in ((K.MESSAGE_ENCRYPT, "Encrypt"),
                     (K.MESSAGE_DECRYPT, "Decrypt"),
                     (K.MESSAGE_SIGN, "Sign"), (K.MESSAGE_VERIFY, "Verify")):
    export(f"C_Message{_name}Init")(_init(_kind))
    export(f"C_Message{_name}Final")(_final(_kind))


def _param(h: int, kind: OpKind, p: Any, n: int) -> Any:
    pk = message.param_kind(int(h), kind)
    return pk, msgparams.decode(pk, p, int(n), kind is K.MESSAGE_DECRYPT)


def _aead(value: AeadMessageParams | None) -> AeadMessageParams:
    if value is None:
        raise ArgumentsBad("this operation takes no message parameter")
    return value


@export("C_EncryptMessage")
def c_encrypt_message(h: int, p_param: Any, n_param: int, p_aad: Any,
                      n_aad: int, p_in: Any, n_in: int, p_out: Any,
                      p_len: Any) -> int:
    pk, p = _param(h, K.MESSAGE_ENCRYPT, p_param, n_param)
    cap = m.capacity(p_out, p_len)
    out, iv, tag = message.encrypt_message(
        int(h), _aead(p), m.data(p_aad, int(n_aad)),
        m.data(p_in, int(n_in)), cap)
    msgparams.write_back(pk, p_param, iv, tag)
    return m.write_out(p_out, p_len, out)


@export("C_DecryptMessage")
def c_decrypt_message(h: int, p_param: Any, n_param: int, p_aad: Any,
                      n_aad: int, p_in: Any, n_in: int, p_out: Any,
                      p_len: Any) -> int:
    _pk, p = _param(h, K.MESSAGE_DECRYPT, p_param, n_param)
    cap = m.capacity(p_out, p_len)
    return m.write_out(p_out, p_len, message.decrypt_message(
        int(h), _aead(p), m.data(p_aad, int(n_aad)),
        m.data(p_in, int(n_in)), cap))


def _crypt_begin(kind: OpKind) -> Any:
    def begin(h: int, p_param: Any, n_param: int, p_aad: Any,
              n_aad: int) -> int:
        pk, p = _param(h, kind, p_param, n_param)
        iv = message.begin(int(h), kind, _aead(p),
                           m.data(p_aad, int(n_aad)))
        msgparams.write_back(pk, p_param, iv, b"")
        return OK
    return begin


def _crypt_next(kind: OpKind) -> Any:
    def next_(h: int, p_param: Any, n_param: int, p_in: Any, n_in: int,
              p_out: Any, p_len: Any, flags: int) -> int:
        if int(flags) & ~CKF.END_OF_MESSAGE:
            raise ArgumentsBad(f"unknown flags 0x{int(flags):x}")
        pk, p = _param(h, kind, p_param, n_param)
        cap = m.capacity(p_out, p_len)
        out, tag = message.crypt_next(
            int(h), kind, _aead(p), m.data(p_in, int(n_in)), cap,
            bool(int(flags) & CKF.END_OF_MESSAGE))
        msgparams.write_back(pk, p_param, b"", tag)
        return m.write_out(p_out, p_len, out)
    return next_


export("C_EncryptMessageBegin")(_crypt_begin(K.MESSAGE_ENCRYPT))
export("C_DecryptMessageBegin")(_crypt_begin(K.MESSAGE_DECRYPT))
export("C_EncryptMessageNext")(_crypt_next(K.MESSAGE_ENCRYPT))
export("C_DecryptMessageNext")(_crypt_next(K.MESSAGE_DECRYPT))


def _no_param(h: int, kind: OpKind, p: Any, n: int) -> None:
    _param(h, kind, p, n)


@export("C_SignMessage")
def c_sign_message(h: int, p_param: Any, n_param: int, p_in: Any,
                   n_in: int, p_sig: Any, p_len: Any) -> int:
    _no_param(h, K.MESSAGE_SIGN, p_param, n_param)
    cap = m.capacity(p_sig, p_len)
    return m.write_out(p_sig, p_len, message.sign_message(
        int(h), m.data(p_in, int(n_in)), cap))


@export("C_VerifyMessage")
def c_verify_message(h: int, p_param: Any, n_param: int, p_in: Any,
                     n_in: int, p_sig: Any, n_sig: int) -> int:
    _no_param(h, K.MESSAGE_VERIFY, p_param, n_param)
    message.verify_message(int(h), m.data(p_in, int(n_in)),
                           m.data(p_sig, int(n_sig)))
    return OK


def _mac_begin(kind: OpKind) -> Any:
    def begin(h: int, p_param: Any, n_param: int) -> int:
        _no_param(h, kind, p_param, n_param)
        message.begin(int(h), kind, None, b"")
        return OK
    return begin


export("C_SignMessageBegin")(_mac_begin(K.MESSAGE_SIGN))
export("C_VerifyMessageBegin")(_mac_begin(K.MESSAGE_VERIFY))


@export("C_SignMessageNext")
def c_sign_message_next(h: int, p_param: Any, n_param: int, p_in: Any,
                        n_in: int, p_sig: Any, p_len: Any) -> int:
    # Spec 5.13: a NULL pulSignatureLen says more parts follow.
    _no_param(h, K.MESSAGE_SIGN, p_param, n_param)
    last = p_len != NULL
    cap = m.capacity(p_sig, p_len) if last else 0
    out = message.sign_next(int(h), m.data(p_in, int(n_in)), cap, last)
    return m.write_out(p_sig, p_len, out) if last else OK


@export("C_VerifyMessageNext")
def c_verify_message_next(h: int, p_param: Any, n_param: int, p_in: Any,
                          n_in: int, p_sig: Any, n_sig: int) -> int:
    # Spec 5.15: a NULL pSignature says more parts follow.
    _no_param(h, K.MESSAGE_VERIFY, p_param, n_param)
    sig = None if p_sig == NULL else m.data(p_sig, int(n_sig))
    message.verify_next(int(h), m.data(p_in, int(n_in)), sig)
    return OK
