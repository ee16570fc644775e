"""CKM_AES_GCM encryption and decryption (PKCS#11 v3.0 section 2.12.3;
SP 800-38D).

The output of encryption is ciphertext || tag.  Decryption buffers the
whole input: no plaintext may be released before the tag verifies
(SP 800-38D section 7.2), so C_DecryptUpdate returns nothing.
"""

from __future__ import annotations

from craton_hsm.backend.symmetric import (
    GCM_IV_BYTES,
    GcmEncryptor,
    gcm_decrypt,
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


class GcmEncrypt:
    def __init__(self, key: bytes, params: GcmParams) -> None:
        self._tag_len = check(params)
        self._ctx = GcmEncryptor(key, params.iv, params.aad)

    def update(self, data: bytes) -> bytes:
        return self._ctx.update(data)

    def final(self) -> bytes:
        return self._ctx.finalize()[: self._tag_len]

    def one_shot(self, data: bytes) -> bytes:
        return self.update(data) + self.final()

    def update_size(self, n: int) -> int:
        return n

    def final_size(self) -> int:
        return self._tag_len

    def one_shot_size(self, n: int) -> int:
        return n + self._tag_len


class GcmDecrypt:
    def __init__(self, key: bytes, params: GcmParams) -> None:
        self._tag_len = check(params)
        self._key = key
        self._params = params
        self._buf = bytearray()  # amortised O(1) appends

    def update(self, data: bytes) -> bytes:
        self._buf += data
        return b""

    def final(self) -> bytes:
        buf, self._buf = bytes(self._buf), bytearray()
        if len(buf) < self._tag_len:
            raise EncryptedDataLenRange("shorter than the tag")
        cut = len(buf) - self._tag_len
        return gcm_decrypt(self._key, self._params.iv, self._params.aad,
                           buf[:cut], buf[cut:])

    def one_shot(self, data: bytes) -> bytes:
        self._buf += data
        return self.final()

    def update_size(self, n: int) -> int:
        return 0

    def final_size(self) -> int:
        return max(0, len(self._buf) - self._tag_len)

    def one_shot_size(self, n: int) -> int:
        return max(0, n - self._tag_len)
