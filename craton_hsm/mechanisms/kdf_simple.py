"""The miscellaneous simple key derivations (PKCS#11 v3.0 Current
Mechanisms 2.43.x: CONCATENATE_BASE_AND_KEY, CONCATENATE_BASE_AND_DATA,
CONCATENATE_DATA_AND_BASE, XOR_BASE_AND_DATA, EXTRACT_KEY_FROM_KEY) and
key derivation by data encryption with AES (2.15.x:
AES_ECB_ENCRYPT_DATA, AES_CBC_ENCRYPT_DATA).

Length: CKA_VALUE_LEN, else the key type's fixed length, else the whole
result (the sum of both parts, the shorter of base and data for XOR, the
ciphertext).  Asking for more than the result holds is
CKR_TEMPLATE_INCONSISTENT; a shorter key takes the leading bytes.

The 2.43 mechanisms set ``inherits_protection``: dispatch then makes the
new key sensitive if the base (or the other key) is, unextractable if
either is not extractable, and ALWAYS_SENSITIVE / NEVER_EXTRACTABLE only
if both keys were.  The other key of CONCATENATE_BASE_AND_KEY arrives as
an OtherKey that dispatch resolved from the handle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm._generated_ck import CKA, CKF, CKK, CKM
from craton_hsm.backend import kdf as backend
from craton_hsm.errors import MechanismParamInvalid, TemplateInconsistent
from craton_hsm.mechanisms.checks import keyed, params_of
from craton_hsm.mechanisms.kdf_common import (
    SECRET_KEY_TYPES,
    derived_length,
    secret_value,
)
from craton_hsm.mechanisms.params import (
    AesCbcEncryptDataParams,
    KeyDerivationStringData,
    OtherKey,
)
from craton_hsm.mechanisms.registry import KeyLike, MechSpec, Op, ParamKind

# Section 2.43: "the supported range of ... key sizes, in bits".
KEY_BITS = (8, 8 * 512)
AES_KEY_BYTES = (16, 32)
BLOCK = 16


def _take(value: bytes, template: Mapping[int, Any]) -> dict[int, Any]:
    n = derived_length(template, len(value))
    if n > len(value):
        raise TemplateInconsistent(f"derived key of {n} bytes from "
                                   f"{len(value)}")
    return {CKA.VALUE: value[:n]}


class _Simple:
    inherits_protection = True
    other: OtherKey | None = None

    def __init__(self, value: bytes) -> None:
        self._value = value

    def derive(self, template: Mapping[int, Any]) -> dict[int, Any]:
        return _take(self._value, template)


def _base(key: KeyLike | None) -> bytes:
    return secret_value(keyed(key, SECRET_KEY_TYPES))


def _concat_key(key: KeyLike | None, params: object) -> _Simple:
    other = params_of(params, OtherKey)
    op = _Simple(_base(key) + other.value)
    op.other = other
    return op


def _string(params: object) -> bytes:
    data = params_of(params, KeyDerivationStringData).data
    if not data:
        raise MechanismParamInvalid("empty derivation data")
    return data


def _base_and_data(key: KeyLike | None, params: object) -> _Simple:
    return _Simple(_base(key) + _string(params))


def _data_and_base(key: KeyLike | None, params: object) -> _Simple:
    return _Simple(_string(params) + _base(key))


def _xor(key: KeyLike | None, params: object) -> _Simple:
    base, data = _base(key), _string(params)
    return _Simple(bytes(a ^ b for a, b in zip(base, data)))


class _Extract(_Simple):
    """Bits ``pos`` onwards of the base key, its bits numbered from the
    most significant bit of the first byte and wrapping around."""

    def __init__(self, value: bytes, pos: int) -> None:
        super().__init__(value)
        self._pos = pos

    def derive(self, template: Mapping[int, Any]) -> dict[int, Any]:
        n = derived_length(template, None)
        bits = 8 * len(self._value)
        if 8 * n > bits:
            raise TemplateInconsistent("extracted key longer than the base")
        whole = int.from_bytes(self._value, "big")
        start = self._pos % bits
        rotated = ((whole << start) | (whole >> (bits - start))) \
            & ((1 << bits) - 1)
        return {CKA.VALUE: (rotated >> (bits - 8 * n)).to_bytes(n, "big")}


def _extract(key: KeyLike | None, params: object) -> _Extract:
    return _Extract(_base(key), params_of(params, int))


class _EncryptData:
    """The ciphertext of the caller's data under the base AES key."""

    def __init__(self, key: KeyLike | None, data: bytes,
                 iv: bytes | None) -> None:
        if not data or len(data) % BLOCK:
            raise MechanismParamInvalid("data must be whole AES blocks")
        self._key = secret_value(keyed(key, frozenset({CKK.AES})))
        self._data, self._iv = data, iv

    def derive(self, template: Mapping[int, Any]) -> dict[int, Any]:
        # The key material is exactly the caller's data, encrypted: data
        # shorter than the requested key is a bad parameter (what
        # SoftHSMv2 answers and python-pkcs11's suite expects), not a
        # template problem.
        if derived_length(template, len(self._data)) > len(self._data):
            raise MechanismParamInvalid("data shorter than the derived key")
        ct = backend.aes_ecb_encrypt(self._key, self._data) \
            if self._iv is None else \
            backend.aes_cbc_encrypt(self._key, self._iv, self._data)
        return _take(ct, template)


def _ecb_data(key: KeyLike | None, params: object) -> _EncryptData:
    return _EncryptData(key, params_of(params, KeyDerivationStringData).data,
                        None)


def _cbc_data(key: KeyLike | None, params: object) -> _EncryptData:
    p = params_of(params, AesCbcEncryptDataParams)
    return _EncryptData(key, p.data, p.iv)


def _simple(mech: int, params: ParamKind, factory: Any) -> MechSpec:
    return MechSpec(mech, CKF.DERIVE, key_size=KEY_BITS,
                    key_types=SECRET_KEY_TYPES, params=params,
                    ops={Op.DERIVE: factory})


SPECS: tuple[MechSpec, ...] = (
    _simple(CKM.CONCATENATE_BASE_AND_KEY, ParamKind.OBJECT_HANDLE,
            _concat_key),
    _simple(CKM.CONCATENATE_BASE_AND_DATA, ParamKind.KEY_DERIVATION_STRING,
            _base_and_data),
    _simple(CKM.CONCATENATE_DATA_AND_BASE, ParamKind.KEY_DERIVATION_STRING,
            _data_and_base),
    _simple(CKM.XOR_BASE_AND_DATA, ParamKind.KEY_DERIVATION_STRING, _xor),
    _simple(CKM.EXTRACT_KEY_FROM_KEY, ParamKind.ULONG, _extract),
    MechSpec(CKM.AES_ECB_ENCRYPT_DATA, CKF.DERIVE, key_size=AES_KEY_BYTES,
             key_types=frozenset({CKK.AES}),
             params=ParamKind.KEY_DERIVATION_STRING,
             ops={Op.DERIVE: _ecb_data}),
    MechSpec(CKM.AES_CBC_ENCRYPT_DATA, CKF.DERIVE, key_size=AES_KEY_BYTES,
             key_types=frozenset({CKK.AES}),
             params=ParamKind.AES_CBC_ENCRYPT_DATA,
             ops={Op.DERIVE: _cbc_data}),
)
