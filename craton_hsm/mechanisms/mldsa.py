"""ML-DSA (FIPS 204) with the PKCS#11 v3.2 standard codes:
CKM_ML_DSA_KEY_PAIR_GEN and CKM_ML_DSA for ML-DSA-44, -65 and -87.

Key objects: the public CKA_VALUE is the FIPS 204 encoded public key; the
private key is held as CKA_SEED (the 32-byte xi).  The backend never
produces the expanded private key, so CKA_VALUE of a private key is
neither generated nor accepted (see core/schema.py).

CKM_ML_DSA is pure ML-DSA, single-part, with the optional
CK_SIGN_ADDITIONAL_CONTEXT: a context string of at most 255 bytes and a
hedge variant.  Signatures are always hedged, so CKH_DETERMINISTIC_REQUIRED
is refused with CKR_MECHANISM_PARAM_INVALID.  The pre-hash (HashML-DSA)
mechanisms are not offered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm._generated_ck import CKA, CKF, CKH, CKK, CKM, CKP, CKR
from craton_hsm.backend import pqc as backend
from craton_hsm.errors import CKRError, MechanismParamInvalid
from craton_hsm.mechanisms.checks import (
    attr_bytes,
    keyed,
    no_params,
    template_int,
)
from craton_hsm.mechanisms.params import SignAdditionalContext
from craton_hsm.mechanisms.registry import KeyLike, MechSpec, Op, ParamKind
from craton_hsm.mechanisms.signing import HashSign, HashVerify

KEY_TYPES = frozenset({CKK.ML_DSA})
SETS: dict[int, str] = {
    CKP.ML_DSA_44: "ML-DSA-44",
    CKP.ML_DSA_65: "ML-DSA-65",
    CKP.ML_DSA_87: "ML-DSA-87",
}
# CK_MECHANISM_INFO sizes: the CKP_ML_DSA_* parameter sets offered.
KEY_SIZES = (int(CKP.ML_DSA_44), int(CKP.ML_DSA_87))
MAX_CONTEXT = 255


def set_name(value: Any) -> str:
    """The parameter set name; CKR_PARAMETER_SET_NOT_SUPPORTED if not
    offered here."""
    name = SETS.get(int(value)) if value is not None else None
    if name is None:
        raise CKRError(CKR.PARAMETER_SET_NOT_SUPPORTED,
                       f"ML-DSA parameter set {value!r} not supported")
    return name


def _context(params: object) -> bytes:
    if params is None:
        return b""
    if not isinstance(params, SignAdditionalContext):
        raise MechanismParamInvalid("expected CK_SIGN_ADDITIONAL_CONTEXT")
    if params.hedge not in (CKH.HEDGE_PREFERRED, CKH.HEDGE_REQUIRED):
        raise MechanismParamInvalid("only hedged ML-DSA signatures")
    if len(params.context) > MAX_CONTEXT:
        raise MechanismParamInvalid("context longer than 255 bytes")
    return params.context


def _any(m: bytes) -> None:
    """ML-DSA signs messages of any length, including empty ones."""


def _sign(key: KeyLike | None, params: object) -> HashSign:
    ctx = _context(params)
    k = keyed(key, KEY_TYPES)
    cached = k.cache.get("mldsa_priv")
    if cached is None:
        name = set_name(k.attrs.get(CKA.PARAMETER_SET))
        cached = (name, backend.load_dsa_private(name,
                                                 attr_bytes(k, CKA.SEED)))
        k.cache["mldsa_priv"] = cached
    name, priv = cached
    return HashSign(backend.signature_size(name), None,
                    lambda m: backend.sign_dsa(priv, m, ctx), _any)


def _verify(key: KeyLike | None, params: object) -> HashVerify:
    ctx = _context(params)
    k = keyed(key, KEY_TYPES)
    cached = k.cache.get("mldsa_pub")
    if cached is None:
        name = set_name(k.attrs.get(CKA.PARAMETER_SET))
        cached = (name, backend.load_dsa_public(name,
                                                attr_bytes(k, CKA.VALUE)))
        k.cache["mldsa_pub"] = cached
    name, pub = cached
    return HashVerify(backend.signature_size(name), None,
                      lambda m, s: backend.verify_dsa(pub, s, m, ctx), _any)


class MlDsaKeyPairGenerator:
    """Reads CKA_PARAMETER_SET from the public template."""

    def generate(
        self, pub_template: Mapping[int, Any],
        priv_template: Mapping[int, Any],
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        pset = template_int(pub_template, CKA.PARAMETER_SET)
        seed, pub = backend.generate_dsa(set_name(pset))
        return ({CKA.PARAMETER_SET: pset, CKA.VALUE: pub},
                {CKA.PARAMETER_SET: pset, CKA.SEED: seed})


def _keygen(key: KeyLike | None, params: object) -> MlDsaKeyPairGenerator:
    no_params(params)
    return MlDsaKeyPairGenerator()


# FIPS 204 is an approved signature standard.
SPECS: tuple[MechSpec, ...] = (
    MechSpec(CKM.ML_DSA_KEY_PAIR_GEN, CKF.GENERATE_KEY_PAIR,
             key_size=KEY_SIZES, key_types=KEY_TYPES, approved=True,
             ops={Op.GENERATE_KEY_PAIR: _keygen}),
    MechSpec(CKM.ML_DSA, CKF.SIGN | CKF.VERIFY,
             key_size=KEY_SIZES, key_types=KEY_TYPES, approved=True,
             params=ParamKind.SIGN_CONTEXT,
             ops={Op.SIGN: _sign, Op.VERIFY: _verify}),
)
