"""ML-KEM (PKCS#11 v3.2 CKM_ML_KEM_KEY_PAIR_GEN / CKM_ML_KEM) at the
mechanism level: generated keys interoperate with pyca/cryptography,
Wycheproof ML-KEM-768/1024 decapsulation, key-generation-from-seed and
encapsulation-key files, parameter set and length errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import mlkem

from craton_hsm._generated_ck import CKA, CKK, CKM, CKP, CKR
from craton_hsm.errors import (
    CKRError,
    EncryptedDataLenRange,
    KeyTypeInconsistent,
    MechanismParamInvalid,
    TemplateIncomplete,
)
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.mechanisms.conftest import FakeKey
from tests.mechanisms.coverage import vectors
from tests.mechanisms.vectors import SHARED

SETS = {768: CKP.ML_KEM_768, 1024: CKP.ML_KEM_1024}
CT_LEN = {768: 1088, 1024: 1568}
PYCA_PUB = {768: mlkem.MLKEM768PublicKey, 1024: mlkem.MLKEM1024PublicKey}
PYCA_PRIV = {768: mlkem.MLKEM768PrivateKey,
             1024: mlkem.MLKEM1024PrivateKey}


def keypair(level: int) -> tuple[FakeKey, FakeKey]:
    gen = REGISTRY[CKM.ML_KEM_KEY_PAIR_GEN].factory(
        Op.GENERATE_KEY_PAIR)(None, None)
    pub, priv = gen.generate({CKA.PARAMETER_SET: SETS[level]}, {})
    return (FakeKey({CKA.KEY_TYPE: CKK.ML_KEM, **pub}),
            FakeKey({CKA.KEY_TYPE: CKK.ML_KEM, **priv}))


def pub_key(level: int, raw: bytes) -> FakeKey:
    return FakeKey({CKA.KEY_TYPE: CKK.ML_KEM, CKA.PARAMETER_SET: SETS[level],
                    CKA.VALUE: raw})


def priv_key(level: int, seed: bytes) -> FakeKey:
    return FakeKey({CKA.KEY_TYPE: CKK.ML_KEM, CKA.PARAMETER_SET: SETS[level],
                    CKA.SEED: seed})


def encapsulate(key: FakeKey, params: Any = None) -> tuple[bytes, bytes]:
    op = REGISTRY[CKM.ML_KEM].factory(Op.ENCAPSULATE)(key, params)
    ct, secret = op.encapsulate()
    assert op.ciphertext_size == len(ct)
    return ct, secret


def decapsulate(key: FakeKey, ct: bytes, params: Any = None) -> bytes:
    op = REGISTRY[CKM.ML_KEM].factory(Op.DECAPSULATE)(key, params)
    return bytes(op.decapsulate(ct))


@pytest.mark.parametrize("level", sorted(SETS))
def test_keygen_encapsulate_interop_with_pyca(level: int) -> None:
    pub, priv = keypair(level)
    assert len(priv.attrs[CKA.SEED]) == 64
    assert CKA.VALUE not in priv.attrs
    ct, secret = encapsulate(pub)
    assert len(ct) == CT_LEN[level] and len(secret) == 32
    assert decapsulate(priv, ct) == secret
    # pyca decapsulates our ciphertext from the same seed, and we
    # decapsulate pyca's ciphertext to its secret.
    theirs = PYCA_PRIV[level].from_seed_bytes(priv.attrs[CKA.SEED])
    assert theirs.decapsulate(ct) == secret
    their_secret, their_ct = PYCA_PUB[level].from_public_bytes(
        pub.attrs[CKA.VALUE]).encapsulate()
    assert decapsulate(priv, their_ct) == their_secret


def test_encapsulations_are_fresh() -> None:
    pub, _ = keypair(768)
    (ct1, s1), (ct2, s2) = encapsulate(pub), encapsulate(pub)
    assert ct1 != ct2 and s1 != s2


def test_parameter_set_errors() -> None:
    gen = REGISTRY[CKM.ML_KEM_KEY_PAIR_GEN].factory(
        Op.GENERATE_KEY_PAIR)(None, None)
    with pytest.raises(CKRError) as info:
        gen.generate({CKA.PARAMETER_SET: CKP.ML_KEM_512}, {})
    assert info.value.rv == CKR.PARAMETER_SET_NOT_SUPPORTED
    with pytest.raises(TemplateIncomplete):
        gen.generate({}, {})
    with pytest.raises(MechanismParamInvalid):
        REGISTRY[CKM.ML_KEM_KEY_PAIR_GEN].factory(
            Op.GENERATE_KEY_PAIR)(None, b"x")
    key = FakeKey({CKA.KEY_TYPE: CKK.ML_KEM,
                   CKA.PARAMETER_SET: CKP.ML_KEM_512, CKA.VALUE: b"\0" * 800})
    with pytest.raises(CKRError) as info:
        encapsulate(key)
    assert info.value.rv == CKR.PARAMETER_SET_NOT_SUPPORTED


def test_key_and_ciphertext_errors() -> None:
    pub, priv = keypair(1024)
    with pytest.raises(MechanismParamInvalid):
        encapsulate(pub, b"param")
    with pytest.raises(KeyTypeInconsistent):
        encapsulate(FakeKey({CKA.KEY_TYPE: CKK.ML_DSA,
                             CKA.PARAMETER_SET: SETS[1024],
                             CKA.VALUE: pub.attrs[CKA.VALUE]}))
    with pytest.raises(KeyTypeInconsistent):
        decapsulate(FakeKey({CKA.KEY_TYPE: CKK.ML_KEM,
                             CKA.PARAMETER_SET: SETS[1024]}), b"\0" * 1568)
    ct, _ = encapsulate(pub)
    for bad in (ct[:-1], ct + b"\0", b""):
        with pytest.raises(EncryptedDataLenRange):
            decapsulate(priv, bad)


def wycheproof(kind: str) -> list[Any]:
    out = []
    for level in sorted(SETS):
        name = f"mlkem_{level}_{kind}test.json"
        doc = json.loads((SHARED / "wycheproof" / name).read_text())
        for g in doc["testGroups"]:
            for t in g["tests"]:
                out.append(pytest.param(level, t,
                                        id=f"{level}-tc{t['tcId']}"))
    return out


@vectors(CKM.ML_KEM, source="Wycheproof mlkem_{768,1024}")
@pytest.mark.parametrize(("level", "t"), wycheproof(""))
def test_wycheproof_decapsulate(level: int, t: dict[str, Any]) -> None:
    """Seed (d || z) and ciphertext -> the shared secret K; short/long
    seeds are malformed keys, short/long ciphertexts out of range."""
    key = priv_key(level, bytes.fromhex(t["seed"]))
    ct = bytes.fromhex(t["c"])
    if t["result"] == "valid":
        assert decapsulate(key, ct).hex() == t["K"]
        return
    if "Private key" in t["comment"]:
        with pytest.raises(KeyTypeInconsistent):
            decapsulate(key, ct)
    else:
        with pytest.raises(EncryptedDataLenRange):
            decapsulate(key, ct)


@vectors(CKM.ML_KEM_KEY_PAIR_GEN, CKM.ML_KEM,
         source="Wycheproof mlkem_{768,1024}_keygen_seed")
@pytest.mark.parametrize(("level", "t"), wycheproof("keygen_seed_"))
def test_wycheproof_keygen_seed(level: int, t: dict[str, Any]) -> None:
    """A private key held as its Wycheproof seed (the form the key pair
    generator stores) decapsulates what is encapsulated to the
    Wycheproof encapsulation key ek."""
    pub = pub_key(level, bytes.fromhex(t["ek"]))
    priv = priv_key(level, bytes.fromhex(t["seed"]))
    ct, secret = encapsulate(pub)
    assert decapsulate(priv, ct) == secret


@vectors(CKM.ML_KEM, source="Wycheproof mlkem_{768,1024}_encaps")
@pytest.mark.parametrize(("level", "t"), wycheproof("encaps_"))
def test_wycheproof_encapsulation_key(level: int, t: dict[str, Any]) -> None:
    """Encapsulation randomness cannot be injected, so valid cases check
    the ciphertext size; malformed ek (wrong length, coefficients >= q)
    must be refused as an inconsistent key."""
    key = pub_key(level, bytes.fromhex(t["ek"]))
    if t["result"] == "valid":
        ct, secret = encapsulate(key)
        assert len(ct) == CT_LEN[level] and len(secret) == 32
    else:
        with pytest.raises(KeyTypeInconsistent):
            encapsulate(key)
