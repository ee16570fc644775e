"""Post-quantum adapters: ML-DSA (FIPS 204) and ML-KEM (FIPS 203).

pyca/cryptography keeps private keys in seed form only (the 32-byte xi
of ML-DSA, the 64-byte d || z of ML-KEM) and never exposes the expanded
private key, so the seed is the one private representation used here.
Signing is hedged (randomised); there is no deterministic variant and
no pre-hash (HashML-DSA) variant.  ML-KEM-512 is not offered.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem

from craton_hsm.errors import (
    EncryptedDataInvalid,
    KeyTypeInconsistent,
    SignatureInvalid,
)

# Parameter set name -> (private class, public class, signature size).
_DSA: dict[str, tuple[Any, Any, int]] = {
    "ML-DSA-44": (mldsa.MLDSA44PrivateKey, mldsa.MLDSA44PublicKey, 2420),
    "ML-DSA-65": (mldsa.MLDSA65PrivateKey, mldsa.MLDSA65PublicKey, 3309),
    "ML-DSA-87": (mldsa.MLDSA87PrivateKey, mldsa.MLDSA87PublicKey, 4627),
}
# Parameter set name -> (private class, public class, ciphertext size).
_KEM: dict[str, tuple[Any, Any, int]] = {
    "ML-KEM-768": (mlkem.MLKEM768PrivateKey, mlkem.MLKEM768PublicKey, 1088),
    "ML-KEM-1024": (mlkem.MLKEM1024PrivateKey, mlkem.MLKEM1024PublicKey,
                    1568),
}
DSA_SEED_LEN = 32
KEM_SEED_LEN = 64
KEM_SECRET_LEN = 32


def signature_size(name: str) -> int:
    return _DSA[name][2]


def ciphertext_size(name: str) -> int:
    return _KEM[name][2]


def _load_priv(table: dict[str, tuple[Any, Any, int]], name: str,
               seed: bytes) -> Any:
    try:
        return table[name][0].from_seed_bytes(seed)
    except ValueError:
        raise KeyTypeInconsistent(f"{name} seed malformed") from None


def _load_pub(table: dict[str, tuple[Any, Any, int]], name: str,
              raw: bytes) -> Any:
    try:
        return table[name][1].from_public_bytes(raw)
    except ValueError:
        raise KeyTypeInconsistent(f"{name} public key malformed") from None


def public_from_seed_dsa(name: str, seed: bytes) -> bytes:
    return bytes(_load_priv(_DSA, name, seed).public_key().public_bytes_raw())


def public_from_seed_kem(name: str, seed: bytes) -> bytes:
    return bytes(_load_priv(_KEM, name, seed).public_key().public_bytes_raw())


def load_dsa_private(name: str, seed: bytes) -> Any:
    return _load_priv(_DSA, name, seed)


def load_dsa_public(name: str, raw: bytes) -> Any:
    return _load_pub(_DSA, name, raw)


def sign_dsa(key: Any, data: bytes, context: bytes) -> bytes:
    return bytes(key.sign(data, context))


def verify_dsa(key: Any, signature: bytes, data: bytes,
               context: bytes) -> None:
    try:
        key.verify(signature, data, context)
    except InvalidSignature:
        raise SignatureInvalid("ML-DSA signature invalid") from None


def load_kem_private(name: str, seed: bytes) -> Any:
    return _load_priv(_KEM, name, seed)


def load_kem_public(name: str, raw: bytes) -> Any:
    return _load_pub(_KEM, name, raw)


def encapsulate(key: Any) -> tuple[bytes, bytes]:
    """(ciphertext, shared secret)."""
    secret, ct = key.encapsulate()
    return bytes(ct), bytes(secret)


def decapsulate(key: Any, ciphertext: bytes) -> bytes:
    try:
        return bytes(key.decapsulate(ciphertext))
    except ValueError:
        raise EncryptedDataInvalid("ML-KEM ciphertext malformed") from None
