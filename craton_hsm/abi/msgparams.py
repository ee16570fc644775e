"""The per-message pParameter of the message-based functions (PKCS#11
v3.0 sections 5.11-5.12): CK_GCM_MESSAGE_PARAMS, CK_CCM_MESSAGE_PARAMS
and CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS -> AeadMessageParams, and
the write-back of the generated IV (pIv / pNonce) and of the tag (pTag /
pMAC), which these structures return to the caller.

The size and NULL rules are those of abi/params.py.
"""

from __future__ import annotations

from typing import Any

from _craton_hsm_abi import ffi

from craton_hsm._generated_ck import CKG
from craton_hsm.abi import params as mparams
from craton_hsm.errors import MechanismParamInvalid
from craton_hsm.mechanisms.params import AeadMessageParams
from craton_hsm.mechanisms.registry import ParamKind

CHACHA_TAG = 16
# kind -> (C struct, IV field, IV length field, tag field)
_LAYOUT = {
    ParamKind.GCM_MESSAGE: ("CK_GCM_MESSAGE_PARAMS", "pIv", "ulIvLen",
                            "pTag"),
    ParamKind.CCM_MESSAGE: ("CK_CCM_MESSAGE_PARAMS", "pNonce",
                            "ulNonceLen", "pMAC"),
    ParamKind.CHACHA20_POLY1305_MESSAGE: (
        "CK_SALSA20_CHACHA20_POLY1305_MSG_PARAMS", "pNonce", "ulNonceLen",
        "pTag"),
}


def _struct(kind: ParamKind, p: Any, n: int) -> Any:
    name = _LAYOUT[kind][0]
    if p == ffi.NULL or int(n) != ffi.sizeof(name):
        raise MechanismParamInvalid(f"{name} expected")
    return ffi.cast(name + " *", p)


def decode(kind: ParamKind, p: Any, n: int,
           read_tag: bool) -> AeadMessageParams | None:
    """The message parameter of ``kind``; None for mechanisms whose
    messages take none (then pParameter must be NULL or empty)."""
    if kind is ParamKind.NONE:
        mparams.decode(ParamKind.NONE, ffi, p, n)
        return None
    s = _struct(kind, p, n)
    _name, iv_f, len_f, tag_f = _LAYOUT[kind]
    iv = mparams.copy(ffi, getattr(s, iv_f), getattr(s, len_f))
    if kind is ParamKind.GCM_MESSAGE:
        bits = int(s.ulTagBits)
        if bits % 8:
            raise MechanismParamInvalid("ulTagBits not a whole byte")
        tag_len, fixed, gen, data_len = (bits // 8, int(s.ulIvFixedBits),
                                         int(s.ivGenerator), None)
    elif kind is ParamKind.CCM_MESSAGE:
        tag_len, fixed, gen, data_len = (
            int(s.ulMACLen), int(s.ulNonceFixedBits), int(s.nonceGenerator),
            int(s.ulDataLen))
    else:
        tag_len, fixed, gen, data_len = CHACHA_TAG, 0, CKG.NO_GENERATE, None
    if not iv or getattr(s, tag_f) == ffi.NULL:
        raise MechanismParamInvalid("IV and tag pointers are required")
    tag = mparams.copy(ffi, getattr(s, tag_f), tag_len) if read_tag \
        else b""
    return AeadMessageParams(iv, fixed, int(gen), tag, tag_len, data_len)


def write_back(kind: ParamKind, p: Any, iv: bytes, tag: bytes) -> None:
    """Return a generated IV and/or a tag through the caller's struct."""
    if kind is ParamKind.NONE:
        return
    s = ffi.cast(_LAYOUT[kind][0] + " *", p)
    _name, iv_f, _len_f, tag_f = _LAYOUT[kind]
    if iv:
        ffi.memmove(getattr(s, iv_f), iv, len(iv))
    if tag:
        ffi.memmove(getattr(s, tag_f), tag, len(tag))
