"""Registry invariants: flags, factories, key-generation rows."""

from __future__ import annotations

import pytest

from craton_hsm._generated_ck import CKF, CKK, CKM
from craton_hsm.mechanisms.registry import REGISTRY, MechSpec, Op

FLAG_OPS = {
    CKF.DIGEST: Op.DIGEST, CKF.ENCRYPT: Op.ENCRYPT,
    CKF.DECRYPT: Op.DECRYPT, CKF.SIGN: Op.SIGN, CKF.VERIFY: Op.VERIFY,
    CKF.GENERATE: Op.GENERATE,
    CKF.GENERATE_KEY_PAIR: Op.GENERATE_KEY_PAIR,
    CKF.ENCAPSULATE: Op.ENCAPSULATE, CKF.DECAPSULATE: Op.DECAPSULATE,
    CKF.MESSAGE_ENCRYPT: Op.MESSAGE_ENCRYPT,
    CKF.MESSAGE_DECRYPT: Op.MESSAGE_DECRYPT,
    CKF.MESSAGE_SIGN: Op.MESSAGE_SIGN, CKF.MESSAGE_VERIFY: Op.MESSAGE_VERIFY,
}
# CK_MECHANISM_INFO flag bits defined by PKCS#11 v3.0 section 3.5, plus
# the v3.2 CKF_ENCAPSULATE / CKF_DECAPSULATE.
MECH_INFO_BITS = (
    CKF.HW | CKF.MESSAGE_ENCRYPT | CKF.MESSAGE_DECRYPT | CKF.MESSAGE_SIGN
    | CKF.MESSAGE_VERIFY | CKF.MULTI_MESSAGE | CKF.FIND_OBJECTS
    | CKF.ENCRYPT | CKF.DECRYPT | CKF.DIGEST | CKF.SIGN | CKF.SIGN_RECOVER
    | CKF.VERIFY | CKF.VERIFY_RECOVER | CKF.GENERATE | CKF.GENERATE_KEY_PAIR
    | CKF.WRAP | CKF.UNWRAP | CKF.DERIVE | CKF.EC_F_P | CKF.EC_F_2M
    | CKF.EC_ECPARAMETERS | CKF.EC_NAMEDCURVE | CKF.EC_UNCOMPRESS
    | CKF.EC_COMPRESS | CKF.EC_CURVENAME | CKF.EXTENSION
    | CKF.ENCAPSULATE | CKF.DECAPSULATE)

SPECS = sorted(REGISTRY.values(), key=lambda s: s.mechanism)


def _id(s: MechSpec) -> str:
    return f"0x{s.mechanism:x}"


@pytest.mark.parametrize("spec", SPECS, ids=_id)
def test_flags_and_factories(spec: MechSpec) -> None:
    assert spec.flags & ~MECH_INFO_BITS == 0
    for flag, op in FLAG_OPS.items():
        assert bool(spec.flags & flag) == (op in spec.ops), op
    assert spec.multipart <= set(spec.ops)
    assert spec.key_size[0] <= spec.key_size[1]


@pytest.mark.parametrize("spec", SPECS, ids=_id)
def test_generation_rows_name_one_key_type(spec: MechSpec) -> None:
    # CKM_PKCS5_PBKD2 makes whichever secret key type the template names
    # (its row lists those); every other generation row makes one type.
    if spec.flags & (CKF.GENERATE | CKF.GENERATE_KEY_PAIR):
        if spec.mechanism == CKM.PKCS5_PBKD2:
            assert CKK.AES in spec.key_types
        else:
            assert len(spec.key_types) == 1
