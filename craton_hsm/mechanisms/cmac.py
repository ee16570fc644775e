"""AES-CMAC and general-length AES-CMAC (PKCS#11 v3.0 section 2.10.6,
CKM_AES_CMAC / CKM_AES_CMAC_GENERAL; SP 800-38B)."""

from __future__ import annotations

from craton_hsm._generated_ck import CKF, CKM
from craton_hsm.backend.aead import Cmac
from craton_hsm.mechanisms.aes import KEY_BYTES, KEY_TYPES, aes_key
from craton_hsm.mechanisms.checks import no_params
from craton_hsm.mechanisms.mac_ops import MacSign, MacVerify, general_length
from craton_hsm.mechanisms.message import with_message_macs
from craton_hsm.mechanisms.registry import (
    Factory,
    KeyLike,
    MechSpec,
    Op,
    ParamKind,
)

BLOCK = 16


def _factory(cls: type[MacSign | MacVerify], general: bool) -> Factory:
    def make(key: KeyLike | None, params: object) -> MacSign | MacVerify:
        if general:
            size = general_length(params, BLOCK)
        else:
            no_params(params)
            size = BLOCK
        return cls(Cmac(aes_key(key)), size)
    return make


def _spec(mech: int, general: bool) -> MechSpec:
    return with_message_macs(MechSpec(
        mech, CKF.SIGN | CKF.VERIFY, key_size=KEY_BYTES,
        key_types=KEY_TYPES, approved=True,
        params=ParamKind.ULONG if general else ParamKind.NONE,
        ops={Op.SIGN: _factory(MacSign, general),
             Op.VERIFY: _factory(MacVerify, general)},
        multipart=frozenset({Op.SIGN, Op.VERIFY})))


SPECS: tuple[MechSpec, ...] = (
    _spec(CKM.AES_CMAC, False),
    _spec(CKM.AES_CMAC_GENERAL, True),
)
