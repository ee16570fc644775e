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


# Keys and PINs arrive as bytes, wipeable bytearrays or arena views
# (craton_hsm/secmem.py); cryptography takes any of them without a copy.
Buf = bytes | bytearray | memoryview


class AuthenticationFailed(Exception):
    """GCM tag mismatch; the caller turns it into a typed CKRError."""


def _pbkdf2(salt: bytes, iterations: int, length: int) -> PBKDF2HMAC:
    return PBKDF2HMAC(algorithm=hashes.SHA256(), length=length, salt=salt,
                      iterations=iterations)


def _argon2id(salt: bytes, iterations: int, lanes: int, memory_kib: int,
              length: int) -> Argon2id:
    return Argon2id(salt=salt, length=length, iterations=iterations,
                    lanes=lanes, memory_cost=memory_kib)


def pbkdf2_sha256_into(password: Buf, salt: bytes, iterations: int,
                       out: memoryview) -> None:
    """PBKDF2 with HMAC-SHA256 as PRF (SP 800-132 5.3), written into
    ``out`` (an arena slice): no immutable copy of the derived key is
    left in Python's heap."""
    _pbkdf2(salt, iterations, len(out)).derive_into(password, out)


def argon2id_into(password: Buf, salt: bytes, iterations: int, lanes: int,
                  memory_kib: int, out: memoryview) -> None:
    """Argon2id (RFC 9106 section 3.1): ``iterations`` passes over
    ``memory_kib`` KiB in ``lanes`` lanes, written into ``out``."""
    # The stub says bytes; the binding takes any buffer (checked).
    _argon2id(salt, iterations, lanes, memory_kib,
              len(out)).derive_into(password, out)  # type: ignore[arg-type]


def gcm_encrypt(key: Buf, nonce: bytes, plaintext: Buf,
                aad: bytes) -> bytes:
    """AES-256-GCM; returns ciphertext || 16-byte tag."""
    return AESGCM(key).encrypt(nonce, plaintext, aad)


def gcm_decrypt(key: Buf, nonce: bytes, data: bytes,
                aad: bytes) -> bytes:
    """Inverse of ``gcm_encrypt``; raises AuthenticationFailed."""
    try:
        return AESGCM(key).decrypt(nonce, bytes(data), aad)
    except InvalidTag:
        raise AuthenticationFailed("GCM tag mismatch") from None


def gcm_decrypt_into(key: Buf, nonce: bytes, data: bytes, aad: bytes,
                     out: memoryview) -> None:
    """``gcm_decrypt`` written into ``out`` (exactly the plaintext
    length): the plaintext never exists as immutable bytes."""
    try:
        AESGCM(key).decrypt_into(nonce, data, aad, out)
    except InvalidTag:
        raise AuthenticationFailed("GCM tag mismatch") from None
