"""ECDH shared secrets (SP 800-56A rev. 3 section 5.7.1.2) and the
ANSI X9.63 key derivation function (SP 800-56A / SEC 1 section 3.6.1)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from craton_hsm.errors import DomainParamsInvalid

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
