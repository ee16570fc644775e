"""Private key objects as PKCS#8 PrivateKeyInfo, the form C_WrapKey
wraps them in and C_UnwrapKey reads (PKCS#11 v3.0 section 5.18.5;
Current Mechanisms 2.1 and 2.3: RSA, EC, Edwards and Montgomery private
keys are wrapped as the DER PrivateKeyInfo).

``encode`` reads a private key object's attributes; ``decode`` returns
the key type and the attributes the unwrapped object gets.  The key
type the caller names in the template must be the PKCS#8 algorithm's
(CKR_TEMPLATE_INCONSISTENT otherwise, checked by the template layer).
"""

from __future__ import annotations

from typing import Any

from craton_hsm._generated_ck import CKA, CKK
from craton_hsm.backend import pkcs8
from craton_hsm.errors import (
    CurveNotSupported,
    KeyNotWrappable,
    WrappedKeyInvalid,
)
from craton_hsm.mechanisms.checks import attr_bytes
from craton_hsm.mechanisms.ec_curves import (
    Family,
    by_name,
    curve_of,
    params_der,
)
from craton_hsm.mechanisms.registry import KeyLike

_FAMILY: dict[int, Family] = {CKK.EC: Family.WEIERSTRASS, CKK.EC_EDWARDS: Family.EDWARDS,
           CKK.EC_MONTGOMERY: Family.MONTGOMERY}
_RAW_TYPE = {"ed25519": CKK.EC_EDWARDS, "ed448": CKK.EC_EDWARDS,
             "x25519": CKK.EC_MONTGOMERY, "x448": CKK.EC_MONTGOMERY}


def _int(key: KeyLike, attr: int) -> int:
    return int.from_bytes(attr_bytes(key, attr), "big")


def _opt_int(key: KeyLike, attr: int) -> int | None:
    value = key.attrs.get(attr)
    return int.from_bytes(bytes(value), "big") if value else None


def _be(n: int) -> bytes:
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")


def encode(key: KeyLike) -> bytes:
    """The DER PrivateKeyInfo of a private key object."""
    key_type = key.attrs.get(CKA.KEY_TYPE)
    if key_type == CKK.RSA:
        return pkcs8.encode_rsa(
            _int(key, CKA.MODULUS), _int(key, CKA.PUBLIC_EXPONENT),
            _int(key, CKA.PRIVATE_EXPONENT), _opt_int(key, CKA.PRIME_1),
            _opt_int(key, CKA.PRIME_2))
    family = _FAMILY.get(int(key_type or -1))
    if family is None:
        raise KeyNotWrappable("no PKCS#8 form for this key type")
    curve = curve_of(key.attrs.get(CKA.EC_PARAMS), family)
    value = attr_bytes(key, CKA.VALUE)
    if family is Family.WEIERSTRASS:
        return pkcs8.encode_ec(curve.name, int.from_bytes(value, "big"))
    return pkcs8.encode_raw(curve.name, value)


def decode(der: bytes) -> tuple[int, dict[int, Any]]:
    """(CKK_*, material attributes) of a DER PrivateKeyInfo."""
    key = pkcs8.decode(der)
    if isinstance(key, pkcs8.RsaKey):
        n = key.numbers
        return int(CKK.RSA), {
            CKA.MODULUS: _be(n.n), CKA.PUBLIC_EXPONENT: _be(n.e),
            CKA.PRIVATE_EXPONENT: _be(n.d), CKA.PRIME_1: _be(n.p),
            CKA.PRIME_2: _be(n.q), CKA.EXPONENT_1: _be(n.dmp1),
            CKA.EXPONENT_2: _be(n.dmq1), CKA.COEFFICIENT: _be(n.iqmp)}
    try:
        curve = by_name(key.curve)
    except CurveNotSupported:
        raise WrappedKeyInvalid("PKCS#8 key on an unsupported curve") \
            from None
    if isinstance(key, pkcs8.EcKey):
        return int(CKK.EC), {
            CKA.EC_PARAMS: params_der(curve),
            CKA.VALUE: key.scalar.to_bytes(curve.size, "big")}
    return int(_RAW_TYPE[key.curve]), {CKA.EC_PARAMS: params_der(curve),
                                       CKA.VALUE: key.raw}
