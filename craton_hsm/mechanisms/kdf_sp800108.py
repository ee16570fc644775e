"""CKM_SP800_108_COUNTER_KDF with CK_SP800_108_KDF_PARAMS (PKCS#11 v3.0
Current Mechanisms 2.42, NIST SP 800-108r1 section 4.1).

K(i) = PRF(K_I, the CK_PRF_DATA_PARAM fields in the caller's order), for
i = 1..n, where the one CK_SP800_108_ITERATION_VARIABLE is the counter i
in the CK_SP800_108_COUNTER_FORMAT given (8..32 bits, either byte
order), each BYTE_ARRAY is copied as is and the optional DKM_LENGTH is L
(the derived key's bits, or n segments' bits) in its
CK_SP800_108_DKM_LENGTH_FORMAT.  The PRF is HMAC with SHA-1/2/3 or
AES-CMAC.  Additional derived keys are refused by the decoder
(CKR_MECHANISM_PARAM_INVALID); OPTIONAL_COUNTER belongs to the feedback
and pipeline modes and is refused here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from craton_hsm._generated_ck import (
    CK_SP800_108_BYTE_ARRAY,
    CK_SP800_108_DKM_LENGTH,
    CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS,
    CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS,
    CK_SP800_108_ITERATION_VARIABLE,
    CKA,
    CKF,
    CKK,
    CKM,
)
from craton_hsm.backend import kdf as backend
from craton_hsm.errors import (
    KeySizeRange,
    KeyTypeInconsistent,
    MechanismParamInvalid,
    TemplateInconsistent,
)
from craton_hsm.mechanisms.checks import keyed, params_of
from craton_hsm.mechanisms.kdf_common import (
    HMAC_KEY_TYPES,
    derived_length,
    secret_value,
)
from craton_hsm.mechanisms.params import (
    CounterFormat,
    DkmLengthFormat,
    PrfDataParam,
    Sp800108Params,
)
from craton_hsm.mechanisms.registry import KeyLike, MechSpec, Op, ParamKind

HMAC_PRFS: dict[int, str] = {
    CKM.SHA_1_HMAC: "sha1", CKM.SHA224_HMAC: "sha224",
    CKM.SHA256_HMAC: "sha256", CKM.SHA384_HMAC: "sha384",
    CKM.SHA512_HMAC: "sha512", CKM.SHA3_224_HMAC: "sha3_224",
    CKM.SHA3_256_HMAC: "sha3_256", CKM.SHA3_384_HMAC: "sha3_384",
    CKM.SHA3_512_HMAC: "sha3_512",
}
KEY_TYPES = HMAC_KEY_TYPES | frozenset({CKK.AES})
# Base keys in bytes: HMAC keys 1..512, AES-CMAC keys 16..32.
KEY_BYTES = (1, 512)
AES_SIZES = frozenset({16, 24, 32})

Prf = Callable[[bytes], bytes]


def _prf(prf_type: int, key: KeyLike) -> tuple[Prf, int]:
    ki = secret_value(key)
    key_type = key.attrs.get(CKA.KEY_TYPE)
    if prf_type == CKM.AES_CMAC:
        if key_type not in (CKK.AES, CKK.GENERIC_SECRET):
            raise KeyTypeInconsistent("AES-CMAC PRF needs an AES key")
        if len(ki) not in AES_SIZES:
            raise KeySizeRange("AES-CMAC key must be 16, 24 or 32 bytes")
        return (lambda data: backend.cmac_aes(ki, data)), 16
    name = HMAC_PRFS.get(prf_type)
    if name is None:
        raise MechanismParamInvalid("unsupported prfType")
    if key_type == CKK.AES:
        raise KeyTypeInconsistent("HMAC PRF needs a generic/HMAC key")
    return (lambda data: backend.hmac_once(name, ki, data)), \
        backend.hash_len(name)


def _encode(value: int, width_bits: int, little: bool) -> bytes:
    return value.to_bytes(width_bits // 8, "little" if little else "big")


def _check_fields(fields: tuple[PrfDataParam, ...]) -> None:
    counters = [f for f in fields
                if f.type == CK_SP800_108_ITERATION_VARIABLE]
    dkms = [f for f in fields if f.type == CK_SP800_108_DKM_LENGTH]
    if len(counters) != 1:
        raise MechanismParamInvalid("counter mode needs one iteration "
                                    "variable")
    if len(dkms) > 1:
        raise MechanismParamInvalid("at most one DKM length")
    for f in fields:
        v = f.value
        if f.type == CK_SP800_108_ITERATION_VARIABLE:
            if not isinstance(v, CounterFormat) or \
                    v.width_bits not in (8, 16, 24, 32):
                raise MechanismParamInvalid("counter width 8..32 bits")
        elif f.type == CK_SP800_108_DKM_LENGTH:
            if not isinstance(v, DkmLengthFormat) or v.method not in (
                    CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS,
                    CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS) or \
                    v.width_bits % 8 or not 8 <= v.width_bits <= 64:
                raise MechanismParamInvalid("bad DKM length format")
        elif f.type != CK_SP800_108_BYTE_ARRAY or \
                not isinstance(v, bytes):
            # OPTIONAL_COUNTER is for the feedback/pipeline modes.
            raise MechanismParamInvalid("data type not valid in counter "
                                        "mode")


class CounterKdf:
    def __init__(self, key: KeyLike, params: Sp800108Params) -> None:
        self._prf, self._h = _prf(params.prf_type, key)
        _check_fields(params.data_params)
        self._fields = params.data_params

    def derive(self, template: Mapping[int, Any]) -> dict[int, Any]:
        length = derived_length(template, None)
        n = -(-length // self._h)
        out = bytearray()
        for i in range(1, n + 1):
            out += self._prf(self._input(i, length, n))
        return {CKA.VALUE: bytes(out[:length])}

    def _input(self, i: int, length: int, n: int) -> bytes:
        parts = []
        for f in self._fields:
            v = f.value
            if isinstance(v, CounterFormat):
                if i >= 1 << v.width_bits:
                    raise TemplateInconsistent("key too long for counter")
                parts.append(_encode(i, v.width_bits, v.little_endian))
            elif isinstance(v, DkmLengthFormat):
                bits = 8 * (length if v.method ==
                            CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS
                            else n * self._h)
                if bits >= 1 << v.width_bits:
                    raise TemplateInconsistent("DKM length overflows")
                parts.append(_encode(bits, v.width_bits, v.little_endian))
            else:
                parts.append(v)
        return b"".join(parts)


def _derive(key: KeyLike | None, params: object) -> CounterKdf:
    return CounterKdf(keyed(key, KEY_TYPES),
                      params_of(params, Sp800108Params))


SPECS: tuple[MechSpec, ...] = (
    MechSpec(CKM.SP800_108_COUNTER_KDF, CKF.DERIVE, key_size=KEY_BYTES,
             key_types=KEY_TYPES, approved=True,
             params=ParamKind.SP800_108, ops={Op.DERIVE: _derive}),
)
