"""AES-CCM and ChaCha20-Poly1305 against Wycheproof, plus length,
parameter and key checks and ChaCha20 key generation."""

from __future__ import annotations

from typing import Any

import pytest

from craton_hsm._generated_ck import CKA, CKK, CKM
from craton_hsm.errors import (
    DataLenRange,
    EncryptedDataInvalid,
    EncryptedDataLenRange,
    KeySizeRange,
    KeyTypeInconsistent,
    MechanismParamInvalid,
)
from craton_hsm.mechanisms.params import CcmParams, ChaCha20Poly1305Params
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.mechanisms.conftest import FakeKey
from tests.mechanisms.coverage import vectors
from tests.mechanisms.vectors import unhex, wycheproof


def key(value: bytes, kt: int) -> FakeKey:
    return FakeKey({CKA.KEY_TYPE: kt, CKA.VALUE: value})


def fields(t: dict[str, Any]) -> list[bytes]:
    return [unhex(t[k]) for k in ("key", "iv", "aad", "msg", "ct", "tag")]


def multipart(op: Any, data: bytes, step: int = 7) -> bytes:
    out = b""
    for i in range(0, len(data), step):
        out += op.update(data[i:i + step])
    return out + op.final()


@vectors(CKM.AES_CCM,
         source="Wycheproof aes_ccm_test.json")
@pytest.mark.parametrize("g,t", wycheproof("aes_ccm_test.json"))
def test_wycheproof_ccm(g: dict[str, Any], t: dict[str, Any]) -> None:
    k, iv, aad, msg, ct, tag = fields(t)
    p = CcmParams(len(msg), iv, aad, len(tag))
    spec = REGISTRY[CKM.AES_CCM]
    if not 7 <= len(iv) <= 13 or len(tag) % 2 or not 4 <= len(tag) <= 16:
        # Parameters SP 800-38C forbids are refused at init.
        assert t["result"] == "invalid"
        with pytest.raises(MechanismParamInvalid):
            spec.factory(Op.DECRYPT)(key(k, CKK.AES), p)
        return
    dec = spec.factory(Op.DECRYPT)(key(k, CKK.AES), p)
    if t["result"] == "valid":
        assert dec.one_shot(ct + tag) == msg
        enc = spec.factory(Op.ENCRYPT)(key(k, CKK.AES), p)
        assert multipart(enc, msg) == ct + tag
    else:
        with pytest.raises(EncryptedDataInvalid):
            dec.one_shot(ct + tag)


@vectors(CKM.CHACHA20_POLY1305,
         source="Wycheproof chacha20_poly1305_test.json")
@pytest.mark.parametrize("g,t", wycheproof("chacha20_poly1305_test.json"))
def test_wycheproof_chacha(g: dict[str, Any], t: dict[str, Any]) -> None:
    k, iv, aad, msg, ct, tag = fields(t)
    p = ChaCha20Poly1305Params(iv, aad)
    spec = REGISTRY[CKM.CHACHA20_POLY1305]
    if len(iv) != 12:
        assert t["result"] == "invalid"
        with pytest.raises(MechanismParamInvalid):
            spec.factory(Op.DECRYPT)(key(k, CKK.CHACHA20), p)
        return
    dec = spec.factory(Op.DECRYPT)(key(k, CKK.CHACHA20), p)
    if t["result"] == "valid":
        assert multipart(dec, ct + tag) == msg
        enc = spec.factory(Op.ENCRYPT)(key(k, CKK.CHACHA20), p)
        assert enc.one_shot_size(len(msg)) == len(msg) + 16
        assert enc.one_shot(msg) == ct + tag
    else:
        with pytest.raises(EncryptedDataInvalid):
            dec.one_shot(ct + tag)


def test_ccm_lengths_follow_uldatalen() -> None:
    k, spec = key(bytes(16), CKK.AES), REGISTRY[CKM.AES_CCM]
    p = CcmParams(10, bytes(12), b"", 8)
    with pytest.raises(DataLenRange):
        spec.factory(Op.ENCRYPT)(k, p).one_shot(b"x" * 9)
    enc = spec.factory(Op.ENCRYPT)(k, p)
    with pytest.raises(DataLenRange):
        enc.update(b"x" * 11)
    ct = spec.factory(Op.ENCRYPT)(k, p).one_shot(b"x" * 10)
    assert len(ct) == 18
    dec = spec.factory(Op.DECRYPT)(k, p)
    assert dec.update(ct) == b"" and dec.final_size() == 10
    assert dec.final() == b"x" * 10
    with pytest.raises(EncryptedDataLenRange):
        spec.factory(Op.DECRYPT)(k, p).one_shot(ct[:-1])


@pytest.mark.parametrize("p", [
    None, CcmParams(1, bytes(6), b"", 8), CcmParams(1, bytes(14), b"", 8),
    CcmParams(1, bytes(12), b"", 5), CcmParams(1, bytes(12), b"", 18),
    CcmParams(1 << 24, bytes(12), b"", 8),
])
def test_ccm_bad_params(p: Any) -> None:
    with pytest.raises(MechanismParamInvalid):
        REGISTRY[CKM.AES_CCM].factory(Op.ENCRYPT)(key(bytes(16), CKK.AES), p)


def test_chacha_nonce_and_key_checks() -> None:
    spec = REGISTRY[CKM.CHACHA20_POLY1305]
    good = key(bytes(32), CKK.CHACHA20)
    # The 64-bit nonce is legal in the structure; the backend cannot.
    with pytest.raises(MechanismParamInvalid):
        spec.factory(Op.ENCRYPT)(good, ChaCha20Poly1305Params(bytes(8), b""))
    p = ChaCha20Poly1305Params(bytes(12), b"")
    with pytest.raises(KeySizeRange):
        spec.factory(Op.ENCRYPT)(key(bytes(16), CKK.CHACHA20), p)
    with pytest.raises(KeyTypeInconsistent):
        spec.factory(Op.ENCRYPT)(key(bytes(32), CKK.AES), p)
    with pytest.raises(EncryptedDataLenRange):
        spec.factory(Op.DECRYPT)(good, p).one_shot(b"x" * 15)


@vectors(CKM.CHACHA20_KEY_GEN,
         source="generated keys checked with cryptography")
def test_chacha_keygen() -> None:
    gen = REGISTRY[CKM.CHACHA20_KEY_GEN].factory(Op.GENERATE)(None, None)
    out = gen.generate({})
    assert len(out[CKA.VALUE]) == 32 and out[CKA.VALUE_LEN] == 32
    assert gen.generate({CKA.VALUE_LEN: 32})[CKA.VALUE] != out[CKA.VALUE]
    with pytest.raises(KeySizeRange):
        gen.generate({CKA.VALUE_LEN: 16})
