"""The object model as a table (PKCS#11 v3.0 section 4, STYLE R4).

One ``Rule`` per attribute per object class and key/certificate type.
Flags carry the footnotes of the table "Common footnotes for object
attribute tables" (v3.0 section 4.0) so each row can be checked against
the spec; ``templates.py`` is the only code that interprets them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from craton_hsm._generated_ck import CKA, CKC, CKK, CKM, CKO
from craton_hsm.errors import AttributeValueInvalid
from craton_hsm.vendor_ck import CKA_CRATON_COMPROMISED


class F(enum.Flag):
    """Named rule flags; the comment is the spec footnote."""

    NONE = 0
    REQ_CREATE = enum.auto()     # fn 1: must be given to C_CreateObject
    NO_CREATE = enum.auto()      # fn 2: must not be given to C_CreateObject
    REQ_GEN = enum.auto()        # fn 3: must be given to C_GenerateKey(Pair)
    NO_GEN = enum.auto()         # fn 4: must not be given to C_Generate*
    REQ_UNWRAP = enum.auto()     # fn 5: must be given to C_UnwrapKey
    NO_UNWRAP = enum.auto()      # fn 6: must not be given to C_UnwrapKey
    SENSITIVE = enum.auto()      # fn 7: hidden if SENSITIVE / !EXTRACTABLE
    MODIFY = enum.auto()         # fn 8: C_SetAttributeValue / C_CopyObject
    SO_TRUE = enum.auto()        # fn 10: only the SO may set it to true
    ONLY_TO_TRUE = enum.auto()   # fn 11, 13: may change false -> true only
    ONLY_TO_FALSE = enum.auto()  # fn 12: may change true -> false only
    COPY = enum.auto()           # fn 14: may change only during C_CopyObject
    # Fn 2, 4 and 6 together: the token computes it, so an application
    # setting it is CKR_ATTRIBUTE_READ_ONLY (v3.0 section 5.1.6).
    MODULE = enum.auto()
    # Key material: encrypted at rest by the store (not a spec footnote).
    SECRET = enum.auto()


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()
# The default of a capability flag depends on the key type (fn 9,
# token-specific); CAPS below decides it.
CAPABILITY: Any = object()


@dataclass(frozen=True)
class Rule:
    flags: F = F.NONE
    default: Any = NO_DEFAULT
    # ``flags`` as a plain int: templates.py tests them for every
    # attribute of every new object, and an enum.Flag ``&`` is a Python
    # call each time (issue 9).
    bits: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bits", self.flags.value)


Schema = Mapping[int, Rule]

# Key material, fn 1 + 4 + 6 + 7: given on import, never on generation or
# unwrap (the mechanism produces it), hidden when sensitive.
_MATERIAL = F.NO_GEN | F.NO_UNWRAP | F.SENSITIVE | F.SECRET
_CAP = Rule(F.MODIFY, CAPABILITY)                                # fn 8, 9

# Section 4.4, storage objects (Table 24).
STORAGE: Schema = {
    CKA.CLASS: Rule(F.REQ_CREATE),                               # fn 1
    CKA.TOKEN: Rule(F.COPY, False),                              # fn 14
    CKA.PRIVATE: Rule(F.COPY, False),                            # fn 14
    CKA.MODIFIABLE: Rule(F.COPY, True),                          # fn 14
    CKA.COPYABLE: Rule(F.COPY | F.ONLY_TO_FALSE, True),          # fn 14
    CKA.DESTROYABLE: Rule(F.COPY, True),                         # fn 14
    CKA.LABEL: Rule(F.MODIFY, b""),                              # fn 8
    CKA.UNIQUE_ID: Rule(F.MODULE),                               # fn 2,4,6
}

# Section 4.5, data objects: every attribute may change (SoftHSMv2 too).
DATA: Schema = {
    CKA.APPLICATION: Rule(F.MODIFY, b""),
    CKA.OBJECT_ID: Rule(F.MODIFY, b""),
    CKA.VALUE: Rule(F.MODIFY, b""),
}

# Section 4.6.2, common certificate attributes (Table 21).
CERTIFICATE: Schema = {
    CKA.CERTIFICATE_TYPE: Rule(F.REQ_CREATE),                    # fn 1
    CKA.TRUSTED: Rule(F.SO_TRUE, False),                         # fn 10
    CKA.CERTIFICATE_CATEGORY: Rule(F.NONE, 0),   # CK_..._UNSPECIFIED
    CKA.CHECK_VALUE: Rule(),
    CKA.START_DATE: Rule(F.MODIFY, b""),
    CKA.END_DATE: Rule(F.MODIFY, b""),
    CKA.PUBLIC_KEY_INFO: Rule(F.NONE, b""),
}

# Section 4.6.3, X.509 public key certificates.  "Only CKA_ID, CKA_ISSUER
# and CKA_SERIAL_NUMBER may be modified after the object is created."
X509: Schema = {
    CKA.SUBJECT: Rule(F.REQ_CREATE),                             # fn 1
    CKA.ID: Rule(F.MODIFY, b""),
    CKA.ISSUER: Rule(F.MODIFY, b""),
    CKA.SERIAL_NUMBER: Rule(F.MODIFY, b""),
    CKA.VALUE: Rule(F.REQ_CREATE),           # X.509 fn 2 (or URL)
    CKA.URL: Rule(F.NONE, b""),              # X.509 fn 3
    CKA.HASH_OF_SUBJECT_PUBLIC_KEY: Rule(F.NONE, b""),   # X.509 fn 4
    CKA.HASH_OF_ISSUER_PUBLIC_KEY: Rule(F.NONE, b""),    # X.509 fn 4
    CKA.JAVA_MIDP_SECURITY_DOMAIN: Rule(F.NONE, 0),  # ..._UNSPECIFIED
    CKA.NAME_HASH_ALGORITHM: Rule(F.NONE, int(CKM.SHA_1)),  # spec default
}

# Section 4.7, common key attributes (Table 26).
KEY: Schema = {
    CKA.KEY_TYPE: Rule(F.REQ_CREATE | F.REQ_UNWRAP),             # fn 1,5
    CKA.ID: Rule(F.MODIFY, b""),                                 # fn 8
    CKA.START_DATE: Rule(F.MODIFY, b""),                         # fn 8
    CKA.END_DATE: Rule(F.MODIFY, b""),                           # fn 8
    CKA.DERIVE: _CAP,                                            # fn 8
    CKA.LOCAL: Rule(F.MODULE),                                   # fn 2,4,6
    CKA.KEY_GEN_MECHANISM: Rule(F.MODULE),                       # fn 2,4,6
    CKA.ALLOWED_MECHANISMS: Rule(F.NONE, ()),
    # Vendor: one-way like CKA_SENSITIVE (docs/key-lifecycle.md).
    CKA_CRATON_COMPROMISED: Rule(F.MODIFY | F.ONLY_TO_TRUE, False),
}

# Section 4.8, public keys (Table 30).
PUBLIC_KEY: Schema = {
    CKA.SUBJECT: Rule(F.MODIFY, b""),                            # fn 8
    CKA.ENCRYPT: _CAP,                                           # fn 8,9
    CKA.VERIFY: _CAP,                                            # fn 8,9
    CKA.VERIFY_RECOVER: _CAP,                                    # fn 8,9
    CKA.WRAP: _CAP,                                              # fn 8,9
    CKA.TRUSTED: Rule(F.SO_TRUE, False),                         # fn 10
    CKA.WRAP_TEMPLATE: Rule(F.NONE, {}),
    CKA.PUBLIC_KEY_INFO: Rule(F.NONE, b""),
}

# Section 4.9, private keys (Table 33).  Defaults for SENSITIVE and
# EXTRACTABLE are token-specific (fn 9); seed 004 asks for maximum
# protection.
PRIVATE_KEY: Schema = {
    CKA.PRIVATE: Rule(F.COPY, True),                             # fn 9, 14
    CKA.SUBJECT: Rule(F.MODIFY, b""),                            # fn 8
    CKA.SENSITIVE: Rule(F.MODIFY | F.ONLY_TO_TRUE, True),        # fn 8,9,11
    CKA.DECRYPT: _CAP,                                           # fn 8,9
    CKA.SIGN: _CAP,                                              # fn 8,9
    CKA.SIGN_RECOVER: _CAP,                                      # fn 8,9
    CKA.UNWRAP: _CAP,                                            # fn 8,9
    CKA.EXTRACTABLE: Rule(F.MODIFY | F.ONLY_TO_FALSE, False),    # fn 8,9,12
    CKA.ALWAYS_SENSITIVE: Rule(F.MODULE),                        # fn 2,4,6
    CKA.NEVER_EXTRACTABLE: Rule(F.MODULE),                       # fn 2,4,6
    CKA.WRAP_WITH_TRUSTED: Rule(F.MODIFY | F.ONLY_TO_TRUE, False),  # fn 13
    CKA.UNWRAP_TEMPLATE: Rule(F.NONE, {}),
    CKA.DERIVE_TEMPLATE: Rule(F.NONE, {}),
    CKA.ALWAYS_AUTHENTICATE: Rule(F.NONE, False),
    CKA.PUBLIC_KEY_INFO: Rule(F.NONE, b""),
}

# Section 4.10, secret keys (Table 35).
SECRET_KEY: Schema = {
    CKA.PRIVATE: Rule(F.COPY, True),                             # fn 9, 14
    CKA.SENSITIVE: Rule(F.MODIFY | F.ONLY_TO_TRUE, True),        # fn 8,9,11
    CKA.ENCRYPT: _CAP,                                           # fn 8,9
    CKA.DECRYPT: _CAP,                                           # fn 8,9
    CKA.SIGN: _CAP,                                              # fn 8,9
    CKA.VERIFY: _CAP,                                            # fn 8,9
    CKA.WRAP: _CAP,                                              # fn 8,9
    CKA.UNWRAP: _CAP,                                            # fn 8,9
    CKA.EXTRACTABLE: Rule(F.MODIFY | F.ONLY_TO_FALSE, False),    # fn 8,9,12
    CKA.ALWAYS_SENSITIVE: Rule(F.MODULE),                        # fn 2,4,6
    CKA.NEVER_EXTRACTABLE: Rule(F.MODULE),                       # fn 2,4,6
    CKA.CHECK_VALUE: Rule(),
    CKA.WRAP_WITH_TRUSTED: Rule(F.MODIFY | F.ONLY_TO_TRUE, False),  # fn 13
    CKA.TRUSTED: Rule(F.SO_TRUE, False),                         # fn 10
    CKA.WRAP_TEMPLATE: Rule(F.NONE, {}),
    CKA.UNWRAP_TEMPLATE: Rule(F.NONE, {}),
    CKA.DERIVE_TEMPLATE: Rule(F.NONE, {}),
}

# Current Mechanisms 2.1.2/2.1.3, RSA.  MODULUS_BITS is fn 2,3: computed
# from the modulus on import, required for generation.
RSA_PUBLIC: Schema = {
    CKA.MODULUS: Rule(F.REQ_CREATE | F.NO_GEN),                  # fn 1,4
    CKA.MODULUS_BITS: Rule(F.NO_CREATE | F.REQ_GEN),             # fn 2,3
    CKA.PUBLIC_EXPONENT: Rule(F.REQ_CREATE),                     # fn 1
}
RSA_PRIVATE: Schema = {
    CKA.MODULUS: Rule(F.REQ_CREATE | F.NO_GEN | F.NO_UNWRAP),    # fn 1,4,6
    CKA.PUBLIC_EXPONENT: Rule(F.NO_GEN | F.NO_UNWRAP),           # fn 4,6
    CKA.PRIVATE_EXPONENT: Rule(F.REQ_CREATE | _MATERIAL),        # fn 1,4,6,7
    CKA.PRIME_1: Rule(_MATERIAL),                                # fn 4,6,7
    CKA.PRIME_2: Rule(_MATERIAL),
    CKA.EXPONENT_1: Rule(_MATERIAL),
    CKA.EXPONENT_2: Rule(_MATERIAL),
    CKA.COEFFICIENT: Rule(_MATERIAL),
}

# Current Mechanisms 2.3.3/2.3.4 (EC) and 2.3.5-2.3.8 (Edwards,
# Montgomery): the same attribute rows.
EC_PUBLIC: Schema = {
    CKA.EC_PARAMS: Rule(F.REQ_CREATE | F.REQ_GEN),               # fn 1,3
    CKA.EC_POINT: Rule(F.REQ_CREATE | F.NO_GEN),                 # fn 1,4
}
EC_PRIVATE: Schema = {
    CKA.EC_PARAMS: Rule(F.REQ_CREATE | F.NO_GEN | F.NO_UNWRAP),  # fn 1,4,6
    CKA.VALUE: Rule(F.REQ_CREATE | _MATERIAL),                   # fn 1,4,6,7
}

# PKCS#11 v3.2 ML-KEM / ML-DSA key objects.  The parameter set is required
# on import too: inferring it from the key length would hide mistakes.
_ML_PUBLIC: Schema = {
    CKA.PARAMETER_SET: Rule(F.REQ_CREATE | F.REQ_GEN),
    CKA.VALUE: Rule(F.REQ_CREATE | F.NO_GEN),
}
# The backend (pyca/cryptography) only loads private keys from their seed
# and never exposes the expanded encoding, so a private key is its
# CKA_SEED: required on import, and CKA_VALUE (the expanded key) is
# neither accepted nor produced.
_ML_PRIVATE: Schema = {
    CKA.PARAMETER_SET: Rule(F.REQ_CREATE | F.NO_GEN | F.NO_UNWRAP),
    CKA.VALUE: Rule(F.NO_CREATE | _MATERIAL),
    CKA.SEED: Rule(F.REQ_CREATE | _MATERIAL),
}
ML_KEM_PUBLIC: Schema = {**_ML_PUBLIC, CKA.ENCAPSULATE: _CAP}
ML_KEM_PRIVATE: Schema = {**_ML_PRIVATE, CKA.DECAPSULATE: _CAP}

# Current Mechanisms 2.8 (AES), 2.34 (generic secret) and the HMAC key
# types.  VALUE_LEN is fn 2,3,6 in the spec; we accept it on unwrap and
# derive because C_UnwrapKey with CKM_AES_ECB/CBC and every KDF need it
# to know the key length (v3.0 section 5.15, C_UnwrapKey).
SECRET_VALUE: Schema = {
    CKA.VALUE: Rule(F.REQ_CREATE | _MATERIAL),                   # fn 1,4,6,7
    CKA.VALUE_LEN: Rule(F.NO_CREATE | F.REQ_GEN),                # fn 2,3
}

_HMAC_TYPES = (
    CKK.GENERIC_SECRET, CKK.SHA_1_HMAC, CKK.SHA224_HMAC, CKK.SHA256_HMAC,
    CKK.SHA384_HMAC, CKK.SHA512_HMAC, CKK.SHA3_224_HMAC, CKK.SHA3_256_HMAC,
    CKK.SHA3_384_HMAC, CKK.SHA3_512_HMAC, CKK.HKDF,
    CKK.SHA512_224_HMAC, CKK.SHA512_256_HMAC,
)
# Section 2.46 ChaCha20: the key length is fixed at 256 bits, so
# CKA_VALUE_LEN is not required on generation (fn 2,3 apply otherwise).
CHACHA20_VALUE: Schema = {
    CKA.VALUE: Rule(F.REQ_CREATE | _MATERIAL),                   # fn 1,4,6,7
    CKA.VALUE_LEN: Rule(F.NO_CREATE),                            # fn 2
}
_ASYM = (CKK.EC, CKK.EC_EDWARDS, CKK.EC_MONTGOMERY)

# (class, key type) -> key-type table.
KEY_TYPES: Mapping[tuple[int, int], Schema] = {
    (CKO.PUBLIC_KEY, CKK.RSA): RSA_PUBLIC,
    (CKO.PRIVATE_KEY, CKK.RSA): RSA_PRIVATE,
    **{(CKO.PUBLIC_KEY, k): EC_PUBLIC for k in _ASYM},
    **{(CKO.PRIVATE_KEY, k): EC_PRIVATE for k in _ASYM},
    (CKO.PUBLIC_KEY, CKK.ML_DSA): _ML_PUBLIC,
    (CKO.PRIVATE_KEY, CKK.ML_DSA): _ML_PRIVATE,
    (CKO.PUBLIC_KEY, CKK.ML_KEM): ML_KEM_PUBLIC,
    (CKO.PRIVATE_KEY, CKK.ML_KEM): ML_KEM_PRIVATE,
    (CKO.SECRET_KEY, CKK.AES): SECRET_VALUE,
    (CKO.SECRET_KEY, CKK.CHACHA20): CHACHA20_VALUE,
    **{(CKO.SECRET_KEY, k): SECRET_VALUE for k in _HMAC_TYPES},
}

# Capability flags that default to true: the operations the key type can
# do (fn 9 leaves the default to the token; SoftHSMv2 chooses similarly).
# DERIVE stays false unless deriving is the key type's only use.
CAPS: Mapping[tuple[int, int], frozenset[int]] = {
    (CKO.PUBLIC_KEY, CKK.RSA): frozenset({
        CKA.ENCRYPT, CKA.VERIFY, CKA.VERIFY_RECOVER, CKA.WRAP}),
    (CKO.PRIVATE_KEY, CKK.RSA): frozenset({
        CKA.DECRYPT, CKA.SIGN, CKA.SIGN_RECOVER, CKA.UNWRAP}),
    (CKO.PUBLIC_KEY, CKK.EC): frozenset({CKA.VERIFY}),
    (CKO.PRIVATE_KEY, CKK.EC): frozenset({CKA.SIGN}),
    (CKO.PUBLIC_KEY, CKK.EC_EDWARDS): frozenset({CKA.VERIFY}),
    (CKO.PRIVATE_KEY, CKK.EC_EDWARDS): frozenset({CKA.SIGN}),
    (CKO.PRIVATE_KEY, CKK.EC_MONTGOMERY): frozenset({CKA.DERIVE}),
    (CKO.PUBLIC_KEY, CKK.ML_DSA): frozenset({CKA.VERIFY}),
    (CKO.PRIVATE_KEY, CKK.ML_DSA): frozenset({CKA.SIGN}),
    (CKO.PUBLIC_KEY, CKK.ML_KEM): frozenset({CKA.ENCAPSULATE}),
    (CKO.PRIVATE_KEY, CKK.ML_KEM): frozenset({CKA.DECAPSULATE}),
    (CKO.SECRET_KEY, CKK.AES): frozenset({
        CKA.ENCRYPT, CKA.DECRYPT, CKA.WRAP, CKA.UNWRAP, CKA.SIGN,
        CKA.VERIFY}),
    (CKO.SECRET_KEY, CKK.HKDF): frozenset({CKA.DERIVE}),
    (CKO.SECRET_KEY, CKK.CHACHA20): frozenset({CKA.ENCRYPT, CKA.DECRYPT}),
    **{(CKO.SECRET_KEY, k): frozenset({CKA.SIGN, CKA.VERIFY})
       for k in _HMAC_TYPES if k != CKK.HKDF},
}

_CLASSES: Mapping[int, tuple[Schema, ...]] = {
    CKO.DATA: (STORAGE, DATA),
    CKO.CERTIFICATE: (STORAGE, CERTIFICATE),
    CKO.PUBLIC_KEY: (STORAGE, KEY, PUBLIC_KEY),
    CKO.PRIVATE_KEY: (STORAGE, KEY, PRIVATE_KEY),
    CKO.SECRET_KEY: (STORAGE, KEY, SECRET_KEY),
    # Section 4.13: profile objects are made by the token, never by the
    # application; listed so the core can describe the ones it exposes.
    CKO.PROFILE: (STORAGE, {CKA.PROFILE_ID: Rule(F.NONE, 0)}),
}
KEY_CLASSES = frozenset({CKO.PUBLIC_KEY, CKO.PRIVATE_KEY, CKO.SECRET_KEY})
CERT_TYPES: Mapping[int, Schema] = {CKC.X_509: X509}


def has_class(obj_class: int) -> bool:
    return obj_class in _CLASSES


_BUILT: dict[tuple[int, int | None], Schema] = {}


def schema_for(obj_class: int, subtype: int | None = None) -> Schema:
    """The rules of one kind of object; ``subtype`` is the key type of a
    key or the certificate type of a certificate.  Built once per kind
    and shared read-only: object creation, C_SetAttributeValue and the
    store's secret-attribute test ask for it per attribute (issue 9)."""
    if obj_class not in KEY_CLASSES and obj_class != CKO.CERTIFICATE:
        subtype = None      # no sub-table: one entry per class
    if subtype is not None and not isinstance(subtype, int):
        return _build(obj_class, subtype)   # refused there, not cached
    key = (int(obj_class), None if subtype is None else int(subtype))
    found = _BUILT.get(key)
    if found is None:
        found = _BUILT[key] = MappingProxyType(_build(obj_class, subtype))
    return found


def _build(obj_class: int, subtype: int | None) -> dict[int, Rule]:
    """Later tables override earlier ones (e.g. PRIVATE defaults to true
    for keys)."""
    if obj_class not in _CLASSES:
        raise AttributeValueInvalid(f"object class 0x{obj_class:x}")
    out: dict[int, Rule] = {}
    for table in _CLASSES[obj_class]:
        out.update(table)
    if obj_class in KEY_CLASSES:
        key = (obj_class, subtype if subtype is not None else -1)
        if key not in KEY_TYPES:
            raise AttributeValueInvalid(f"key type {subtype!r} for class "
                                        f"0x{obj_class:x}")
        out.update(KEY_TYPES[key])
    elif obj_class == CKO.CERTIFICATE:
        if subtype is None or subtype not in CERT_TYPES:
            raise AttributeValueInvalid(f"certificate type {subtype!r}")
        out.update(CERT_TYPES[subtype])
    return out


def subtype_attr(obj_class: int) -> int | None:
    """The attribute that selects the sub-table of a class."""
    if obj_class in KEY_CLASSES:
        return int(CKA.KEY_TYPE)
    if obj_class == CKO.CERTIFICATE:
        return int(CKA.CERTIFICATE_TYPE)
    return None
