"""AES-CCM (PKCS#11 v3.0 section 2.12.4, CK_CCM_PARAMS; SP 800-38C) and
ChaCha20-Poly1305 (section 2.46, CK_SALSA20_CHACHA20_POLY1305_PARAMS;
RFC 8439) encryption and decryption, with ChaCha20 key generation.

Both buffer the message: the backend seals and opens whole messages, and
decryption may release no plaintext before the tag verifies.  CCM's
ulDataLen is the plaintext length in both directions; decryption input
is ulDataLen + ulMACLen bytes (section 2.12.4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from craton_hsm import drbg
from craton_hsm._generated_ck import CKA, CKF, CKK, CKM
from craton_hsm.backend import aead
from craton_hsm.errors import (
    DataLenRange,
    EncryptedDataLenRange,
    KeySizeRange,
    MechanismParamInvalid,
)
from craton_hsm.mechanisms.aes import KEY_BYTES, KEY_TYPES, aes_key
from craton_hsm.mechanisms.checks import (
    attr_bytes,
    keyed,
    no_params,
    params_of,
)
from craton_hsm.mechanisms.message import with_messages
from craton_hsm.mechanisms.params import CcmParams, ChaCha20Poly1305Params
from craton_hsm.mechanisms.registry import (
    Factory,
    KeyLike,
    MechSpec,
    Op,
    ParamKind,
)

CHACHA_KEY_TYPES = frozenset({CKK.CHACHA20})
# ChaCha20 keys are fixed at 256 bits; reported in bytes like AES.
CHACHA_KEY_BYTES = (aead.CHACHA_KEY_BYTES, aead.CHACHA_KEY_BYTES)
CRYPT = CKF.ENCRYPT | CKF.DECRYPT
BOTH = frozenset({Op.ENCRYPT, Op.DECRYPT})


class BufferedAead:
    """Collects the whole input, then seals or opens it at final.

    ``delta`` is the output length minus the input length (+tag when
    encrypting, -tag when decrypting); ``expect`` is the exact input
    length when the parameters fix it (CCM), else None.
    """

    def __init__(self, run: Callable[[bytes], bytes], delta: int,
                 expect: int | None, encrypt: bool) -> None:
        self._run = run
        self._delta = delta
        self._expect = expect
        self._encrypt = encrypt
        self._buf = bytearray()

    def _too_long(self, n: int) -> None:
        if self._expect is not None and n > self._expect:
            self._length_error()

    def _length_error(self) -> None:
        if self._encrypt:
            raise DataLenRange("input length differs from ulDataLen")
        raise EncryptedDataLenRange("input length differs from parameters")

    def update(self, data: bytes) -> bytes:
        self._too_long(len(self._buf) + len(data))
        self._buf += data
        return b""

    def final(self) -> bytes:
        buf, self._buf = bytes(self._buf), bytearray()
        if self._expect is not None and len(buf) != self._expect:
            self._length_error()
        if len(buf) + self._delta < 0:
            raise EncryptedDataLenRange("shorter than the tag")
        return self._run(buf)

    def one_shot(self, data: bytes) -> bytes:
        self._too_long(len(self._buf) + len(data))
        self._buf += data
        return self.final()

    def update_size(self, n: int) -> int:
        return 0

    def final_size(self) -> int:
        return max(0, len(self._buf) + self._delta)

    def one_shot_size(self, n: int) -> int:
        return max(0, len(self._buf) + n + self._delta)


def _ccm_params(params: object) -> CcmParams:
    p = params_of(params, CcmParams)
    lo, hi = aead.CCM_NONCE_BYTES
    if not lo <= len(p.nonce) <= hi:
        raise MechanismParamInvalid("CCM nonce must be 7..13 bytes")
    if p.mac_len not in aead.CCM_TAG_BYTES:
        raise MechanismParamInvalid("CCM MAC length must be 4..16, even")
    # The length field has 15 - nonce bytes (SP 800-38C A.1).
    if p.data_len >= 1 << (8 * (15 - len(p.nonce))):
        raise MechanismParamInvalid("ulDataLen too large for the nonce")
    return p


def _ccm(encrypt: bool) -> Factory:
    def make(key: KeyLike | None, params: object) -> BufferedAead:
        p = _ccm_params(params)
        k = aes_key(key)
        if encrypt:
            return BufferedAead(
                lambda d: aead.ccm_encrypt(k, p.nonce, p.aad, d, p.mac_len),
                p.mac_len, p.data_len, True)
        return BufferedAead(
            lambda d: aead.ccm_decrypt(k, p.nonce, p.aad, d, p.mac_len),
            -p.mac_len, p.data_len + p.mac_len, False)
    return make


def chacha_key(key: KeyLike | None) -> bytes:
    value = attr_bytes(keyed(key, CHACHA_KEY_TYPES), CKA.VALUE)
    if len(value) != aead.CHACHA_KEY_BYTES:
        raise KeySizeRange("ChaCha20 keys are 32 bytes")
    return value


def _chacha(encrypt: bool) -> Factory:
    def make(key: KeyLike | None, params: object) -> BufferedAead:
        p = params_of(params, ChaCha20Poly1305Params)
        # The 8-byte nonce of the original ChaCha20 is legal in the
        # structure but the backend implements only RFC 8439.
        if len(p.nonce) != aead.CHACHA_NONCE_BYTES:
            raise MechanismParamInvalid("only 12-byte nonces supported")
        k = chacha_key(key)
        if encrypt:
            return BufferedAead(
                lambda d: aead.chacha_encrypt(k, p.nonce, p.aad, d),
                16, None, True)
        return BufferedAead(
            lambda d: aead.chacha_decrypt(k, p.nonce, p.aad, d),
            -16, None, False)
    return make


class ChaChaKeyGenerator:
    """CKM_CHACHA20_KEY_GEN: 32 bytes from the DRBG; CKA_VALUE_LEN, if
    given, must say 32."""

    def generate(self, template: Mapping[int, Any]) -> dict[int, Any]:
        n = template.get(CKA.VALUE_LEN, aead.CHACHA_KEY_BYTES)
        if int(n) != aead.CHACHA_KEY_BYTES:
            raise KeySizeRange("ChaCha20 keys are 32 bytes")
        return {CKA.VALUE: drbg.random_bytes(aead.CHACHA_KEY_BYTES),
                CKA.VALUE_LEN: aead.CHACHA_KEY_BYTES}


def _chacha_gen(key: KeyLike | None, params: object) -> ChaChaKeyGenerator:
    no_params(params)
    return ChaChaKeyGenerator()


SPECS: tuple[MechSpec, ...] = (
    with_messages(MechSpec(
        CKM.AES_CCM, CRYPT, key_size=KEY_BYTES, key_types=KEY_TYPES,
        approved=True, params=ParamKind.CCM,
        ops={Op.ENCRYPT: _ccm(True), Op.DECRYPT: _ccm(False)},
        multipart=BOTH), ParamKind.CCM_MESSAGE, aes_key),
    # ChaCha20-Poly1305 is not a FIPS 140-3 approved algorithm.
    MechSpec(CKM.CHACHA20_KEY_GEN, CKF.GENERATE, key_size=CHACHA_KEY_BYTES,
             key_types=CHACHA_KEY_TYPES, approved=False,
             ops={Op.GENERATE: _chacha_gen}),
    with_messages(MechSpec(
        CKM.CHACHA20_POLY1305, CRYPT, key_size=CHACHA_KEY_BYTES,
        key_types=CHACHA_KEY_TYPES, approved=False,
        params=ParamKind.CHACHA20_POLY1305,
        ops={Op.ENCRYPT: _chacha(True), Op.DECRYPT: _chacha(False)},
        multipart=BOTH), ParamKind.CHACHA20_POLY1305_MESSAGE, chacha_key),
)
