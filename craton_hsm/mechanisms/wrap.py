"""AES key wrap: CKM_AES_KEY_WRAP (RFC 3394) and CKM_AES_KEY_WRAP_KWP
(RFC 5649), PKCS#11 v3.0 Current Mechanisms section 2.14.

A wrap op turns a key value into wrapped bytes and back; which objects
may be wrapped (CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED, templates) is the
dispatch layer's business, and so is turning a private key into its
PKCS#8 PrivateKeyInfo (private_key_info.py).  The default ICVs are used: the optional IV
parameter is not accepted (ParamKind.NONE).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm._generated_ck import CKA, CKF, CKK, CKM
from craton_hsm.backend import keywrap
from craton_hsm.errors import (
    DataLenRange,
    EncryptedDataInvalid,
    EncryptedDataLenRange,
    KeySizeRange,
    TemplateIncomplete,
    TemplateInconsistent,
    WrappedKeyInvalid,
    WrappedKeyLenRange,
)
from craton_hsm.mechanisms.checks import attr_bytes, keyed, no_params
from craton_hsm.mechanisms.ops import CipherOp
from craton_hsm.mechanisms.registry import Factory, KeyLike, MechSpec, Op

KEY_TYPES = frozenset({CKK.AES})


# Key types whose value length the type itself fixes (for unwrapping
# with a zero-padding mechanism when the template has no CKA_VALUE_LEN).
FIXED_LENGTH = {CKK.CHACHA20: 32}
BLOCK = 16


def _check_len(value: bytes, template: Mapping[int, Any]) -> bytes:
    want = template.get(CKA.VALUE_LEN)
    if want is not None and int(want) != len(value):
        raise TemplateInconsistent("CKA_VALUE_LEN differs from the key")
    return value


class AesKeyWrap:
    # Section 2.14: KW/KWP wrap any key, private keys as PrivateKeyInfo.
    private_keys = True

    def __init__(self, kek: bytes, padded: bool) -> None:
        self._kek = kek
        self._padded = padded

    def wrap_size(self, n: int) -> int:
        if self._padded:
            return 8 + -(-n // 8) * 8
        return n + 8

    def wrap(self, value: bytes) -> bytes:
        # RFC 3394 wraps whole 64-bit blocks, at least two of them.
        if not self._padded and (len(value) % 8 or len(value) < 16):
            raise KeySizeRange("KW needs a multiple of 8 bytes, >= 16")
        return keywrap.wrap(self._kek, value, self._padded)

    def unwrap(self, wrapped: bytes) -> bytes:
        if len(wrapped) % 8 or len(wrapped) < (16 if self._padded else 24):
            raise WrappedKeyLenRange("wrapped key length invalid")
        return keywrap.unwrap(self._kek, wrapped, self._padded)

    def trim(self, value: bytes, template: Mapping[int, Any]) -> bytes:
        return _check_len(value, template)


class CipherWrap:
    """Wrapping by an encryption mechanism (spec 5.18.5: the key value is
    encrypted with the mechanism), e.g. RSA OAEP, AES CBC_PAD or GCM.

    ``zero_pad`` is the AES ECB/CBC rule (Current Mechanisms 2.10.x):
    the value is padded with up to 15 zero bytes on wrap, and cut back
    on unwrap to the template's CKA_VALUE_LEN (or the key type's fixed
    length).  ``private_keys`` says whether the mechanism may wrap a
    private key's PrivateKeyInfo (CBC_PAD, GCM: any length; RSA and the
    unpadded modes wrap secret keys only)."""

    def __init__(self, op: CipherOp, zero_pad: bool = False,
                 private_keys: bool = False) -> None:
        self._op = op
        self._zero_pad = zero_pad
        self.private_keys = private_keys

    def _padded(self, n: int) -> int:
        return -(-n // BLOCK) * BLOCK if self._zero_pad else n

    def wrap_size(self, n: int) -> int:
        return self._op.one_shot_size(self._padded(n))

    def wrap(self, value: bytes) -> bytes:
        value = value + bytes(self._padded(len(value)) - len(value))
        try:
            return self._op.one_shot(value)
        except DataLenRange:
            # C_WrapKey has no DATA_LEN_RANGE: the key is too long for
            # this wrapping key (e.g. RSA OAEP).
            raise KeySizeRange("key too long for the wrapping mechanism") \
                from None

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return self._op.one_shot(wrapped)
        except EncryptedDataInvalid:
            raise WrappedKeyInvalid("wrapped key failed to decrypt") \
                from None
        except EncryptedDataLenRange:
            raise WrappedKeyLenRange("wrapped key length invalid") \
                from None

    def trim(self, value: bytes, template: Mapping[int, Any]) -> bytes:
        if not self._zero_pad:
            return _check_len(value, template)
        if CKA.VALUE_LEN in template:
            n = int(template[CKA.VALUE_LEN])
        elif template.get(CKA.KEY_TYPE) in FIXED_LENGTH:
            n = FIXED_LENGTH[template[CKA.KEY_TYPE]]
        else:
            raise TemplateIncomplete("unwrapping a zero-padded key needs "
                                     "CKA_VALUE_LEN")
        if not 0 < n <= len(value) or len(value) - n >= BLOCK:
            raise WrappedKeyInvalid("CKA_VALUE_LEN does not fit the "
                                    "wrapped key")
        return value[:n]


def by_encryption(encrypt: Factory, decrypt: Factory, *,
                  zero_pad: bool = False,
                  private_keys: bool = False) -> dict[Op, Factory]:
    """Op.WRAP / Op.UNWRAP factories over a mechanism's cipher ops."""
    def wrap(key: KeyLike | None, params: object) -> CipherWrap:
        return CipherWrap(encrypt(key, params), zero_pad, private_keys)

    def unwrap(key: KeyLike | None, params: object) -> CipherWrap:
        return CipherWrap(decrypt(key, params), zero_pad, private_keys)
    return {Op.WRAP: wrap, Op.UNWRAP: unwrap}


def _factory(padded: bool) -> Factory:
    def make(key: KeyLike | None, params: object) -> AesKeyWrap:
        no_params(params)
        return AesKeyWrap(attr_bytes(keyed(key, KEY_TYPES), CKA.VALUE),
                          padded)
    return make


def _row(mech: int, padded: bool) -> MechSpec:
    make = _factory(padded)
    return MechSpec(mech, CKF.WRAP | CKF.UNWRAP, key_size=(16, 32),
                    key_types=KEY_TYPES, approved=True,
                    ops={Op.WRAP: make, Op.UNWRAP: make})


SPECS: tuple[MechSpec, ...] = (
    _row(CKM.AES_KEY_WRAP, False),
    _row(CKM.AES_KEY_WRAP_KWP, True),
)
