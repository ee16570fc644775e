"""One-shot AEAD and CMAC adapters: AES-CCM (SP 800-38C), ChaCha20-Poly1305
(RFC 8439) and AES-CMAC (SP 800-38B).

The AEAD calls take whole messages: OpenSSL's CCM cannot stream, and no
plaintext may leave decryption before the tag verifies.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import aead, algorithms

from craton_hsm.errors import EncryptedDataInvalid

CCM_NONCE_BYTES = (7, 13)          # SP 800-38C appendix A.1
CCM_TAG_BYTES = frozenset({4, 6, 8, 10, 12, 14, 16})
CHACHA_NONCE_BYTES = 12            # RFC 8439 section 2.8 only
CHACHA_KEY_BYTES = 32


def ccm_encrypt(key: bytes, nonce: bytes, aad: bytes, data: bytes,
                tag_len: int) -> bytes:
    """Ciphertext || tag."""
    return aead.AESCCM(key, tag_len).encrypt(nonce, data, aad)


def ccm_decrypt(key: bytes, nonce: bytes, aad: bytes, data: bytes,
                tag_len: int) -> bytes:
    try:
        return aead.AESCCM(key, tag_len).decrypt(nonce, data, aad)
    except InvalidTag:
        raise EncryptedDataInvalid("authentication failed") from None


def chacha_encrypt(key: bytes, nonce: bytes, aad: bytes,
                   data: bytes) -> bytes:
    """Ciphertext || 16-byte tag."""
    return aead.ChaCha20Poly1305(key).encrypt(nonce, data, aad)


def chacha_decrypt(key: bytes, nonce: bytes, aad: bytes,
                   data: bytes) -> bytes:
    try:
        return aead.ChaCha20Poly1305(key).decrypt(nonce, data, aad)
    except InvalidTag:
        raise EncryptedDataInvalid("authentication failed") from None


class Cmac:
    """An incremental AES-CMAC context; the key stays inside OpenSSL."""

    def __init__(self, key: bytes) -> None:
        self._ctx = cmac.CMAC(algorithms.AES(key))

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def finalize(self) -> bytes:
        return self._ctx.finalize()
