"""Value constraints the object tables state in prose (PKCS#11 v3.0
section 4 and Current Mechanisms): key lengths, enumerated values and
the X.509 "VALUE or URL" rule.  A violation is
CKR_ATTRIBUTE_VALUE_INVALID, or CKR_TEMPLATE_INCOMPLETE for a missing
alternative."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm._generated_ck import CKA, CKC, CKK, CKO, CKP
from craton_hsm.errors import (
    AttributeValueInvalid,
    CKRError,
    TemplateIncomplete,
)

# Current Mechanisms 2.8.2: AES keys are 128, 192 or 256 bits.
AES_SIZES = frozenset({16, 24, 32})
# CK_CERTIFICATE_CATEGORY and CK_JAVA_MIDP_SECURITY_DOMAIN take the values
# 0 (unspecified) to 3 (v3.0 section 4.6.2 / 4.6.3).
_ENUM_RANGE = range(4)
_ML_SETS: dict[int, frozenset[int]] = {
    CKK.ML_KEM: frozenset({CKP.ML_KEM_512, CKP.ML_KEM_768, CKP.ML_KEM_1024}),
    CKK.ML_DSA: frozenset({CKP.ML_DSA_44, CKP.ML_DSA_65, CKP.ML_DSA_87}),
}
# Public components that are meaningless when empty.
_NON_EMPTY = frozenset({CKA.MODULUS, CKA.PUBLIC_EXPONENT, CKA.EC_PARAMS,
                        CKA.EC_POINT})


def _bad(t: int, why: str) -> CKRError:
    return AttributeValueInvalid(f"CKA 0x{t:x}: {why}")


def _secret_length(sub: int | None, t: int, n: int) -> None:
    if sub == CKK.AES and n not in AES_SIZES:
        raise _bad(t, "AES keys are 16, 24 or 32 bytes")
    if n < 1:
        raise _bad(t, "empty secret key")


def check(cls: int, sub: int | None, t: int, v: Any) -> None:
    """One attribute value in the context of its object."""
    if t == CKA.CERTIFICATE_TYPE and v != CKC.X_509:
        raise _bad(t, "only X.509 certificates are supported")
    if t in (CKA.CERTIFICATE_CATEGORY, CKA.JAVA_MIDP_SECURITY_DOMAIN) \
            and v not in _ENUM_RANGE:
        raise _bad(t, "unknown enumeration value")
    if cls == CKO.SECRET_KEY and t == CKA.VALUE:
        _secret_length(sub, t, len(v))
    if cls == CKO.SECRET_KEY and t == CKA.VALUE_LEN:
        _secret_length(sub, t, v)
    if t == CKA.MODULUS_BITS and v < 1:
        raise _bad(t, "modulus size must be positive")
    if t == CKA.PARAMETER_SET and sub in _ML_SETS \
            and v not in _ML_SETS[sub]:
        raise _bad(t, "unknown parameter set")
    if t in _NON_EMPTY and cls in (CKO.PUBLIC_KEY, CKO.PRIVATE_KEY) \
            and len(v) == 0:
        raise _bad(t, "must not be empty")


def check_whole(cls: int, sub: int | None,
                template: Mapping[int, Any]) -> None:
    """Cross-attribute rules of C_CreateObject."""
    if cls != CKO.CERTIFICATE or sub != CKC.X_509:
        return
    url = template.get(CKA.URL, b"")
    # X.509 fn 2/3: the certificate is either inline or behind a URL.
    if not template.get(CKA.VALUE) and not url:
        raise TemplateIncomplete("X.509 certificate needs VALUE or URL")
    # X.509 fn 4: with a URL, both key hashes are needed to identify it.
    if url and not (template.get(CKA.HASH_OF_SUBJECT_PUBLIC_KEY)
                    and template.get(CKA.HASH_OF_ISSUER_PUBLIC_KEY)):
        raise TemplateIncomplete("X.509 URL certificate needs key hashes")
