"""Facts shared by the key-derivation families (kdf_hkdf, kdf_pbkd2,
kdf_sp800108, kdf_simple): which secret key types a KDF accepts as base
key and how long the derived key is (PKCS#11 v3.0 section 5.18.5,
C_DeriveKey: the length comes from CKA_VALUE_LEN or the key type)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm._generated_ck import CKA, CKK
from craton_hsm.errors import TemplateIncomplete, TemplateInconsistent
from craton_hsm.mechanisms.checks import attr_bytes
from craton_hsm.mechanisms.registry import KeyLike

# Generic secret and the HMAC key types (Current Mechanisms 2.34 and the
# SHA-x HMAC sections); CKK_HKDF is the 3.0 HKDF key type (2.43).
HMAC_KEY_TYPES = frozenset({
    CKK.GENERIC_SECRET, CKK.SHA_1_HMAC, CKK.SHA224_HMAC, CKK.SHA256_HMAC,
    CKK.SHA384_HMAC, CKK.SHA512_HMAC, CKK.SHA512_224_HMAC,
    CKK.SHA512_256_HMAC, CKK.SHA3_224_HMAC, CKK.SHA3_256_HMAC,
    CKK.SHA3_384_HMAC, CKK.SHA3_512_HMAC,
})
HKDF_KEY_TYPES = frozenset({CKK.HKDF, CKK.GENERIC_SECRET})
# Every secret key type this token knows: the simple derivations accept
# any of them (Current Mechanisms 2.43.x speak of "secret keys").
SECRET_KEY_TYPES = HMAC_KEY_TYPES | frozenset({CKK.HKDF, CKK.AES,
                                               CKK.CHACHA20})
# Key types whose length is fixed by the type itself.
FIXED_LENGTH = {CKK.CHACHA20: 32}


def secret_value(key: KeyLike) -> bytes:
    return attr_bytes(key, CKA.VALUE)


def derived_length(template: Mapping[int, Any], default: int | None) -> int:
    """Bytes to derive: CKA_VALUE_LEN, else the key type's fixed length,
    else ``default`` (the mechanism's natural output) when it has one."""
    if CKA.VALUE_LEN in template:
        n = int(template[CKA.VALUE_LEN])
        fixed = FIXED_LENGTH.get(template.get(CKA.KEY_TYPE, -1))
        if fixed is not None and n != fixed:
            raise TemplateInconsistent("CKA_VALUE_LEN contradicts key type")
        if n < 1:
            raise TemplateInconsistent("CKA_VALUE_LEN must be positive")
        return n
    fixed = FIXED_LENGTH.get(template.get(CKA.KEY_TYPE, -1))
    if fixed is not None:
        return fixed
    if default is None:
        raise TemplateIncomplete("derived key needs CKA_VALUE_LEN")
    return default
