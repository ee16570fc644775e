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

from craton_hsm._generated_ck import CKA, CKF, CKH, CKK, CKM, CKP
from craton_hsm.backend import pqc as backend
from craton_hsm.errors import MechanismParamInvalid
from craton_hsm.mechanisms.parameter_sets import ParameterSets
from craton_hsm.mechanisms.params import SignAdditionalContext
from craton_hsm.mechanisms.registry import KeyLike, MechSpec, Op, ParamKind
from craton_hsm.mechanisms.signing import HashSign, HashVerify

KEY_TYPES = frozenset({CKK.ML_DSA})
SETS = ParameterSets("ML-DSA", {
    CKP.ML_DSA_44: "ML-DSA-44",
    CKP.ML_DSA_65: "ML-DSA-65",
    CKP.ML_DSA_87: "ML-DSA-87",
}, KEY_TYPES)
# CK_MECHANISM_INFO sizes: the CKP_ML_DSA_* parameter sets offered.
KEY_SIZES = (int(CKP.ML_DSA_44), int(CKP.ML_DSA_87))
MAX_CONTEXT = 255


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
    name, priv = SETS.loaded(key, "mldsa_priv", CKA.SEED,
                             backend.load_dsa_private)
    return HashSign(backend.signature_size(name), None,
                    lambda m: backend.sign_dsa(priv, m, ctx), _any)


def _verify(key: KeyLike | None, params: object) -> HashVerify:
    ctx = _context(params)
    name, pub = SETS.loaded(key, "mldsa_pub", CKA.VALUE,
                            backend.load_dsa_public)
    return HashVerify(backend.signature_size(name), None,
                      lambda m, s: backend.verify_dsa(pub, s, m, ctx), _any)


_keygen = SETS.key_pair_factory(backend.DSA_SEED_LEN,
                                backend.public_from_seed_dsa)


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
