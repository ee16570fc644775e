"""CKM_AES_GCM encryption and decryption (PKCS#11 v3.0 section 2.12.3;
SP 800-38D).

The output of encryption is ciphertext || tag.  Decryption buffers the
whole input: no plaintext may be released before the tag verifies
(SP 800-38D section 7.2), so C_DecryptUpdate returns nothing.
"""

from __future__ import annotations

from typing import Any

from craton_hsm.backend.symmetric import (
    GCM_IV_BYTES,
    AesKey,
    GcmEncryptor,
    gcm_decrypt,
    gcm_open,
    gcm_seal,
    gcm_seal_into,
)
from craton_hsm.errors import EncryptedDataLenRange, MechanismParamInvalid
from craton_hsm.mechanisms.params import GcmParams

# Tag lengths SP 800-38D section 5.2.1.2 permits.
TAG_BITS = frozenset({32, 64, 96, 104, 112, 120, 128})


def check(params: GcmParams) -> int:
    """Validate GCM parameters; returns the tag length in bytes."""
    if params.tag_bits not in TAG_BITS:
        raise MechanismParamInvalid("unsupported GCM tag length")
    if not GCM_IV_BYTES[0] <= len(params.iv) <= GCM_IV_BYTES[1]:
        raise MechanismParamInvalid("unsupported GCM IV length")
    # ulIvBits (v3.0) is 0 in the legacy 2.40 layout; otherwise it must
    # agree with ulIvLen.
    if params.iv_bits not in (0, 8 * len(params.iv)):
        raise MechanismParamInvalid("ulIvBits disagrees with ulIvLen")
    return params.tag_bits // 8


# The tag length of the backend's one-shot GCM (the common case; a
# shorter tag takes the streaming context and is truncated).
FULL_TAG = 16


class GcmEncrypt:
    """A single-part C_Encrypt seals in one backend call, straight into
    the caller's buffer when it is large enough; the streaming context
    is made only when C_EncryptUpdate is used (issue 9)."""

    def __init__(self, key: AesKey, params: GcmParams) -> None:
        self._tag_len = check(params)
        self._key = key
        self._params = params
        self._ctx: GcmEncryptor | None = None

    def _stream(self) -> GcmEncryptor:
        if self._ctx is None:
            self._ctx = GcmEncryptor(self._key, self._params.iv,
                                     self._params.aad)
        return self._ctx

    def update(self, data: Any) -> bytes:
        return self._stream().update(data)

    def update_into(self, data: Any, out: Any) -> int:
        return self._stream().update_into(data, out)

    def final(self) -> bytes:
        return self._stream().finalize()[: self._tag_len]

    def one_shot(self, data: Any) -> bytes:
        if self._ctx is None and self._tag_len == FULL_TAG:
            return gcm_seal(self._key, self._params.iv, self._params.aad,
                            data)
        return self.update(data) + self.final()

    def one_shot_into(self, data: Any, out: Any) -> int:
        """``out`` holds at least one_shot_size bytes; in-place (``out``
        over ``data``) works: OpenSSL's GCM reads each block before it
        writes it."""
        n = len(data)
        if self._ctx is None and self._tag_len == FULL_TAG:
            gcm_seal_into(self._key, self._params.iv, self._params.aad,
                          data, memoryview(out)[: n + FULL_TAG])
            return n + FULL_TAG
        k = self.update_into(data, out)
        tag = self.final()
        out[k:k + len(tag)] = tag
        return k + len(tag)

    def update_size(self, n: int) -> int:
        return n

    def final_size(self) -> int:
        return self._tag_len

    def one_shot_size(self, n: int) -> int:
        return n + self._tag_len


class GcmDecrypt:
    def __init__(self, key: AesKey, params: GcmParams) -> None:
        self._tag_len = check(params)
        self._key = key
        self._params = params
        self._buf = bytearray()  # amortised O(1) appends

    def update(self, data: Any) -> bytes:
        self._buf += data
        return b""

    def _open(self, data: Any) -> bytes:
        if len(data) < self._tag_len:
            raise EncryptedDataLenRange("shorter than the tag")
        p = self._params
        if self._tag_len == FULL_TAG:
            return gcm_open(self._key, p.iv, p.aad, data)
        cut = len(data) - self._tag_len
        view = memoryview(data)
        return gcm_decrypt(self._key, p.iv, p.aad, view[:cut],
                           bytes(view[cut:]))

    def final(self) -> bytes:
        buf, self._buf = self._buf, bytearray()
        return self._open(buf)

    def one_shot(self, data: Any) -> bytes:
        if not self._buf:
            # Nothing buffered: open the caller's input where it is.
            return self._open(data)
        self._buf += data
        return self.final()

    def update_size(self, n: int) -> int:
        return 0

    def final_size(self) -> int:
        return max(0, len(self._buf) - self._tag_len)

    def one_shot_size(self, n: int) -> int:
        return max(0, n - self._tag_len)
