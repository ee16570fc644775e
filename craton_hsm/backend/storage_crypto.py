"""Storage cryptography: PBKDF2-HMAC-SHA256, Argon2id and AES-256-GCM.

SP 800-132 (PBKDF2 for PIN hashing and the key-encryption key), RFC
9106 (Argon2id, the leading-edge profile's password KDF) and SP
800-38D (GCM for the master-key vault and sealed object secrets).
The core's PIN and vault modules call only these functions,
so ``cryptography`` stays inside ``craton_hsm.backend`` (STYLE R5).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

AES256_KEY_BYTES = 32
GCM_NONCE_BYTES = 12   # SP 800-38D 8.2: 96-bit IVs for random IVs.
GCM_TAG_BYTES = 16


class AuthenticationFailed(Exception):
    """GCM tag mismatch; the caller turns it into a typed CKRError."""


def pbkdf2_sha256(password: bytes | bytearray, salt: bytes, iterations: int,
                  length: int) -> bytes:
    """PBKDF2 with HMAC-SHA256 as PRF (SP 800-132 5.3)."""
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=length, salt=salt,
                     iterations=iterations)
    return kdf.derive(bytes(password))


def argon2id(password: bytes | bytearray, salt: bytes, iterations: int,
             lanes: int, memory_kib: int, length: int) -> bytes:
    """Argon2id (RFC 9106 section 3.1): ``iterations`` passes over
    ``memory_kib`` KiB in ``lanes`` lanes."""
    kdf = Argon2id(salt=salt, length=length, iterations=iterations,
                   lanes=lanes, memory_cost=memory_kib)
    return kdf.derive(bytes(password))


def gcm_encrypt(key: bytes | bytearray, nonce: bytes, plaintext: bytes,
                aad: bytes) -> bytes:
    """AES-256-GCM; returns ciphertext || 16-byte tag."""
    return AESGCM(bytes(key)).encrypt(nonce, bytes(plaintext), aad)


def gcm_decrypt(key: bytes | bytearray, nonce: bytes, data: bytes,
                aad: bytes) -> bytes:
    """Inverse of ``gcm_encrypt``; raises AuthenticationFailed."""
    try:
        return AESGCM(bytes(key)).decrypt(nonce, bytes(data), aad)
    except InvalidTag:
        raise AuthenticationFailed("GCM tag mismatch") from None
