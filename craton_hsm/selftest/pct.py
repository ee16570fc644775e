"""Conditional pair-wise consistency tests (FIPS 140-3 / ISO/IEC 19790
7.10.3.3; SP 800-56A Rev.3 5.6.2.1.4 for key-agreement keys; FIPS 203
7.1 / FIPS 204 for ML-KEM / ML-DSA).

Run after every key-pair generation, before either key is stored, and on
the import of a private key (C_CreateObject, C_UnwrapKey).  A failure
latches the error state as ``pct-<family>`` and the call returns
CKR_GENERAL_ERROR; the key is not stored.  The test uses the module's
own mechanism rows.  ``CRATON_HSM_SELFTEST_FAIL=pct-<family>`` corrupts
the signature (or the expected secret) before the real check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# The registry first: mechanisms.checks and the registry import each
# other, and importing rsa_keys before the registry breaks that cycle.
import craton_hsm.mechanisms.registry  # noqa: F401
from craton_hsm import latch
from craton_hsm._generated_ck import CKA, CKK, CKM
from craton_hsm.backend import pqc
from craton_hsm.mechanisms import rsa_keys
from craton_hsm.mechanisms.ec_curves import Family, curve_of
from craton_hsm.mechanisms.registry import Op
from craton_hsm.selftest.common import (
    KatKey,
    agree,
    check,
    known_input,
    op,
)

MESSAGE = b"Craton HSM pair-wise consistency test"
# Signature families: the mechanism a PCT signs with.
SIGNERS: dict[int, tuple[str, int]] = {CKK.RSA: ("pct-rsa", CKM.SHA256_RSA_PKCS),
           CKK.EC: ("pct-ec", CKM.ECDSA_SHA256),
           CKK.EC_EDWARDS: ("pct-eddsa", CKM.EDDSA),
           CKK.ML_DSA: ("pct-ml-dsa", CKM.ML_DSA)}
NAMES = ("pct-rsa", "pct-ec", "pct-eddsa", "pct-montgomery",
         "pct-ml-dsa", "pct-ml-kem")


def _sign_verify(name: str, mech: int, pub: KatKey, priv: KatKey) -> None:
    sig = op(mech, Op.SIGN, priv).sign(MESSAGE)
    op(mech, Op.VERIFY, pub).verify(MESSAGE, known_input(name, sig))


def _montgomery(pub: KatKey, priv: KatKey) -> None:
    """Both sides of a DH agreement with a fixed peer give one secret
    (SP 800-56A 5.6.2.1.4 asks the owner to confirm the pair)."""
    curve = curve_of(priv.attrs.get(CKA.EC_PARAMS), Family.MONTGOMERY)
    # The base point u = 9 (X25519) or 5 (X448), RFC 7748 section 4.
    base = (9 if curve.size == 32 else 5).to_bytes(curve.size, "little")
    peer = KatKey({CKA.KEY_TYPE: CKK.EC_MONTGOMERY,
                   CKA.EC_PARAMS: priv.attrs[CKA.EC_PARAMS],
                   CKA.VALUE: bytes(range(1, curve.size + 1))})
    peer_pub = agree(peer, base, curve.size)
    ours = agree(priv, peer_pub, curve.size)
    theirs = agree(peer, _raw_point(pub, curve.size), curve.size)
    check("pct-montgomery", ours, theirs, "X25519/X448 agreement")


def _raw_point(pub: KatKey, size: int) -> bytes:
    point = bytes(pub.attrs[CKA.EC_POINT])
    return point[-size:]


def _kem(pub: KatKey, priv: KatKey) -> None:
    ct, secret = op(CKM.ML_KEM, Op.ENCAPSULATE, pub).encapsulate()
    got = op(CKM.ML_KEM, Op.DECAPSULATE, priv).decapsulate(ct)
    check("pct-ml-kem", got, secret, "decapsulated secret")


def _run(key_type: int, pub: KatKey, priv: KatKey) -> None:
    """Raise the latched error state when the pair is inconsistent."""
    if key_type == CKK.ML_KEM:
        name = "pct-ml-kem"
    elif key_type == CKK.EC_MONTGOMERY:
        name = "pct-montgomery"
    elif key_type in SIGNERS:
        name = SIGNERS[key_type][0]
    else:
        return
    try:
        if key_type == CKK.ML_KEM:
            _kem(pub, priv)
        elif key_type == CKK.EC_MONTGOMERY:
            _montgomery(pub, priv)
        else:
            _sign_verify(name, SIGNERS[key_type][1], pub, priv)
    except Exception as exc:  # noqa: BLE001  (any failure is a failure)
        raise latch.latch(name, f"{type(exc).__name__}: {exc}") from None


def key_pair(key_type: int, pub: Mapping[int, Any],
             priv: Mapping[int, Any],
             private_cache: Mapping[str, Any] | None = None) -> None:
    """After C_GenerateKeyPair, before storing: raises the latched
    ModuleErrorState on an inconsistent pair.  ``private_cache``: the
    backend private key the generator made the pair from (as a key
    object's cache holds it), reused instead of loaded again."""
    private = KatKey(dict(priv), dict(private_cache or {}))
    if key_type == CKK.RSA:
        # Made by OpenSSL a moment ago: its 50 ms key check adds nothing.
        rsa_keys.private_key(private, validate=False)
    _run(key_type, KatKey(dict(pub)), private)


def imported(attrs: Mapping[int, Any]) -> None:
    """A private key arriving by C_CreateObject or C_UnwrapKey: its
    public half, as the private key's own attributes imply it, must
    verify its signature (RSA: n and e against d; ML-DSA / ML-KEM: the
    public key derived from the seed)."""
    key_type = attrs.get(CKA.KEY_TYPE)
    public = _implied_public(attrs)
    if key_type is None or public is None:
        return
    _run(int(key_type), KatKey(public), KatKey(dict(attrs)))


def _implied_public(attrs: Mapping[int, Any]) -> dict[int, Any] | None:
    kt = attrs.get(CKA.KEY_TYPE)
    if kt == CKK.RSA and CKA.MODULUS in attrs \
            and CKA.PUBLIC_EXPONENT in attrs:
        return {CKA.KEY_TYPE: kt, CKA.MODULUS: attrs[CKA.MODULUS],
                CKA.PUBLIC_EXPONENT: attrs[CKA.PUBLIC_EXPONENT]}
    derivers: dict[int, Callable[[str, bytes], bytes]] = {
        CKK.ML_DSA: pqc.public_from_seed_dsa,
        CKK.ML_KEM: pqc.public_from_seed_kem}
    derive = derivers.get(int(kt)) if kt is not None else None
    if derive is not None and CKA.SEED in attrs:
        from craton_hsm.mechanisms import mldsa, mlkem
        sets = mldsa.SETS if kt == CKK.ML_DSA else mlkem.SETS
        name = sets.name(attrs.get(CKA.PARAMETER_SET))
        return {CKA.KEY_TYPE: kt,
                CKA.PARAMETER_SET: attrs[CKA.PARAMETER_SET],
                CKA.VALUE: derive(name, bytes(attrs[CKA.SEED]))}
    # EC, Edwards and Montgomery private keys carry no public half; the
    # backend would derive it from the scalar itself, so a test against
    # that derivation would only test the backend against itself.
    return None

