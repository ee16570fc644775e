"""CKM_ECDH1_DERIVE and CKM_ECDH1_COFACTOR_DERIVE with
CK_ECDH1_DERIVE_PARAMS (PKCS#11 v3.0 Current Mechanisms 2.3.16-17,
SP 800-56A rev. 3).

The shared secret Z is fed to the KDF the caller names: CKD_NULL (Z
itself, leftmost bytes when a shorter key is asked for, no shared data
allowed) or the ANSI X9.63 KDF with SHA-1/2 and the caller's shared data.
The derived key's class, type and length come from the template.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm._generated_ck import CKA, CKD, CKF, CKK, CKM
from craton_hsm.backend import ec as ec_backend
from craton_hsm.backend import ecdh as backend
from craton_hsm.errors import (
    MechanismParamInvalid,
    TemplateIncomplete,
    TemplateInconsistent,
)
from craton_hsm.mechanisms.checks import keyed, params_of
from craton_hsm.mechanisms.ec import EC_FLAGS, KEY_BITS, private_key
from craton_hsm.mechanisms.ec_curves import unwrap_point
from craton_hsm.mechanisms.params import Ecdh1Params
from craton_hsm.mechanisms.registry import KeyLike, MechSpec, Op, ParamKind

KDF_HASH = {CKD.SHA1_KDF: "sha1", CKD.SHA224_KDF: "sha224",
            CKD.SHA256_KDF: "sha256", CKD.SHA384_KDF: "sha384",
            CKD.SHA512_KDF: "sha512"}
# Key types whose length is fixed by the type itself.
FIXED_LENGTH = {CKK.CHACHA20: 32}


class EcdhDerive:
    def __init__(self, key: KeyLike, params: Ecdh1Params) -> None:
        if params.kdf != CKD.NULL and params.kdf not in KDF_HASH:
            raise MechanismParamInvalid("unsupported KDF")
        if params.kdf == CKD.NULL and params.shared_data:
            raise MechanismParamInvalid("CKD_NULL takes no shared data")
        curve, self._private = private_key(key)
        peer = unwrap_point(curve, params.public_data)
        self._peer = ec_backend.load_public(curve.name, peer)
        self._params = params

    def derive(self, template: Mapping[int, Any]) -> dict[int, Any]:
        z = backend.shared_secret(self._private, self._peer)
        length = _length(template, len(z))
        if self._params.kdf == CKD.NULL:
            if length > len(z):
                raise TemplateInconsistent("key longer than the secret")
            value = z[:length]
        else:
            value = backend.x963(KDF_HASH[CKD(self._params.kdf)], z,
                                 length, self._params.shared_data)
        return {CKA.VALUE: value}


def _length(template: Mapping[int, Any], default: int) -> int:
    if CKA.VALUE_LEN in template:
        return int(template[CKA.VALUE_LEN])
    key_type = template.get(CKA.KEY_TYPE)
    if key_type in FIXED_LENGTH:
        return FIXED_LENGTH[key_type]
    if key_type == CKK.GENERIC_SECRET:
        return default
    raise TemplateIncomplete("derived key needs CKA_VALUE_LEN")


def _derive(key: KeyLike | None, params: object) -> EcdhDerive:
    return EcdhDerive(keyed(key, frozenset({CKK.EC})),
                      params_of(params, Ecdh1Params))


SPECS: tuple[MechSpec, ...] = tuple(
    MechSpec(mech, CKF.DERIVE | EC_FLAGS, key_size=KEY_BITS,
             key_types=frozenset({CKK.EC}), approved=True,
             params=ParamKind.ECDH1, ops={Op.DERIVE: _derive})
    for mech in (CKM.ECDH1_DERIVE, CKM.ECDH1_COFACTOR_DERIVE)
)
