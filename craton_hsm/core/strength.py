"""Security strength of a key object, in bits (NIST SP 800-57 Part 1
Rev. 5, section 5.6.1, Table 2; ML-DSA / ML-KEM: FIPS 204 / FIPS 203
security categories 2/3/5 read as 128/192/256).

Used by C_WrapKey: a sensitive key is only wrapped under a key at least
as strong (SP 800-57 Part 1 Rev. 5 section 5.6.1: the protecting key
must provide at least the security strength of the key it protects);
docs/threat-model.md "Wrapping policy".  Values between two levels of
Table 2 count as the lower level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm._generated_ck import CKA, CKK, CKP
from craton_hsm.errors import CKRError
from craton_hsm.mechanisms import ec_curves

LEVELS = (80, 112, 128, 192, 256)
# Table 2, IFC column: modulus bits for 112/128/192/256.
_RSA = ((15360, 256), (7680, 192), (3072, 128), (2048, 112))
_FAMILY: dict[int, ec_curves.Family] = {CKK.EC: ec_curves.Family.WEIERSTRASS,
           CKK.EC_EDWARDS: ec_curves.Family.EDWARDS,
           CKK.EC_MONTGOMERY: ec_curves.Family.MONTGOMERY}
_PQC: dict[int, int] = {CKP.ML_DSA_44: 128, CKP.ML_DSA_65: 192, CKP.ML_DSA_87: 256,
        CKP.ML_KEM_512: 128, CKP.ML_KEM_768: 192, CKP.ML_KEM_1024: 256}


def _level(bits: int) -> int:
    """The highest Table 2 level not above ``bits`` (0 below 80)."""
    return max((lv for lv in LEVELS if lv <= bits), default=0)


def _ec(attrs: Mapping[int, Any], key_type: int) -> int:
    try:
        curve = ec_curves.curve_of(attrs.get(CKA.EC_PARAMS),
                                   _FAMILY[key_type])
    except CKRError:
        return 0
    # Table 2, ECC column: f bits give f/2 (Ed25519's 255-bit field: 128).
    return _level((curve.bits + 1) // 2)


def _rsa(attrs: Mapping[int, Any]) -> int:
    modulus = attrs.get(CKA.MODULUS)
    bits = int.from_bytes(modulus, "big").bit_length() \
        if isinstance(modulus, bytes) else int(attrs.get(CKA.MODULUS_BITS, 0))
    return next((s for n, s in _RSA if bits >= n), 80 if bits else 0)


def _secret(attrs: Mapping[int, Any], key_type: int) -> int:
    if key_type == CKK.CHACHA20:
        return 256
    value = attrs.get(CKA.VALUE)
    n = len(value) if isinstance(value, (bytes, bytearray)) else \
        int(attrs.get(CKA.VALUE_LEN, 0))
    # A symmetric key of n bits resists exhaustive search up to n bits;
    # HMAC and KDF keys cap at 256 (Table 3 is at most 256 as well).
    return _level(min(8 * n, 256))


def strength(attrs: Mapping[int, Any]) -> int:
    """Bits of security the key provides; 0 when unknown."""
    key_type = attrs.get(CKA.KEY_TYPE)
    if key_type is None:
        return 0
    key_type = int(key_type)
    if key_type == CKK.RSA:
        return _rsa(attrs)
    if key_type in _FAMILY:
        return _ec(attrs, key_type)
    if key_type in (CKK.ML_DSA, CKK.ML_KEM):
        return _PQC.get(attrs.get(CKA.PARAMETER_SET, -1), 0)
    return _secret(attrs, key_type)
