"""AES adapters: ECB, CBC, CTR and GCM contexts and PKCS#7 unpadding
(FIPS 197, SP 800-38A, SP 800-38D).

Contexts are fed whole blocks by the mechanisms layer (except CTR/GCM,
which stream), so no plaintext is buffered here.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from craton_hsm.errors import EncryptedDataInvalid

BLOCK = 16
GCM_IV_BYTES = (8, 128)  # what OpenSSL's GCM accepts
GCM_MIN_TAG = 4


class Context:
    """An AES encryptor or decryptor."""

    def __init__(self, key: bytes, mode: modes.Mode, encrypt: bool) -> None:
        cipher: Cipher[Any] = Cipher(algorithms.AES(key), mode)
        self._ctx: Any = cipher.encryptor() if encrypt else cipher.decryptor()

    def update(self, data: bytes) -> bytes:
        return bytes(self._ctx.update(data))

    def finalize(self) -> bytes:
        return bytes(self._ctx.finalize())


def ecb(key: bytes, encrypt: bool) -> Context:
    return Context(key, modes.ECB(), encrypt)


def cbc(key: bytes, iv: bytes, encrypt: bool) -> Context:
    return Context(key, modes.CBC(iv), encrypt)


def ctr(key: bytes, counter_block: bytes) -> Context:
    return Context(key, modes.CTR(counter_block), True)


class GcmEncryptor:
    """Streaming GCM encryption; ``finalize`` returns the full tag."""

    def __init__(self, key: bytes, iv: bytes, aad: bytes) -> None:
        cipher = Cipher(algorithms.AES(key), modes.GCM(iv))
        self._ctx = cipher.encryptor()
        self._ctx.authenticate_additional_data(aad)

    def update(self, data: bytes) -> bytes:
        return self._ctx.update(data)

    def finalize(self) -> bytes:
        self._ctx.finalize()
        return self._ctx.tag


def gcm_decrypt(key: bytes, iv: bytes, aad: bytes, ciphertext: bytes,
                tag: bytes) -> bytes:
    """One-shot GCM decryption; plaintext only after the tag verifies."""
    mode = modes.GCM(iv, tag, min_tag_length=GCM_MIN_TAG)
    ctx = Cipher(algorithms.AES(key), mode).decryptor()
    ctx.authenticate_additional_data(aad)
    plain = ctx.update(ciphertext)
    try:
        ctx.finalize()
    except InvalidTag:
        raise EncryptedDataInvalid("authentication failed") from None
    return plain


def pkcs7_unpad(data: bytes) -> bytes:
    """Remove PKCS#7 padding; one generic error for every failure so the
    caller learns nothing about where the padding broke."""
    ctx = padding.PKCS7(BLOCK * 8).unpadder()
    try:
        return ctx.update(data) + ctx.finalize()
    except ValueError:
        raise EncryptedDataInvalid("decryption failed") from None


def pkcs7_pad(data: bytes) -> bytes:
    ctx = padding.PKCS7(BLOCK * 8).padder()
    return ctx.update(data) + ctx.finalize()
