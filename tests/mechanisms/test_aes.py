"""AES mechanisms: round trips, streaming, length queries, SP 800-38A
vectors, Wycheproof GCM vectors and error codes."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from craton_hsm._generated_ck import CKA, CKK, CKM
from craton_hsm.errors import (
    DataLenRange,
    EncryptedDataInvalid,
    EncryptedDataLenRange,
    KeySizeRange,
    KeyTypeInconsistent,
    MechanismParamInvalid,
    TemplateIncomplete,
)
from craton_hsm.mechanisms.params import AesCtrParams, GcmParams
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.mechanisms.conftest import FakeKey
from tests.mechanisms.coverage import vectors
from tests.mechanisms.vectors import SHARED

VECTORS = SHARED
KEY = bytes(range(16))
IV = bytes(range(16, 32))


def aes(value: bytes = KEY) -> FakeKey:
    return FakeKey({CKA.KEY_TYPE: CKK.AES, CKA.VALUE: value})


def op(mech: int, which: Op, params: Any, value: bytes = KEY) -> Any:
    return REGISTRY[mech].factory(which)(aes(value), params)


def multipart(o: Any, data: bytes, step: int) -> bytes:
    out = b""
    for i in range(0, len(data), step):
        chunk = data[i:i + step]
        want = o.update_size(len(chunk))
        got = o.update(chunk)
        assert len(got) == want
        out += got
    size = o.final_size()
    last = o.final()
    assert len(last) <= size
    return out + last


ROUND_TRIPS = [
    (CKM.AES_ECB, None, 64),
    (CKM.AES_CBC, IV, 64),
    (CKM.AES_CBC_PAD, IV, 0),
    (CKM.AES_CBC_PAD, IV, 33),
    (CKM.AES_CBC_PAD, IV, 48),
    (CKM.AES_CTR, AesCtrParams(128, IV), 45),
    (CKM.AES_GCM, GcmParams(IV[:12], 96, b"aad", 128), 45),
    (CKM.AES_GCM, GcmParams(IV[:12], 0, b"", 96), 0),
]


@pytest.mark.parametrize("mech,params,n", ROUND_TRIPS)
@pytest.mark.parametrize("step", [1, 7, 16, 100])
def test_round_trip(mech: int, params: Any, n: int, step: int) -> None:
    data = os.urandom(n)
    enc = op(mech, Op.ENCRYPT, params)
    one = enc.one_shot(data)
    assert len(one) <= op(mech, Op.ENCRYPT, params).one_shot_size(n)
    assert multipart(op(mech, Op.ENCRYPT, params), data, step) == one
    assert op(mech, Op.DECRYPT, params).one_shot(one) == data
    assert multipart(op(mech, Op.DECRYPT, params), one, step) == data


@vectors(CKM.AES_CBC, CKM.AES_CTR,
         source="NIST SP 800-38A F.2.1, F.5.1")
def test_sp800_38a_cbc_and_ctr() -> None:
    # SP 800-38A F.2.1 CBC-AES128.Encrypt and F.5.1 CTR-AES128.Encrypt,
    # first block.
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    pt = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    cbc = op(CKM.AES_CBC, Op.ENCRYPT, bytes(range(16)), key)
    assert cbc.one_shot(pt).hex() == "7649abac8119b246cee98e9b12e9197d"
    ctr_iv = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
    ctr = op(CKM.AES_CTR, Op.ENCRYPT, AesCtrParams(128, ctr_iv), key)
    assert ctr.one_shot(pt).hex() == "874d6191b620e3261bef6864990db6ce"


def test_cbc_pad_against_cryptography() -> None:
    ct = op(CKM.AES_CBC_PAD, Op.ENCRYPT, IV).one_shot(b"x" * 20)
    d = Cipher(algorithms.AES(KEY), modes.CBC(IV)).decryptor()
    plain = d.update(ct) + d.finalize()
    assert plain == b"x" * 20 + bytes([12]) * 12


def test_block_length_errors() -> None:
    with pytest.raises(DataLenRange):
        op(CKM.AES_ECB, Op.ENCRYPT, None).one_shot(b"x" * 15)
    with pytest.raises(EncryptedDataLenRange):
        op(CKM.AES_CBC, Op.DECRYPT, IV).one_shot(b"x" * 17)
    with pytest.raises(EncryptedDataLenRange):
        op(CKM.AES_CBC_PAD, Op.DECRYPT, IV).one_shot(b"x" * 15)


def test_bad_padding_is_generic() -> None:
    ct = op(CKM.AES_CBC, Op.ENCRYPT, IV).one_shot(b"\x00" * 16)
    with pytest.raises(EncryptedDataInvalid):
        op(CKM.AES_CBC_PAD, Op.DECRYPT, IV).one_shot(ct)


def test_ctr_counter_wrap() -> None:
    # Two counter bits starting at 2: blocks 2 and 3 only.
    cb = b"\x00" * 15 + b"\x02"
    ctr = op(CKM.AES_CTR, Op.ENCRYPT, AesCtrParams(2, cb))
    assert len(ctr.update(b"x" * 32)) == 32
    with pytest.raises(DataLenRange):
        ctr.update(b"x")
    # Within the range the low bits agree with a full 128-bit counter.
    cb = b"\xff" * 15 + b"\xfe"
    ctr = op(CKM.AES_CTR, Op.ENCRYPT, AesCtrParams(8, cb))
    assert len(ctr.one_shot(b"x" * 32)) == 32
    with pytest.raises(DataLenRange):
        op(CKM.AES_CTR, Op.ENCRYPT, AesCtrParams(8, cb)).one_shot(b"x" * 33)


@pytest.mark.parametrize("params", [
    None, b"short", AesCtrParams(0, IV), AesCtrParams(129, IV),
])
def test_bad_cbc_ctr_params(params: Any) -> None:
    mech = CKM.AES_CTR if isinstance(params, AesCtrParams) else CKM.AES_CBC
    with pytest.raises(MechanismParamInvalid):
        op(mech, Op.ENCRYPT, params)


@pytest.mark.parametrize("params", [
    None, b"iv", GcmParams(IV[:12], 96, b"", 127),
    GcmParams(IV[:12], 95, b"", 128), GcmParams(b"1234567", 0, b"", 128),
])
def test_bad_gcm_params(params: Any) -> None:
    with pytest.raises(MechanismParamInvalid):
        op(CKM.AES_GCM, Op.ENCRYPT, params)


def test_gcm_tamper_and_short() -> None:
    p = GcmParams(IV[:12], 96, b"a", 128)
    ct = bytearray(op(CKM.AES_GCM, Op.ENCRYPT, p).one_shot(b"secret"))
    ct[0] ^= 1
    with pytest.raises(EncryptedDataInvalid):
        op(CKM.AES_GCM, Op.DECRYPT, p).one_shot(bytes(ct))
    with pytest.raises(EncryptedDataLenRange):
        op(CKM.AES_GCM, Op.DECRYPT, p).one_shot(b"x" * 15)


def test_gcm_decrypt_releases_nothing_before_final() -> None:
    p = GcmParams(IV[:12], 96, b"", 64)
    ct = op(CKM.AES_GCM, Op.ENCRYPT, p).one_shot(b"y" * 40)
    assert len(ct) == 48
    dec = op(CKM.AES_GCM, Op.DECRYPT, p)
    assert dec.update(ct) == b""
    assert dec.final_size() == 40
    assert dec.final() == b"y" * 40


def _gcm_cases() -> list[Any]:
    path = VECTORS / "wycheproof" / "aes_gcm_test.json"
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    return [pytest.param(t, id=f"tc{t['tcId']}")
            for g in doc["testGroups"] for t in g["tests"]]


@vectors(CKM.AES_GCM,
         source="Wycheproof aes_gcm_test.json")
@pytest.mark.parametrize("t", _gcm_cases())
def test_wycheproof_gcm(t: dict[str, Any]) -> None:
    key, iv, aad = (bytes.fromhex(t[k]) for k in ("key", "iv", "aad"))
    msg, ct, tag = (bytes.fromhex(t[k]) for k in ("msg", "ct", "tag"))
    params = GcmParams(iv, 8 * len(iv), aad, 8 * len(tag))
    if not 8 <= len(iv) <= 128:
        # Beyond what the backend can do: refused, never mis-computed.
        with pytest.raises(MechanismParamInvalid):
            op(CKM.AES_GCM, Op.DECRYPT, params, key)
        return
    dec = op(CKM.AES_GCM, Op.DECRYPT, params, key)
    if t["result"] == "valid":
        assert dec.one_shot(ct + tag) == msg
        enc = op(CKM.AES_GCM, Op.ENCRYPT, params, key)
        assert enc.one_shot(msg) == ct + tag
    else:
        with pytest.raises(EncryptedDataInvalid):
            dec.one_shot(ct + tag)


def test_key_checks() -> None:
    with pytest.raises(KeySizeRange):
        op(CKM.AES_ECB, Op.ENCRYPT, None, b"k" * 20)
    wrong = FakeKey({CKA.KEY_TYPE: CKK.GENERIC_SECRET, CKA.VALUE: KEY})
    with pytest.raises(KeyTypeInconsistent):
        REGISTRY[CKM.AES_ECB].factory(Op.ENCRYPT)(wrong, None)


@vectors(CKM.AES_KEY_GEN,
         source="generated keys checked with cryptography")
def test_keygen() -> None:
    gen = REGISTRY[CKM.AES_KEY_GEN].factory(Op.GENERATE)(None, None)
    out = gen.generate({CKA.VALUE_LEN: 24})
    assert len(out[CKA.VALUE]) == 24 and out[CKA.VALUE_LEN] == 24
    with pytest.raises(KeySizeRange):
        gen.generate({CKA.VALUE_LEN: 20})
    with pytest.raises(TemplateIncomplete):
        gen.generate({})
