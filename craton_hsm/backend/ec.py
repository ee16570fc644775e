"""Elliptic-curve adapters: ECDSA over NIST prime curves, secp256k1 and
the Brainpool curves (FIPS 186-5 section 6, SEC 1, RFC 5639) and EdDSA (RFC 8032, FIPS 186-5 section 7).

ECDSA signs a caller-supplied hash of any length: OpenSSL truncates it
to the group order's bit length as FIPS 186-5 section 6.4.1 requires.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
)

from craton_hsm.errors import KeyTypeInconsistent, SignatureInvalid

_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp224r1": ec.SECP224R1,
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
    "brainpoolP256r1": ec.BrainpoolP256R1,
    "brainpoolP384r1": ec.BrainpoolP384R1,
    "brainpoolP512r1": ec.BrainpoolP512R1,
}

EcPrivateKey = ec.EllipticCurvePrivateKey
EcPublicKey = ec.EllipticCurvePublicKey
EdPrivateKey = ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
EdPublicKey = ed25519.Ed25519PublicKey | ed448.Ed448PublicKey


class _RawDigest(hashes.HashAlgorithm):
    """A stand-in algorithm so a digest of any length can be signed as
    Prehashed (CKM_ECDSA takes whatever hash the caller computed)."""

    name = "raw-digest"
    block_size = None

    def __init__(self, size: int) -> None:
        self._size = size

    @property
    def digest_size(self) -> int:
        return self._size


_ECDSA: dict[int, ec.ECDSA] = {}


def _ecdsa(digest: bytes) -> ec.ECDSA:
    # One immutable parameter object per digest length (issue 9).
    n = len(digest)
    algo = _ECDSA.get(n)
    if algo is None:
        algo = _ECDSA[n] = ec.ECDSA(Prehashed(_RawDigest(n)))
    return algo


# Group orders n (SEC 2 section 2; FIPS 186-5 / SP 800-186 section 3;
# RFC 5639 section 3 "q"): the bound for a private scalar, which the
# caller draws from the module's DRBG (FIPS 186-5 A.2.2).
ORDERS: dict[str, int] = {name: int(n, 16) for name, n in {
    "secp224r1": "ffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3d",
    "secp256r1": "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc"
                 "632551",
    "secp384r1": "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4"
                 "372ddf581a0db248b0a77aecec196accc52973",
    "secp521r1": "01ff" + "ffffffff" * 7 + "fffffffa51868783bf2f966b7fcc0148"
                 "f709a5d03bb5c9b8899c47aebb6fb71e91386409",
    "secp256k1": "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0"
                 "364141",
    "brainpoolP256r1": "a9fb57dba1eea9bc3e660a909d838d718c397aa3b561a6f7901e"
                       "0e82974856a7",
    "brainpoolP384r1": "8cb91e82a3386d280f5d6f7e50e641df152f7109ed5456b31f16"
                       "6e6cac0425a7cf3ab6af6b7fc3103b883202e9046565",
    "brainpoolP512r1": "aadd9db8dbe9c48b3fd4e6ae33c9fc07cb308db3b3c9d20ed663"
                       "9cca70330870553e5c414ca92619418661197fac10471db1d381"
                       "085ddaddb58796829ca90069",
}.items()}


def public_point(curve: str, scalar: int) -> bytes:
    """The uncompressed public point d*G of a private scalar."""
    return encoded_point(load_private(curve, scalar))


def encoded_point(key: EcPrivateKey) -> bytes:
    """The uncompressed public point of a loaded private key."""
    return key.public_key().public_bytes(Encoding.X962,
                                         PublicFormat.UncompressedPoint)


def load_private(curve: str, scalar: int) -> EcPrivateKey:
    try:
        return ec.derive_private_key(scalar, _CURVES[curve]())
    except (ValueError, TypeError):
        raise KeyTypeInconsistent("invalid EC private key") from None


def load_public(curve: str, point: bytes) -> EcPublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(
            _CURVES[curve](), point)
    except (ValueError, TypeError):
        raise KeyTypeInconsistent("invalid EC public point") from None


def sign_ecdsa(key: EcPrivateKey, digest: bytes) -> tuple[int, int]:
    return decode_dss_signature(key.sign(digest, _ecdsa(digest)))


def verify_ecdsa(key: EcPublicKey, r: int, s: int, digest: bytes) -> None:
    try:
        key.verify(encode_dss_signature(r, s), digest, _ecdsa(digest))
    except InvalidSignature:
        raise SignatureInvalid("ECDSA signature invalid") from None


_ED_PRIVATE: dict[str, Callable[[bytes], EdPrivateKey]] = {
    "ed25519": ed25519.Ed25519PrivateKey.from_private_bytes,
    "ed448": ed448.Ed448PrivateKey.from_private_bytes,
}
_ED_PUBLIC: dict[str, Callable[[bytes], EdPublicKey]] = {
    "ed25519": ed25519.Ed25519PublicKey.from_public_bytes,
    "ed448": ed448.Ed448PublicKey.from_public_bytes,
}


def ed_public(curve: str, raw: bytes) -> bytes:
    """The raw public key of a raw private key (RFC 8032 section 5.1.5 /
    5.2.5: the private key is b random bits, here from the DRBG)."""
    return ed_public_of(load_ed_private(curve, raw))


def ed_public_of(key: EdPrivateKey) -> bytes:
    """The raw public key of a loaded EdDSA private key."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def load_ed_private(curve: str, raw: bytes) -> EdPrivateKey:
    try:
        return _ED_PRIVATE[curve](raw)
    except (ValueError, TypeError):
        raise KeyTypeInconsistent("invalid EdDSA private key") from None


def load_ed_public(curve: str, raw: bytes) -> EdPublicKey:
    try:
        return _ED_PUBLIC[curve](raw)
    except (ValueError, TypeError):
        raise KeyTypeInconsistent("invalid EdDSA public key") from None


def sign_ed(key: EdPrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def verify_ed(key: EdPublicKey, signature: bytes, data: bytes) -> None:
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise SignatureInvalid("EdDSA signature invalid") from None
