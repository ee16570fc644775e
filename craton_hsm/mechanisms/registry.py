"""The mechanism registry: one row per mechanism (STYLE R3).

Everything reads this one table: C_GetMechanismList is ``sorted(REGISTRY)``,
C_GetMechanismInfo is ``REGISTRY[m].info``, every ``*Init`` calls
``REGISTRY[m].factory(Op.X)``, the approved-only mode filters on
``approved`` and docs/mechanisms.md is generated from it.
Families export ``SPECS``; this module concatenates them explicitly.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from craton_hsm.errors import MechanismInvalid


class Op(enum.Enum):
    """What a mechanism is asked to do; one factory per operation."""

    # Members are singletons compared by identity, so the identity hash
    # (in C) is right; Enum's own __hash__ hashes the name in Python, on
    # every dict lookup of the per-call paths (issue 9).
    __hash__ = object.__hash__

    DIGEST = "digest"
    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"
    SIGN = "sign"
    VERIFY = "verify"
    SIGN_RECOVER = "sign_recover"
    VERIFY_RECOVER = "verify_recover"
    GENERATE = "generate"
    GENERATE_KEY_PAIR = "generate_key_pair"
    WRAP = "wrap"
    UNWRAP = "unwrap"
    DERIVE = "derive"
    ENCAPSULATE = "encapsulate"
    DECAPSULATE = "decapsulate"
    # Message-based functions (PKCS#11 v3.0 sections 5.11-5.13): the
    # mechanism parameter travels with each message.
    MESSAGE_ENCRYPT = "message_encrypt"
    MESSAGE_DECRYPT = "message_decrypt"
    MESSAGE_SIGN = "message_sign"
    MESSAGE_VERIFY = "message_verify"


class ParamKind(enum.Enum):
    """Which CK_* parameter structure a mechanism takes.

    ``abi/params.py`` decodes each kind into the dataclass of the same name
    in ``mechanisms/params.py``; mechanisms never see cdata.
    """

    NONE = "none"              # pParameter must be NULL / empty
    BYTES = "bytes"            # raw byte string (e.g. a CBC IV)
    ULONG = "ulong"            # CK_MAC_GENERAL_PARAMS, CK_EXTRACT_PARAMS
    RSA_PSS = "rsa_pss"        # CK_RSA_PKCS_PSS_PARAMS
    RSA_OAEP = "rsa_oaep"      # CK_RSA_PKCS_OAEP_PARAMS
    AES_CTR = "aes_ctr"        # CK_AES_CTR_PARAMS
    GCM = "gcm"                # CK_GCM_PARAMS
    CCM = "ccm"                # CK_CCM_PARAMS
    CHACHA20_POLY1305 = "chacha20_poly1305"
    ECDH1 = "ecdh1"            # CK_ECDH1_DERIVE_PARAMS
    EDDSA = "eddsa"            # CK_EDDSA_PARAMS (optional: NULL allowed)
    KEY_DERIVATION_STRING = "key_derivation_string"
    AES_CBC_ENCRYPT_DATA = "aes_cbc_encrypt_data"
    HKDF = "hkdf"              # CK_HKDF_PARAMS
    PBKD2 = "pbkd2"            # CK_PKCS5_PBKD2_PARAMS2
    SP800_108 = "sp800_108"    # CK_SP800_108_KDF_PARAMS
    OBJECT_HANDLE = "object_handle"  # CONCATENATE_BASE_AND_KEY
    SIGN_CONTEXT = "sign_context"  # CK_SIGN_ADDITIONAL_CONTEXT (optional)
    GCM_MESSAGE = "gcm_message"    # CK_GCM_MESSAGE_PARAMS
    CCM_MESSAGE = "ccm_message"    # CK_CCM_MESSAGE_PARAMS
    CHACHA20_POLY1305_MESSAGE = "chacha20_poly1305_message"


class KeyLike(Protocol):
    """What a mechanism may see of a key object.

    ``attrs`` holds decoded attribute values (bool, int, bytes, tuple of
    mechanisms, nested dict for *_TEMPLATE).  ``cache`` is a per-object dict
    where backends keep parsed key objects; the core clears it whenever the
    object's attributes change or it is destroyed.
    """

    @property
    def attrs(self) -> Mapping[int, Any]: ...

    @property
    def cache(self) -> dict[str, Any]: ...


# A factory builds one operation from (key or None, decoded params).
Factory = Callable[..., Any]


@dataclass(frozen=True)
class MechSpec:
    """All facts about one mechanism, declared once."""

    mechanism: int
    flags: int                       # CKF_* bits of CK_MECHANISM_INFO
    key_size: tuple[int, int] = (0, 0)   # in the unit the spec uses
    key_types: frozenset[int] = frozenset()
    approved: bool = False
    params: ParamKind = ParamKind.NONE
    ops: Mapping[Op, Factory] = field(default_factory=dict)
    # Operations that accept C_*Update (multi-part); others are one-shot.
    multipart: frozenset[Op] = frozenset()
    # The per-message parameter of the message-based functions (the
    # C_MessageXInit mechanism itself then carries none).
    message_params: ParamKind = ParamKind.NONE

    def factory(self, op: Op) -> Factory:
        try:
            return self.ops[op]
        except KeyError:
            raise MechanismInvalid(
                f"mechanism 0x{self.mechanism:x} does not support {op.value}"
            ) from None


def _families() -> tuple[MechSpec, ...]:
    # Explicit list, no import-time registration side effects.
    from craton_hsm.mechanisms import (
        aead,
        aes,
        cmac,
        digest,
        ec,
        ecdh,
        eddsa,
        hmac,
        kdf,
        mldsa,
        mlkem,
        rsa,
        wrap,
    )

    specs: list[MechSpec] = []
    for family in (digest, hmac, aes, cmac, aead, wrap, rsa, ec, ecdh,
                   eddsa, kdf, mldsa, mlkem):
        specs.extend(family.SPECS)
    return tuple(specs)


def _build() -> dict[int, MechSpec]:
    table: dict[int, MechSpec] = {}
    for spec in _families():
        if spec.mechanism in table:
            raise RuntimeError(f"duplicate mechanism 0x{spec.mechanism:x}")
        table[spec.mechanism] = spec
    return table


REGISTRY: dict[int, MechSpec] = _build()


def lookup(mechanism: int) -> MechSpec:
    try:
        return REGISTRY[mechanism]
    except KeyError:
        raise MechanismInvalid(f"unknown mechanism 0x{mechanism:x}") from None
