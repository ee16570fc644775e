"""AES (PKCS#11 v3.0 section 2.10 and 2.12.3): key generation, ECB, CBC,
CBC_PAD, CTR and GCM.  The operations live in aes_modes.py and
aes_gcm.py; this module validates keys and parameters and declares the
registry rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from craton_hsm import drbg
from craton_hsm._generated_ck import CKA, CKF, CKK, CKM
from craton_hsm.backend import symmetric
from craton_hsm.errors import KeySizeRange, MechanismParamInvalid
from craton_hsm.mechanisms.aes_gcm import GcmDecrypt, GcmEncrypt
from craton_hsm.mechanisms.aes_modes import BlockOp, CtrOp
from craton_hsm.mechanisms.checks import (
    attr_bytes,
    keyed,
    no_params,
    params_of,
    template_int,
)
from craton_hsm.mechanisms.message import with_messages
from craton_hsm.mechanisms.params import AesCtrParams, GcmParams
from craton_hsm.mechanisms.registry import (
    Factory,
    KeyLike,
    MechSpec,
    Op,
    ParamKind,
)
from craton_hsm.mechanisms.wrap import by_encryption

KEY_BYTES = (16, 32)          # CK_MECHANISM_INFO unit for AES: bytes
AES_LENGTHS = frozenset({16, 24, 32})
KEY_TYPES = frozenset({CKK.AES})
CRYPT = CKF.ENCRYPT | CKF.DECRYPT
BOTH = frozenset({Op.ENCRYPT, Op.DECRYPT})


def loaded_key(key: KeyLike | None) -> symmetric.AesKey:
    """The checked key, kept in the object's cache (cleared on any
    attribute change and on destroy)."""
    k = keyed(key, KEY_TYPES)
    cached: symmetric.AesKey | None = k.cache.get("aes")
    if cached is None:
        value = attr_bytes(k, CKA.VALUE)
        if len(value) not in AES_LENGTHS:
            raise KeySizeRange("AES keys are 16, 24 or 32 bytes")
        cached = symmetric.AesKey(value)
        k.cache["aes"] = cached
    return cached


def aes_key(key: KeyLike | None) -> bytes:
    return loaded_key(key).value


def _iv(params: object) -> bytes:
    iv = params_of(params, bytes)
    if len(iv) != symmetric.BLOCK:
        raise MechanismParamInvalid("CBC IV must be 16 bytes")
    return iv


Builder = Callable[[symmetric.AesKey, object, bool], Any]


def _ecb(key: symmetric.AesKey, params: object, enc: bool) -> BlockOp:
    no_params(params)
    return BlockOp(symmetric.ecb(key, enc), enc, pad=False)


def _cbc(key: symmetric.AesKey, params: object, enc: bool) -> BlockOp:
    return BlockOp(symmetric.cbc(key, _iv(params), enc), enc, pad=False)


def _cbc_pad(key: symmetric.AesKey, params: object, enc: bool) -> BlockOp:
    return BlockOp(symmetric.cbc(key, _iv(params), enc), enc, pad=True)


def _ctr(key: symmetric.AesKey, params: object, enc: bool) -> CtrOp:
    p = params_of(params, AesCtrParams)
    if not 1 <= p.counter_bits <= 128 or len(p.cb) != symmetric.BLOCK:
        raise MechanismParamInvalid("bad CK_AES_CTR_PARAMS")
    return CtrOp(symmetric.ctr(key, p.cb), p.cb, p.counter_bits, enc)


def _gcm(key: symmetric.AesKey, params: object,
         enc: bool) -> GcmEncrypt | GcmDecrypt:
    p = params_of(params, GcmParams)
    return GcmEncrypt(key, p) if enc else GcmDecrypt(key, p)


def _ops(build: Builder) -> dict[Op, Factory]:
    def enc(key: KeyLike | None, params: object) -> Any:
        return build(loaded_key(key), params, True)

    def dec(key: KeyLike | None, params: object) -> Any:
        return build(loaded_key(key), params, False)
    return {Op.ENCRYPT: enc, Op.DECRYPT: dec}


class AesKeyGenerator:
    """CKM_AES_KEY_GEN (section 2.10.2): CKA_VALUE_LEN bytes from the
    DRBG."""

    def generate(self, template: Mapping[int, Any]) -> dict[int, Any]:
        n = template_int(template, CKA.VALUE_LEN)
        if n not in AES_LENGTHS:
            raise KeySizeRange("AES keys are 16, 24 or 32 bytes")
        return {CKA.VALUE: drbg.random_bytes(n), CKA.VALUE_LEN: n}


def _keygen(key: KeyLike | None, params: object) -> AesKeyGenerator:
    no_params(params)
    return AesKeyGenerator()


def _spec(mech: int, build: Builder, kind: ParamKind,
          wrap: dict[str, bool] | None = None) -> MechSpec:
    """``wrap``: the by_encryption options when the mode also wraps keys
    (ECB/CBC zero-pad and wrap secret keys only; CBC_PAD and GCM take
    any length, so private keys' PrivateKeyInfo too)."""
    ops = _ops(build)
    flags = CRYPT
    if wrap is not None:
        ops.update(by_encryption(ops[Op.ENCRYPT], ops[Op.DECRYPT], **wrap))
        flags |= CKF.WRAP | CKF.UNWRAP
    return MechSpec(mech, flags, key_size=KEY_BYTES, key_types=KEY_TYPES,
                    approved=True, params=kind, ops=ops,
                    multipart=BOTH)


SPECS: tuple[MechSpec, ...] = (
    MechSpec(CKM.AES_KEY_GEN, CKF.GENERATE, key_size=KEY_BYTES,
             key_types=KEY_TYPES, approved=True,
             ops={Op.GENERATE: _keygen}),
    _spec(CKM.AES_ECB, _ecb, ParamKind.NONE, {"zero_pad": True}),
    _spec(CKM.AES_CBC, _cbc, ParamKind.BYTES, {"zero_pad": True}),
    _spec(CKM.AES_CBC_PAD, _cbc_pad, ParamKind.BYTES,
          {"private_keys": True}),
    _spec(CKM.AES_CTR, _ctr, ParamKind.AES_CTR),
    with_messages(_spec(CKM.AES_GCM, _gcm, ParamKind.GCM,
                        {"private_keys": True}),
                  ParamKind.GCM_MESSAGE, aes_key),
)
