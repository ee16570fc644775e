"""AES key wrap: CKM_AES_KEY_WRAP (RFC 3394) and CKM_AES_KEY_WRAP_KWP
(RFC 5649), PKCS#11 v3.0 Current Mechanisms section 2.14.

A wrap op turns a key value into wrapped bytes and back; which objects
may be wrapped (CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED, templates) is the
dispatch layer's business.  The default ICVs are used: the optional IV
parameter is not accepted (ParamKind.NONE).
"""

from __future__ import annotations

from craton_hsm._generated_ck import CKA, CKF, CKK, CKM
from craton_hsm.backend import keywrap
from craton_hsm.errors import (
    EncryptedDataInvalid,
    EncryptedDataLenRange,
    KeySizeRange,
    WrappedKeyInvalid,
    WrappedKeyLenRange,
)
from craton_hsm.mechanisms.checks import attr_bytes, keyed, no_params
from craton_hsm.mechanisms.ops import CipherOp
from craton_hsm.mechanisms.registry import Factory, KeyLike, MechSpec, Op

KEY_TYPES = frozenset({CKK.AES})


class AesKeyWrap:
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


class CipherWrap:
    """Wrapping by an encryption mechanism (spec 5.18.5: the key value is
    encrypted with the mechanism), e.g. RSA OAEP or PKCS#1 v1.5."""

    def __init__(self, op: CipherOp) -> None:
        self._op = op

    def wrap_size(self, n: int) -> int:
        return self._op.one_shot_size(n)

    def wrap(self, value: bytes) -> bytes:
        return self._op.one_shot(value)

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return self._op.one_shot(wrapped)
        except EncryptedDataInvalid:
            raise WrappedKeyInvalid("wrapped key failed to decrypt") \
                from None
        except EncryptedDataLenRange:
            raise WrappedKeyLenRange("wrapped key length invalid") \
                from None


def by_encryption(encrypt: Factory, decrypt: Factory) -> dict[Op, Factory]:
    """Op.WRAP / Op.UNWRAP factories over a mechanism's cipher ops."""
    def wrap(key: KeyLike | None, params: object) -> CipherWrap:
        return CipherWrap(encrypt(key, params))

    def unwrap(key: KeyLike | None, params: object) -> CipherWrap:
        return CipherWrap(decrypt(key, params))
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
