"""ECDH shared secrets (SP 800-56A rev. 3 section 5.7.1.2), X25519 and
X448 (RFC 7748) and the ANSI X9.63 key derivation function (SP 800-56A /
SEC 1 section 3.6.1)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
)

from craton_hsm.errors import (
    DomainParamsInvalid,
    KeyTypeInconsistent,
    MechanismParamInvalid,
)

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
    "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}


def shared_secret(private: ec.EllipticCurvePrivateKey,
                  peer: ec.EllipticCurvePublicKey) -> bytes:
    """Z, the x-coordinate of d * Q (cofactor 1 on every curve we offer,
    so the cofactor variant gives the same value)."""
    if private.curve.name != peer.curve.name:
        raise DomainParamsInvalid("peer key is on another curve")
    return private.exchange(ec.ECDH(), peer)


def x963(hash_name: str, secret: bytes, length: int,
         shared_info: bytes) -> bytes:
    kdf = X963KDF(algorithm=_HASHES[hash_name](), length=length,
                  sharedinfo=shared_info or None)
    return kdf.derive(secret)


# -- X25519 and X448 (RFC 7748) ---------------------------------------------

XPrivateKey = x25519.X25519PrivateKey | x448.X448PrivateKey

def x_public(curve: str, raw: bytes) -> bytes:
    """The raw public u-coordinate of a raw private key (RFC 7748 section
    5: the private key is random bytes, here from the DRBG, clamped by
    the scalar multiplication itself)."""
    return load_x_private(curve, raw).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)


def load_x_private(curve: str, raw: bytes) -> XPrivateKey:
    try:
        if curve == "x25519":
            return x25519.X25519PrivateKey.from_private_bytes(raw)
        return x448.X448PrivateKey.from_private_bytes(raw)
    except (ValueError, TypeError):
        raise KeyTypeInconsistent("invalid Montgomery private key") from None


def x_shared_secret(private: XPrivateKey, peer: bytes) -> bytes:
    """RFC 7748 section 6: the u-coordinate of the product.  A peer key
    of the wrong length, or one of small order (all-zero result, which
    section 6.1 says to check for), is refused."""
    try:
        if isinstance(private, x25519.X25519PrivateKey):
            return private.exchange(
                x25519.X25519PublicKey.from_public_bytes(peer))
        return private.exchange(x448.X448PublicKey.from_public_bytes(peer))
    except ValueError:
        raise MechanismParamInvalid(
            "peer public value invalid or of small order") from None
