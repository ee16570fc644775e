"""The approved-only mode (``[algorithms] fips_approved_only``) as data.

FIPS 140-3 (ISO/IEC 19790 7.4.3.2, 7.5): in the approved mode a module
offers only approved security functions (SP 800-140C) with approved key
sizes (SP 800-131A Rev.2).  Which mechanism is approved is the
``approved`` column of the registry (mechanisms/registry.py); this
module holds what a boolean cannot say: mechanisms approved for some
operations only, and the minimum key strength per key type.  Dispatch
calls it at one choke point per operation class:

* ``mechanism(m, op, params)`` before any ``*Init``, key generation,
  wrap, unwrap, derive or KEM call: CKR_MECHANISM_INVALID;
* ``check_use(capability, attrs)`` with the key of that call: an
  existing key too weak for a protecting operation is
  CKR_KEY_SIZE_RANGE (SP 800-131A "legacy use": old keys may still
  verify and decrypt);
* ``check_new_key(attrs)`` before any key object is stored (create,
  copy, generate, unwrap, derive, encapsulate): an unapproved key type
  or curve is CKR_TEMPLATE_INCONSISTENT (the template names a key the
  mode cannot hold), a size below the minimum CKR_KEY_SIZE_RANGE.

Everything is a no-op while the mode is off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm._generated_ck import CKA, CKF, CKK, CKM, CKO
from craton_hsm.core import hsm as hsm_mod
from craton_hsm.errors import (
    CKRError,
    KeySizeRange,
    KeyTypeInconsistent,
    MechanismInvalid,
    TemplateInconsistent,
)
from craton_hsm.mechanisms import ec_curves
from craton_hsm.mechanisms.params import RsaPssParams
from craton_hsm.mechanisms.registry import REGISTRY, MechSpec, Op, lookup

# Mechanisms approved for some operations only.  Everything else in a
# row with ``approved=True`` is approved for every operation it has.
_VERIFY = frozenset({Op.VERIFY})
ONLY_FOR: Mapping[int, frozenset[Op]] = {
    # SP 800-131A Rev.2 section 9 (Table 8): SHA-1 is disallowed for
    # digital signature generation, allowed for legacy verification.
    CKM.SHA1_RSA_PKCS: _VERIFY,
    CKM.SHA1_RSA_PKCS_PSS: _VERIFY,
    CKM.ECDSA_SHA1: _VERIFY,
    # FIPS 186-5 section 5.4 approves RSASSA-PKCS1-v1_5 signatures; SP
    # 800-131A Rev.2 section 6 disallows PKCS#1 v1.5 key transport
    # (encryption, wrap) after 2023; raw recovery is not a FIPS service.
    CKM.RSA_PKCS: frozenset({Op.SIGN, Op.VERIFY}),
}

# The operations that apply protection (SP 800-57 Part 1 5.3.4: the
# originator-usage period); the others only process protected data.
PROTECT = frozenset({CKA.SIGN, CKA.SIGN_RECOVER, CKA.ENCRYPT, CKA.WRAP,
                     CKA.DERIVE, CKA.ENCAPSULATE})

# SP 800-131A Rev.2 section 2 (Table 1) and SP 800-186: curves approved
# for ECDSA/ECDH (NIST P-curves) and EdDSA (FIPS 186-5 section 7).
# secp256k1 and Brainpool are not approved for use here; X25519/X448
# are not in SP 800-56A Rev.3 (section 5.6.1.2), so CKK_EC_MONTGOMERY
# keys are refused altogether.
APPROVED_CURVES = frozenset({ec_curves.P224, ec_curves.P256,
                             ec_curves.P384, ec_curves.P521,
                             ec_curves.ED25519, ec_curves.ED448})
_FAMILY = {CKK.EC: ec_curves.Family.WEIERSTRASS,
           CKK.EC_EDWARDS: ec_curves.Family.EDWARDS}
RSA_MIN_BITS = 2048                # SP 800-131A Rev.2 Table 2
AES_KEY_BYTES = frozenset({16, 24, 32})  # FIPS 197
SECRET_MIN_BYTES = 14              # 112 bits, SP 800-131A Rev.2 Table 9
# Secret key types whose minimum is SECRET_MIN_BYTES (HMAC and KDF keys).
_SECRETS = frozenset({
    CKK.GENERIC_SECRET, CKK.HKDF, CKK.SHA_1_HMAC, CKK.SHA224_HMAC,
    CKK.SHA256_HMAC, CKK.SHA384_HMAC, CKK.SHA512_HMAC, CKK.SHA3_224_HMAC,
    CKK.SHA3_256_HMAC, CKK.SHA3_384_HMAC, CKK.SHA3_512_HMAC,
    CKK.SHA512_224_HMAC, CKK.SHA512_256_HMAC,
})
# Key types the mode holds at all; the rest (CKK_CHACHA20,
# CKK_EC_MONTGOMERY, ...) have no approved algorithm.
APPROVED_KEY_TYPES = _SECRETS | frozenset(
    {CKK.AES, CKK.RSA, CKK.EC, CKK.EC_EDWARDS, CKK.ML_DSA, CKK.ML_KEM})
_KEY_CLASSES = frozenset({CKO.SECRET_KEY, CKO.PUBLIC_KEY, CKO.PRIVATE_KEY})


def enabled() -> bool:
    return hsm_mod.current().config.fips_approved_only


def approved_ops(spec: MechSpec) -> frozenset[Op]:
    """The operations of ``spec`` the approved mode offers."""
    if not spec.approved:
        return frozenset()
    return ONLY_FOR.get(spec.mechanism, frozenset(spec.ops))


def visible() -> list[int]:
    """C_GetMechanismList: the rows with at least one approved op."""
    on = enabled()
    return sorted(m for m, spec in REGISTRY.items()
                  if not on or approved_ops(spec))


def mechanism(m: int, op: Op, params: Any = None) -> MechSpec:
    """The registry row for ``m`` if the mode allows it for ``op``."""
    spec = lookup(m)
    if not enabled():
        return spec
    if op not in approved_ops(spec):
        raise MechanismInvalid(
            f"mechanism 0x{m:x} is not approved for {op.value}")
    # SP 800-131A Rev.2 section 9: no SHA-1 in signature generation,
    # whichever parameter names it.
    if op is Op.SIGN and isinstance(params, RsaPssParams) and \
            params.hash_alg == CKM.SHA_1:
        raise MechanismInvalid("SHA-1 signatures are not approved")
    return spec


# CK_MECHANISM_INFO flags of the operations ONLY_FOR may withhold.
_OP_FLAG = {Op.SIGN: CKF.SIGN, Op.VERIFY: CKF.VERIFY,
            Op.ENCRYPT: CKF.ENCRYPT, Op.DECRYPT: CKF.DECRYPT,
            Op.WRAP: CKF.WRAP, Op.UNWRAP: CKF.UNWRAP,
            Op.SIGN_RECOVER: CKF.SIGN_RECOVER,
            Op.VERIFY_RECOVER: CKF.VERIFY_RECOVER}


def _min_size(spec: MechSpec) -> int:
    """ulMinKeySize under the mode, in the row's own unit: bits for RSA
    and CKM_GENERIC_SECRET_KEY_GEN, bytes for HMAC and the KDFs."""
    low = spec.key_size[0]
    if low == 0:
        return low
    if CKK.RSA in spec.key_types:
        return max(low, RSA_MIN_BITS)
    if spec.mechanism == CKM.GENERIC_SECRET_KEY_GEN:
        return max(low, SECRET_MIN_BYTES * 8)
    if spec.key_types and spec.key_types <= _SECRETS:
        return max(low, SECRET_MIN_BYTES)
    return low


def info(m: int) -> tuple[int, int, int]:
    """C_GetMechanismInfo (min, max, flags); under the mode an unlisted
    mechanism is invalid and the rest report what the mode allows."""
    spec = lookup(m)
    if not enabled():
        return spec.key_size[0], spec.key_size[1], spec.flags
    ops = approved_ops(spec)
    if not ops:
        raise MechanismInvalid(f"mechanism 0x{m:x} is not approved")
    flags = spec.flags
    for op, flag in _OP_FLAG.items():
        if op not in ops:
            flags &= ~int(flag)
    return _min_size(spec), spec.key_size[1], flags


def _strength_error(attrs: Mapping[int, Any],
                    wrong_type: type[CKRError]) -> CKRError | None:
    """Why a key object is not allowed in the approved mode, if it is
    not; None for approved keys and for objects that are not keys."""
    if attrs.get(CKA.CLASS) not in _KEY_CLASSES:
        return None
    key_type = attrs.get(CKA.KEY_TYPE)
    if key_type not in APPROVED_KEY_TYPES:
        return wrong_type(f"key type {key_type} is not approved")
    if key_type == CKK.RSA:
        bits = len(bytes(attrs.get(CKA.MODULUS, b"")).lstrip(b"\0")) * 8
        if bits < RSA_MIN_BITS:
            return KeySizeRange(f"RSA keys need >= {RSA_MIN_BITS} bits")
    elif key_type in _FAMILY:
        try:
            curve = ec_curves.curve_of(attrs.get(CKA.EC_PARAMS),
                                       _FAMILY[key_type])
        except CKRError:
            curve = None
        if curve not in APPROVED_CURVES:
            return wrong_type("curve is not approved")
    elif attrs.get(CKA.CLASS) == CKO.SECRET_KEY:
        size = len(bytes(attrs.get(CKA.VALUE, b"")))
        if key_type == CKK.AES and size not in AES_KEY_BYTES:
            return KeySizeRange("AES keys are 128, 192 or 256 bits")
        if key_type in _SECRETS and size < SECRET_MIN_BYTES:
            return KeySizeRange("secret keys need >= 112 bits")
    return None


def check_new_key(attrs: Mapping[int, Any]) -> None:
    """Refuse storing a key the approved mode cannot hold."""
    if enabled():
        error = _strength_error(attrs, TemplateInconsistent)
        if error is not None:
            raise error


def check_use(capability: int, attrs: Mapping[int, Any]) -> None:
    """Refuse a protecting operation with a key the mode cannot hold
    (made before the mode was switched on)."""
    if enabled() and capability in PROTECT:
        error = _strength_error(attrs, KeyTypeInconsistent)
        if error is not None:
            raise error
