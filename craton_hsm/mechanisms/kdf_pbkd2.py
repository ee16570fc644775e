"""CKM_PKCS5_PBKD2 with CK_PKCS5_PBKD2_PARAMS2 (PKCS#11 v3.0 Current
Mechanisms 2.44.6-2.44.7, RFC 8018 PBKDF2, SP 800-132).

A key *generation* mechanism: C_GenerateKey turns the password of the
parameter into a secret key of the type and length the template names
(CKA_KEY_TYPE is required; CKA_VALUE_LEN unless the type fixes it).
The salt source must be CKZ_SALT_SPECIFIED; the PRF is HMAC with SHA-1
or SHA-2 and takes no PRF data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm._generated_ck import CKA, CKF, CKM, CKP, CKZ
from craton_hsm.backend import kdf as backend
from craton_hsm.errors import MechanismParamInvalid
from craton_hsm.mechanisms.checks import params_of
from craton_hsm.mechanisms.kdf_common import SECRET_KEY_TYPES, derived_length
from craton_hsm.mechanisms.params import Pbkd2Params
from craton_hsm.mechanisms.registry import KeyLike, MechSpec, Op, ParamKind

PRF_NAMES: dict[int, str] = {
    CKP.PKCS5_PBKD2_HMAC_SHA1: "sha1",
    CKP.PKCS5_PBKD2_HMAC_SHA224: "sha224",
    CKP.PKCS5_PBKD2_HMAC_SHA256: "sha256",
    CKP.PKCS5_PBKD2_HMAC_SHA384: "sha384",
    CKP.PKCS5_PBKD2_HMAC_SHA512: "sha512",
    CKP.PKCS5_PBKD2_HMAC_SHA512_224: "sha512_224",
    CKP.PKCS5_PBKD2_HMAC_SHA512_256: "sha512_256",
}
# A caller-supplied count is bounded: 2**32 and more made the backend
# panic (a pyo3 PanicException through the ABI guard, found by the C ABI
# fuzzer), and a count near 2**31 holds the calling thread for hours.
# Ten million is 16x the module's own PIN hashing (600,000, SP 800-132
# and seed 004) and a few seconds of work.
MAX_ITERATIONS = 10_000_000
# Keys PBKDF2 may produce (dispatch checks the template's CKA_KEY_TYPE).
KEY_TYPES = SECRET_KEY_TYPES


class Pbkd2Generator:
    def __init__(self, params: Pbkd2Params) -> None:
        if params.salt_source != CKZ.SALT_SPECIFIED:
            raise MechanismParamInvalid("saltSource must be SALT_SPECIFIED")
        name = PRF_NAMES.get(params.prf)
        if name is None:
            raise MechanismParamInvalid("unsupported PBKDF2 PRF")
        if params.prf_data:
            raise MechanismParamInvalid("HMAC PRFs take no pPrfData")
        if not 1 <= params.iterations <= MAX_ITERATIONS:
            raise MechanismParamInvalid(
                f"iterations must be 1..{MAX_ITERATIONS}")
        self._name = name
        self._params = params

    def generate(self, template: Mapping[int, Any]) -> dict[int, Any]:
        n = derived_length(template, None)
        p = self._params
        value = backend.pbkdf2(self._name, p.password, p.salt, p.iterations,
                               n)
        return {CKA.VALUE: value, CKA.VALUE_LEN: n}


def _generate(key: KeyLike | None, params: object) -> Pbkd2Generator:
    return Pbkd2Generator(params_of(params, Pbkd2Params))


SPECS: tuple[MechSpec, ...] = (
    MechSpec(CKM.PKCS5_PBKD2, CKF.GENERATE, key_types=KEY_TYPES,
             approved=True, params=ParamKind.PBKD2,
             ops={Op.GENERATE: _generate}),
)
