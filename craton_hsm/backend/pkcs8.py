"""PKCS#8 PrivateKeyInfo (RFC 5208 / RFC 5958 OneAsymmetricKey) DER for
RSA, EC, Edwards and Montgomery private keys: the form in which
C_WrapKey wraps a private key (PKCS#11 v3.0 section 5.18.5, Current
Mechanisms 2.1.x/2.3.x "private key ... BER-encoded PrivateKeyInfo").

Decoding accepts PrivateKeyInfo only (not the traditional PKCS#1 or
SEC 1 forms OpenSSL would also take) and answers every malformed or
unsupported input with CKR_WRAPPED_KEY_INVALID.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import (
    ec,
    ed448,
    ed25519,
    rsa,
    x448,
    x25519,
)

from craton_hsm.backend import ec as ec_backend
from craton_hsm.backend import rsa as rsa_backend
from craton_hsm.errors import KeyTypeInconsistent, WrappedKeyInvalid

_RawPrivate = (ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
               | x25519.X25519PrivateKey | x448.X448PrivateKey)
_DER = serialization.Encoding.DER
_PKCS8 = serialization.PrivateFormat.PKCS8
_RAW = serialization.Encoding.Raw
_RAW_FMT = serialization.PrivateFormat.Raw
_NONE = serialization.NoEncryption()

_RAW_LOADERS: dict[str, Callable[[bytes], _RawPrivate]] = {
    "ed25519": ed25519.Ed25519PrivateKey.from_private_bytes,
    "ed448": ed448.Ed448PrivateKey.from_private_bytes,
    "x25519": x25519.X25519PrivateKey.from_private_bytes,
    "x448": x448.X448PrivateKey.from_private_bytes,
}
_RAW_TYPES = (
    (ed25519.Ed25519PrivateKey, "ed25519"),
    (ed448.Ed448PrivateKey, "ed448"),
    (x25519.X25519PrivateKey, "x25519"),
    (x448.X448PrivateKey, "x448"),
)


@dataclass(frozen=True, repr=False)
class RsaKey:
    numbers: rsa_backend.Numbers


@dataclass(frozen=True, repr=False)
class EcKey:
    curve: str          # backend curve name (secp256r1 ...)
    scalar: int


@dataclass(frozen=True, repr=False)
class RawKey:
    curve: str          # ed25519, ed448, x25519, x448
    raw: bytes


Decoded = RsaKey | EcKey | RawKey


def encode_rsa(n: int, e: int, d: int, p: int | None,
               q: int | None) -> bytes:
    key = rsa_backend.load_private(n, e, d, p, q)
    return key.private_bytes(_DER, _PKCS8, _NONE)


def encode_ec(curve: str, scalar: int) -> bytes:
    return ec_backend.load_private(curve, scalar).private_bytes(
        _DER, _PKCS8, _NONE)


def encode_raw(curve: str, raw: bytes) -> bytes:
    try:
        key = _RAW_LOADERS[curve](raw)
    except (ValueError, TypeError):
        raise KeyTypeInconsistent("invalid private key value") from None
    return key.private_bytes(_DER, _PKCS8, _NONE)


def _is_private_key_info(der: bytes) -> bool:
    # Imported on the first unwrap, not at C_Initialize: asn1crypto
    # brings socket, ipaddress, urllib and unicodedata along (issue 9,
    # RSS), and only C_UnwrapKey of a private key reads PKCS#8.
    from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
    try:
        info = asn1_keys.PrivateKeyInfo.load(der, strict=True)
        version = info["version"].native
        algorithm = info["private_key_algorithm"]["algorithm"].native
    except (ValueError, TypeError, KeyError):
        return False
    return version in (0, 1, "v1", "v2") and bool(algorithm)


def decode(der: bytes) -> Decoded:
    """The key inside a PrivateKeyInfo."""
    if not _is_private_key_info(der):
        raise WrappedKeyInvalid("not a PKCS#8 PrivateKeyInfo")
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise WrappedKeyInvalid("unreadable PrivateKeyInfo") from None
    if isinstance(key, rsa.RSAPrivateKey):
        pn = key.private_numbers()
        return RsaKey(rsa_backend.Numbers(
            pn.public_numbers.n, pn.public_numbers.e, pn.d, pn.p, pn.q,
            pn.dmp1, pn.dmq1, pn.iqmp))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return EcKey(key.curve.name, key.private_numbers().private_value)
    for cls, name in _RAW_TYPES:
        if isinstance(key, cls):
            return RawKey(name, key.private_bytes(_RAW, _RAW_FMT, _NONE))
    raise WrappedKeyInvalid("unsupported private key algorithm")
