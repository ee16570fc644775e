"""AES-CMAC and AES-CMAC_GENERAL against NIST SP 800-38B (from
cryptography-vectors) and Wycheproof aes_cmac_test.json."""

from __future__ import annotations

from typing import Any

import pytest

from craton_hsm._generated_ck import CKA, CKK, CKM
from craton_hsm.errors import (
    KeySizeRange,
    KeyTypeInconsistent,
    MechanismParamInvalid,
    SignatureInvalid,
    SignatureLenRange,
)
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.mechanisms.conftest import FakeKey
from tests.mechanisms.coverage import vectors
from tests.mechanisms.vectors import nist_records, unhex, wycheproof


def aes(value: bytes) -> FakeKey:
    return FakeKey({CKA.KEY_TYPE: CKK.AES, CKA.VALUE: value})


NIST = [pytest.param(r, id=f"aes{bits}-{r['COUNT']}")
        for bits in (128, 192, 256)
        for r in nist_records(f"CMAC/nist-800-38b-aes{bits}.txt")]


@vectors(CKM.AES_CMAC,
         source="NIST SP 800-38B")
@pytest.mark.parametrize("r", NIST)
def test_sp800_38b(r: dict[str, str]) -> None:
    k, msg, tag = unhex(r["KEY"]), unhex(r["MESSAGE"]), unhex(r["OUTPUT"])
    spec = REGISTRY[CKM.AES_CMAC]
    assert spec.factory(Op.SIGN)(aes(k), None).sign(msg) == tag
    signer = spec.factory(Op.SIGN)(aes(k), None)
    for i in range(0, len(msg), 5):
        signer.update(msg[i:i + 5])
    assert signer.final() == tag
    spec.factory(Op.VERIFY)(aes(k), None).verify(msg, tag)
    general = REGISTRY[CKM.AES_CMAC_GENERAL]
    assert general.factory(Op.SIGN)(aes(k), 8).sign(msg) == tag[:8]


@vectors(CKM.AES_CMAC, CKM.AES_CMAC_GENERAL,
         source="Wycheproof aes_cmac_test.json")
@pytest.mark.parametrize("g,t", wycheproof("aes_cmac_test.json"))
def test_wycheproof_cmac(g: dict[str, Any], t: dict[str, Any]) -> None:
    k, msg, tag = unhex(t["key"]), unhex(t["msg"]), unhex(t["tag"])
    n = g["tagSize"] // 8
    spec = REGISTRY[CKM.AES_CMAC if n == 16 else CKM.AES_CMAC_GENERAL]
    params = None if n == 16 else n
    if len(k) not in (16, 24, 32):
        # Invalid key sizes are refused before any MAC is computed.
        assert t["result"] == "invalid"
        with pytest.raises(KeySizeRange):
            spec.factory(Op.VERIFY)(aes(k), params)
        return
    verifier = spec.factory(Op.VERIFY)(aes(k), params)
    if t["result"] == "valid":
        assert spec.factory(Op.SIGN)(aes(k), params).sign(msg) == tag
        verifier.verify(msg, tag)
    else:
        with pytest.raises(SignatureInvalid):
            verifier.verify(msg, tag)


def test_cmac_errors() -> None:
    k = bytes(16)
    with pytest.raises(MechanismParamInvalid):
        REGISTRY[CKM.AES_CMAC_GENERAL].factory(Op.SIGN)(aes(k), 17)
    with pytest.raises(MechanismParamInvalid):
        REGISTRY[CKM.AES_CMAC].factory(Op.SIGN)(aes(k), 8)
    with pytest.raises(SignatureLenRange):
        REGISTRY[CKM.AES_CMAC].factory(Op.VERIFY)(aes(k), None).verify(
            b"m", b"x" * 8)
    wrong = FakeKey({CKA.KEY_TYPE: CKK.GENERIC_SECRET, CKA.VALUE: k})
    with pytest.raises(KeyTypeInconsistent):
        REGISTRY[CKM.AES_CMAC].factory(Op.SIGN)(wrong, None)
