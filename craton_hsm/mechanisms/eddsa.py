"""EdDSA mechanisms (PKCS#11 v3.0 sections 2.3.5, 2.3.11 and 2.3.14):
CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA for Ed25519 and Ed448.

Only pure EdDSA: the backend offers neither the pre-hash (Ed25519ph)
nor the context variants, so CK_EDDSA_PARAMS asking for them is
rejected rather than silently signed the pure way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm import drbg
from craton_hsm._generated_ck import CKA, CKF, CKK, CKM
from craton_hsm.backend import ec as backend
from craton_hsm.errors import MechanismParamInvalid
from craton_hsm.mechanisms.checks import attr_bytes, keyed, no_params
from craton_hsm.mechanisms.ec_curves import (
    Family,
    curve_from_template,
    curve_of,
    unwrap_point,
    wrap_point,
)
from craton_hsm.mechanisms.params import EddsaParams
from craton_hsm.mechanisms.registry import KeyLike, MechSpec, Op, ParamKind
from craton_hsm.mechanisms.signing import HashSign, HashVerify

KEY_TYPES = frozenset({CKK.EC_EDWARDS})
KEY_BITS = (255, 448)


def _check_params(params: object) -> None:
    if params is None:
        return
    if not isinstance(params, EddsaParams):
        raise MechanismParamInvalid("expected CK_EDDSA_PARAMS")
    if params.ph_flag or params.context:
        raise MechanismParamInvalid("EdDSA ph/ctx variants unsupported")


def _any(m: bytes) -> None:
    """EdDSA signs messages of any length, including empty ones."""


def _sign(key: KeyLike | None, params: object) -> HashSign:
    _check_params(params)
    k = keyed(key, KEY_TYPES)
    cached = k.cache.get("ed_priv")
    if cached is None:
        curve = curve_of(k.attrs.get(CKA.EC_PARAMS), Family.EDWARDS)
        raw = attr_bytes(k, CKA.VALUE)
        cached = (curve, backend.load_ed_private(curve.name, raw))
        k.cache["ed_priv"] = cached
    curve, priv = cached
    return HashSign(2 * curve.size, None,
                    lambda m: backend.sign_ed(priv, m), _any)


def _verify(key: KeyLike | None, params: object) -> HashVerify:
    _check_params(params)
    k = keyed(key, KEY_TYPES)
    cached = k.cache.get("ed_pub")
    if cached is None:
        curve = curve_of(k.attrs.get(CKA.EC_PARAMS), Family.EDWARDS)
        raw = unwrap_point(curve, attr_bytes(k, CKA.EC_POINT))
        cached = (curve, backend.load_ed_public(curve.name, raw))
        k.cache["ed_pub"] = cached
    curve, pub = cached
    return HashVerify(2 * curve.size, None,
                      lambda m, s: backend.verify_ed(pub, s, m), _any)


class EdwardsKeyPairGenerator:
    """Reads CKA_EC_PARAMS from the public template (section 2.3.11);
    ``private_cache`` as in ec.EcKeyPairGenerator."""

    def __init__(self) -> None:
        self.private_cache: dict[str, Any] = {}

    def generate(
        self, pub_template: Mapping[int, Any],
        priv_template: Mapping[int, Any],
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        curve, params = curve_from_template(pub_template, Family.EDWARDS)
        # RFC 8032 5.1.5 / 5.2.5: the private key is b bits of random.
        raw = drbg.random_bytes(curve.size)
        loaded = backend.load_ed_private(curve.name, raw)
        pub_raw = backend.ed_public_of(loaded)
        self.private_cache = {"ed_priv": (curve, loaded)}
        return ({CKA.EC_PARAMS: params, CKA.EC_POINT: wrap_point(pub_raw)},
                {CKA.EC_PARAMS: params, CKA.VALUE: raw})


def _keygen(key: KeyLike | None, params: object) -> EdwardsKeyPairGenerator:
    no_params(params)
    return EdwardsKeyPairGenerator()


# Ed25519 and Ed448 are approved by FIPS 186-5 section 7.
SPECS: tuple[MechSpec, ...] = (
    MechSpec(CKM.EC_EDWARDS_KEY_PAIR_GEN,
             CKF.GENERATE_KEY_PAIR | CKF.EC_NAMEDCURVE,
             key_size=KEY_BITS, key_types=KEY_TYPES, approved=True,
             ops={Op.GENERATE_KEY_PAIR: _keygen}),
    MechSpec(CKM.EDDSA, CKF.SIGN | CKF.VERIFY | CKF.EC_NAMEDCURVE,
             key_size=KEY_BITS, key_types=KEY_TYPES, approved=True,
             params=ParamKind.EDDSA, ops={Op.SIGN: _sign, Op.VERIFY: _verify}),
)
