"""AES adapters: ECB, CBC, CTR and GCM contexts and PKCS#7 unpadding
(FIPS 197, SP 800-38A, SP 800-38D).

Contexts are fed whole blocks by the mechanisms layer (except CTR/GCM,
which stream), so no plaintext is buffered here.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.bindings._rust import openssl as rust_openssl
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from craton_hsm.errors import EncryptedDataInvalid

_ciphers = rust_openssl.ciphers

BLOCK = 16
GCM_IV_BYTES = (8, 128)  # what OpenSSL's GCM accepts
GCM_MIN_TAG = 4


class AesKey:
    """One AES key as the backend uses it, made once per key object and
    kept in its ``cache`` (cleared when an attribute changes or the
    object is destroyed): the raw value, the validated cipher algorithm
    and, on first use, the one-shot GCM context, so an operation does
    not validate and copy the key again (issue 9)."""

    __slots__ = ("_gcm", "algorithm", "value")

    def __init__(self, value: bytes) -> None:
        self.value = value
        self.algorithm = algorithms.AES(value)
        self._gcm: AESGCM | None = None

    @property
    def gcm(self) -> AESGCM:
        if self._gcm is None:
            self._gcm = AESGCM(self.value)
        return self._gcm


KeyArg = bytes | AesKey


def _algorithm(key: KeyArg) -> algorithms.AES:
    return key.algorithm if isinstance(key, AesKey) else algorithms.AES(key)


class Context:
    """An AES encryptor or decryptor."""

    def __init__(self, key: KeyArg, mode: modes.Mode, encrypt: bool) -> None:
        # What Cipher(...).encryptor() runs, without the wrapper object
        # made and dropped per operation (issue 9); the mode's own check
        # (IV length) still runs.
        algorithm = _algorithm(key)
        mode.validate_for_algorithm(algorithm)
        self._ctx: Any = (_ciphers.create_encryption_ctx if encrypt else
                          _ciphers.create_decryption_ctx)(algorithm, mode)

    def update(self, data: Any) -> bytes:
        return bytes(self._ctx.update(data))

    def update_into(self, data: Any, out: Any) -> int:
        """Output written into ``out`` (OpenSSL's block modes want room
        for len(data) + 15 bytes); returns its length."""
        n: int = self._ctx.update_into(data, out)
        return n

    def finalize(self) -> bytes:
        return bytes(self._ctx.finalize())


def ecb(key: KeyArg, encrypt: bool) -> Context:
    return Context(key, modes.ECB(), encrypt)


def cbc(key: KeyArg, iv: bytes, encrypt: bool) -> Context:
    return Context(key, modes.CBC(iv), encrypt)


def ctr(key: KeyArg, counter_block: bytes) -> Context:
    return Context(key, modes.CTR(counter_block), True)


class GcmEncryptor:
    """Streaming GCM encryption; ``finalize`` returns the full tag."""

    def __init__(self, key: KeyArg, iv: bytes, aad: bytes) -> None:
        cipher = Cipher(_algorithm(key), modes.GCM(iv))
        self._ctx = cipher.encryptor()
        self._ctx.authenticate_additional_data(aad)

    def update(self, data: bytes) -> bytes:
        return self._ctx.update(data)

    def update_into(self, data: Any, out: Any) -> int:
        n: int = self._ctx.update_into(data, out)
        return n

    def finalize(self) -> bytes:
        self._ctx.finalize()
        return self._ctx.tag


def gcm_seal_into(key: AesKey, iv: bytes, aad: bytes, data: Any,
                  out: Any) -> None:
    """One-shot GCM encryption with a 16-byte tag: ciphertext || tag
    written into ``out``, exactly len(data) + 16 bytes."""
    key.gcm.encrypt_into(iv, data, aad, out)


def gcm_seal(key: AesKey, iv: bytes, aad: bytes, data: Any) -> bytes:
    """One-shot GCM encryption: ciphertext || 16-byte tag."""
    return key.gcm.encrypt(iv, data, aad)


def gcm_open(key: AesKey, iv: bytes, aad: bytes, data: Any) -> bytes:
    """One-shot GCM decryption of ciphertext || 16-byte tag; plaintext
    only after the tag verifies."""
    try:
        return key.gcm.decrypt(iv, data, aad)
    except InvalidTag:
        raise EncryptedDataInvalid("authentication failed") from None


def gcm_decrypt(key: KeyArg, iv: bytes, aad: bytes, ciphertext: Any,
                tag: bytes) -> bytes:
    """One-shot GCM decryption; plaintext only after the tag verifies."""
    mode = modes.GCM(iv, tag, min_tag_length=GCM_MIN_TAG)
    ctx = Cipher(_algorithm(key), mode).decryptor()
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
