"""CKM_HKDF_DERIVE, CKM_HKDF_DATA and CKM_HKDF_KEY_GEN with
CK_HKDF_PARAMS (PKCS#11 v3.0 Current Mechanisms 2.43, RFC 5869).

bExtract runs HKDF-Extract over the base key with the salt the caller
names (CKF_HKDF_SALT_NULL: HashLen zero bytes; _DATA: pSalt; _KEY: the
value of hSaltKey, which dispatch resolves into ``salt`` so that no
handle reaches this module).  bExpand runs HKDF-Expand with pInfo; with
bExpand false the PRK itself is the result and must be HashLen long.
CKM_HKDF_DATA returns the bytes as a CKO_DATA object's CKA_VALUE; its
length comes from CKA_VALUE_LEN in the template (dispatch drops that
attribute, which a data object does not have).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm import drbg
from craton_hsm._generated_ck import CKA, CKF, CKK, CKM, CKO
from craton_hsm.backend import kdf as backend
from craton_hsm.errors import MechanismParamInvalid, TemplateInconsistent
from craton_hsm.mechanisms.checks import (
    in_range,
    keyed,
    no_params,
    params_of,
    template_int,
)
from craton_hsm.mechanisms.hashnames import DIGEST_NAMES
from craton_hsm.mechanisms.kdf_common import (
    HKDF_KEY_TYPES,
    derived_length,
    secret_value,
)
from craton_hsm.mechanisms.params import HkdfParams
from craton_hsm.mechanisms.registry import KeyLike, MechSpec, Op, ParamKind

# Base keys and generated CKK_HKDF keys, in bytes (like the HMAC keys).
KEY_BYTES = (1, 512)
SALT_TYPES = frozenset({CKF.HKDF_SALT_NULL, CKF.HKDF_SALT_DATA,
                        CKF.HKDF_SALT_KEY})


class HkdfDerive:
    def __init__(self, key: KeyLike, params: HkdfParams,
                 object_class: int) -> None:
        if not (params.extract or params.expand):
            raise MechanismParamInvalid("bExtract and bExpand both false")
        name = DIGEST_NAMES.get(params.prf_hash_mechanism)
        if name is None:
            raise MechanismParamInvalid("unsupported prfHashMechanism")
        if params.extract:
            if params.salt_type not in SALT_TYPES:
                raise MechanismParamInvalid("unknown ulSaltType")
            if params.salt_type == CKF.HKDF_SALT_NULL and params.salt:
                raise MechanismParamInvalid("CKF_HKDF_SALT_NULL with pSalt")
            if params.salt_type == CKF.HKDF_SALT_DATA and not params.salt:
                raise MechanismParamInvalid("CKF_HKDF_SALT_DATA needs pSalt")
        self._name = name
        self._ikm = secret_value(key)
        self._params = params
        self.object_class = object_class

    def derive(self, template: Mapping[int, Any]) -> dict[int, Any]:
        p = self._params
        hash_len = backend.hash_len(self._name)
        prk = backend.hkdf_extract(self._name, p.salt, self._ikm) \
            if p.extract else self._ikm
        if not p.expand:
            if derived_length(template, hash_len) != hash_len:
                raise TemplateInconsistent("extract-only output is HashLen")
            return {CKA.VALUE: prk}
        length = derived_length(template, None)
        if length > 255 * hash_len:
            raise TemplateInconsistent("HKDF output over 255 * HashLen")
        return {CKA.VALUE: backend.hkdf_expand(self._name, prk, p.info,
                                               length)}


def _factory(object_class: int) -> Any:
    def make(key: KeyLike | None, params: object) -> HkdfDerive:
        return HkdfDerive(keyed(key, HKDF_KEY_TYPES),
                          params_of(params, HkdfParams), object_class)
    return make


class HkdfKeyGen:
    """CKM_HKDF_KEY_GEN: CKA_VALUE_LEN bytes from the DRBG."""

    def generate(self, template: Mapping[int, Any]) -> dict[int, Any]:
        n = template_int(template, CKA.VALUE_LEN)
        in_range(n, KEY_BYTES, "CKA_VALUE_LEN")
        return {CKA.VALUE: drbg.random_bytes(n), CKA.VALUE_LEN: n}


def _keygen(key: KeyLike | None, params: object) -> HkdfKeyGen:
    no_params(params)
    return HkdfKeyGen()


SPECS: tuple[MechSpec, ...] = (
    MechSpec(CKM.HKDF_DERIVE, CKF.DERIVE, key_size=KEY_BYTES,
             key_types=HKDF_KEY_TYPES, approved=True, params=ParamKind.HKDF,
             ops={Op.DERIVE: _factory(CKO.SECRET_KEY)}),
    MechSpec(CKM.HKDF_DATA, CKF.DERIVE, key_size=KEY_BYTES,
             key_types=HKDF_KEY_TYPES, approved=True, params=ParamKind.HKDF,
             ops={Op.DERIVE: _factory(CKO.DATA)}),
    MechSpec(CKM.HKDF_KEY_GEN, CKF.GENERATE, key_size=KEY_BYTES,
             key_types=frozenset({CKK.HKDF}), approved=True,
             ops={Op.GENERATE: _keygen}),
)
