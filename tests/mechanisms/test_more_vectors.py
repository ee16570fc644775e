"""Vectors for rows whose family tests cross-check with ``cryptography``:
AES-ECB (FIPS 197 appendix C), AES-CBC-PAD (Wycheproof aes_cbc_pkcs5),
AES key wrap KW/KWP (Wycheproof aes_wrap / aes_kwp) and the raw
signature mechanisms CKM_RSA_PKCS, CKM_RSA_PKCS_PSS and CKM_ECDSA, fed the
digest (and for PKCS#1 the RFC 8017 DigestInfo) of Wycheproof messages.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from craton_hsm._generated_ck import CKA, CKG, CKK, CKM
from craton_hsm.errors import (
    CKRError,
    EncryptedDataInvalid,
    SignatureInvalid,
    SignatureLenRange,
)
from craton_hsm.mechanisms.params import RsaPssParams
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.mechanisms.conftest import FakeKey
from tests.mechanisms.coverage import vectors
from tests.mechanisms.vectors import SHARED, unhex, wycheproof


def run(mech: int, op: Op, key: Any, params: Any = None) -> Any:
    return REGISTRY[mech].factory(op)(key, params)


def aes(value: bytes) -> FakeKey:
    return FakeKey({CKA.KEY_TYPE: CKK.AES, CKA.VALUE: value})


@vectors(CKM.AES_ECB, source="FIPS 197 appendix C.1-C.3")
@pytest.mark.parametrize("key,ct", [
    ("000102030405060708090a0b0c0d0e0f",
     "69c4e0d86a7b0430d8cdb78070b4c55a"),
    ("000102030405060708090a0b0c0d0e0f1011121314151617",
     "dda97ca4864cdfe06eaf70a0ec0d7191"),
    ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "8ea2b7ca516745bfeafc49904b496089"),
])
def test_fips197_ecb(key: str, ct: str) -> None:
    pt = unhex("00112233445566778899aabbccddeeff")
    assert run(CKM.AES_ECB, Op.ENCRYPT, aes(unhex(key))).one_shot(pt) == \
        unhex(ct)
    assert run(CKM.AES_ECB, Op.DECRYPT, aes(unhex(key))).one_shot(
        unhex(ct)) == pt


@vectors(CKM.AES_CBC_PAD, source="Wycheproof aes_cbc_pkcs5_test.json")
@pytest.mark.parametrize("g,t", wycheproof("aes_cbc_pkcs5_test.json"))
def test_wycheproof_cbc_pad(g: dict[str, Any], t: dict[str, Any]) -> None:
    key, iv = aes(unhex(t["key"])), unhex(t["iv"])
    if t["result"] == "valid":
        assert run(CKM.AES_CBC_PAD, Op.ENCRYPT, key, iv).one_shot(
            unhex(t["msg"])) == unhex(t["ct"])
        assert run(CKM.AES_CBC_PAD, Op.DECRYPT, key, iv).one_shot(
            unhex(t["ct"])) == unhex(t["msg"])
    else:
        with pytest.raises(CKRError):
            run(CKM.AES_CBC_PAD, Op.DECRYPT, key, iv).one_shot(
                unhex(t["ct"]))


def _keywrap_cases(name: str) -> list[Any]:
    return [c for c in wycheproof(name)
            if len(unhex(c.values[1]["key"])) in (16, 24, 32)]


@vectors(CKM.AES_KEY_WRAP, source="Wycheproof aes_wrap_test.json")
@pytest.mark.parametrize("g,t", _keywrap_cases("aes_wrap_test.json"))
def test_wycheproof_kw(g: dict[str, Any], t: dict[str, Any]) -> None:
    _keywrap(CKM.AES_KEY_WRAP, t)


@vectors(CKM.AES_KEY_WRAP_KWP, source="Wycheproof aes_kwp_test.json")
@pytest.mark.parametrize("g,t", _keywrap_cases("aes_kwp_test.json"))
def test_wycheproof_kwp(g: dict[str, Any], t: dict[str, Any]) -> None:
    _keywrap(CKM.AES_KEY_WRAP_KWP, t)


def _keywrap(mech: int, t: dict[str, Any]) -> None:
    kek = aes(unhex(t["key"]))
    msg, ct = unhex(t["msg"]), unhex(t["ct"])
    if t["result"] == "valid":
        assert run(mech, Op.WRAP, kek).wrap(msg) == ct
        assert run(mech, Op.UNWRAP, kek).unwrap(ct) == msg
    elif t["result"] == "invalid":
        with pytest.raises(CKRError):
            assert run(mech, Op.UNWRAP, kek).unwrap(ct) == msg


# RFC 8017 section 9.2 note 1: DER DigestInfo prefixes.
DIGEST_INFO = {
    "SHA-256": "3031300d060960864801650304020105000420",
    "SHA-384": "3041300d060960864801650304020205000430",
    "SHA-512": "3051300d060960864801650304020305000440",
}
HASHLIB = {"SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
MGF = {"SHA-256": CKG.MGF1_SHA256, "SHA-384": CKG.MGF1_SHA384,
       "SHA-512": CKG.MGF1_SHA512}
HASH_MECH = {"SHA-256": CKM.SHA256, "SHA-384": CKM.SHA384,
             "SHA-512": CKM.SHA512}


def _groups(name: str) -> list[dict[str, Any]]:
    doc = json.loads((SHARED / "wycheproof" / name).read_text())
    return list(doc["testGroups"])


@vectors(CKM.RSA_PKCS,
         source="Wycheproof rsa_pkcs1_2048_sig_gen_test.json (raw)")
def test_raw_pkcs1_signatures_match_wycheproof() -> None:
    n = 0
    for g in _groups("rsa_pkcs1_2048_sig_gen_test.json"):
        if g["sha"] not in DIGEST_INFO:
            continue
        pk = g["privateKey"]
        key = FakeKey({CKA.KEY_TYPE: CKK.RSA,
                       CKA.MODULUS: unhex(pk["modulus"]),
                       CKA.PUBLIC_EXPONENT: unhex(pk["publicExponent"]),
                       CKA.PRIVATE_EXPONENT: unhex(pk["privateExponent"])})
        for t in g["tests"]:
            digest = hashlib.new(HASHLIB[g["sha"]], unhex(t["msg"]))
            block = unhex(DIGEST_INFO[g["sha"]]) + digest.digest()
            assert run(CKM.RSA_PKCS, Op.SIGN, key).sign(block) == \
                unhex(t["sig"])
            n += 1
    assert n > 20


@vectors(CKM.RSA_PKCS_PSS, source="Wycheproof rsa_pss_2048_sha256_mgf1_32")
def test_raw_pss_verifies_wycheproof() -> None:
    n = 0
    for g in _groups("rsa_pss_2048_sha256_mgf1_32_test.json"):
        key = FakeKey({CKA.KEY_TYPE: CKK.RSA,
                       CKA.MODULUS: unhex(g["publicKey"]["modulus"]),
                       CKA.PUBLIC_EXPONENT:
                       unhex(g["publicKey"]["publicExponent"])})
        params = RsaPssParams(HASH_MECH[g["sha"]], MGF[g["mgfSha"]],
                              g["sLen"])
        for t in g["tests"]:
            digest = hashlib.new(HASHLIB[g["sha"]], unhex(t["msg"])).digest()
            op = run(CKM.RSA_PKCS_PSS, Op.VERIFY, key, params)
            if t["result"] == "valid":
                op.verify(digest, unhex(t["sig"]))
                n += 1
            elif t["result"] == "invalid":
                with pytest.raises((SignatureInvalid, SignatureLenRange)):
                    op.verify(digest, unhex(t["sig"]))
    assert n > 5


@vectors(CKM.ECDSA, source="Wycheproof ecdsa_secp256r1_sha256_p1363")
def test_raw_ecdsa_verifies_wycheproof() -> None:
    p256 = unhex("06082a8648ce3d030107")
    n = 0
    for g in _groups("ecdsa_secp256r1_sha256_p1363_test.json"):
        key = FakeKey({CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: p256,
                       CKA.EC_POINT: unhex(g["publicKey"]["uncompressed"])})
        for t in g["tests"]:
            digest = hashlib.sha256(unhex(t["msg"])).digest()
            op = run(CKM.ECDSA, Op.VERIFY, key)
            if t["result"] == "valid":
                op.verify(digest, unhex(t["sig"]))
                n += 1
            elif t["result"] == "invalid":
                with pytest.raises((SignatureInvalid, SignatureLenRange)):
                    op.verify(digest, unhex(t["sig"]))
    assert n > 50


def test_invalid_cbc_pad_is_generic() -> None:
    # A padding failure says only "encrypted data invalid" (no oracle).
    key = aes(bytes(16))
    ct = run(CKM.AES_ECB, Op.ENCRYPT, key).one_shot(bytes(16))
    with pytest.raises(EncryptedDataInvalid):
        run(CKM.AES_CBC_PAD, Op.DECRYPT, key, bytes(16)).one_shot(
            bytes(a ^ b for a, b in zip(ct, bytes(16), strict=True)))


@vectors(CKM.ECDH1_COFACTOR_DERIVE, CKM.ECDH1_DERIVE,
         source="Wycheproof ecdh_secp256r1_ecpoint_test.json (valid)")
@pytest.mark.parametrize("mech", [CKM.ECDH1_DERIVE,
                                  CKM.ECDH1_COFACTOR_DERIVE])
def test_wycheproof_p256_ecdh_valid(mech: int) -> None:
    from craton_hsm._generated_ck import CKD
    from craton_hsm.mechanisms.params import Ecdh1Params

    p256 = unhex("06082a8648ce3d030107")
    n = 0
    for g in _groups("ecdh_secp256r1_ecpoint_test.json"):
        for t in g["tests"]:
            if t["result"] != "valid":
                continue
            key = FakeKey({CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: p256,
                           CKA.VALUE: unhex(t["private"])})
            op = run(mech, Op.DERIVE, key,
                     Ecdh1Params(CKD.NULL, b"", unhex(t["public"])))
            shared = unhex(t["shared"])
            value = op.derive({CKA.KEY_TYPE: CKK.GENERIC_SECRET})
            assert bytes(value[CKA.VALUE]) == shared
            n += 1
    assert n > 3


# SHA-3 signature rows: no public vector file has them, so each is checked
# as the composition the spec defines, over parts that are vector-proven
# above: the raw mechanism (Wycheproof) and SHA-3 (CAVP, test_digest).
SHA3 = {CKM.SHA3_224: "sha3_224", CKM.SHA3_256: "sha3_256",
        CKM.SHA3_384: "sha3_384", CKM.SHA3_512: "sha3_512"}
# NIST CSOR hash OIDs 2.16.840.1.101.3.4.2.7-10 in DER DigestInfo form.
SHA3_DIGEST_INFO = {
    CKM.SHA3_224: "302d300d06096086480165030402070500041c",
    CKM.SHA3_256: "3031300d060960864801650304020805000420",
    CKM.SHA3_384: "3041300d060960864801650304020905000430",
    CKM.SHA3_512: "3051300d060960864801650304020a05000440",
}
SHA3_RSA = {CKM.SHA3_224: (CKM.SHA3_224_RSA_PKCS, CKM.SHA3_224_RSA_PKCS_PSS),
            CKM.SHA3_256: (CKM.SHA3_256_RSA_PKCS, CKM.SHA3_256_RSA_PKCS_PSS),
            CKM.SHA3_384: (CKM.SHA3_384_RSA_PKCS, CKM.SHA3_384_RSA_PKCS_PSS),
            CKM.SHA3_512: (CKM.SHA3_512_RSA_PKCS, CKM.SHA3_512_RSA_PKCS_PSS)}
SHA3_MGF = {CKM.SHA3_224: CKG.MGF1_SHA3_224, CKM.SHA3_256: CKG.MGF1_SHA3_256,
            CKM.SHA3_384: CKG.MGF1_SHA3_384, CKM.SHA3_512: CKG.MGF1_SHA3_512}
SHA3_ECDSA = {CKM.SHA3_224: CKM.ECDSA_SHA3_224,
              CKM.SHA3_256: CKM.ECDSA_SHA3_256,
              CKM.SHA3_384: CKM.ECDSA_SHA3_384,
              CKM.SHA3_512: CKM.ECDSA_SHA3_512}
MSG = b"composition check message"


def _wycheproof_rsa_private() -> FakeKey:
    pk = _groups("rsa_pkcs1_2048_sig_gen_test.json")[0]["privateKey"]
    return FakeKey({CKA.KEY_TYPE: CKK.RSA, CKA.MODULUS: unhex(pk["modulus"]),
                    CKA.PUBLIC_EXPONENT: unhex(pk["publicExponent"]),
                    CKA.PRIVATE_EXPONENT: unhex(pk["privateExponent"])})


@vectors(*(m for pair in SHA3_RSA.values() for m in pair),
         source="composition: Wycheproof-proven RSA_PKCS / RSA_PKCS_PSS "
                "over CAVP-proven SHA-3 (no SHA-3 RSA vector file exists)")
@pytest.mark.parametrize("hash_mech", list(SHA3))
def test_sha3_rsa_is_the_raw_mechanism_over_sha3(hash_mech: int) -> None:
    priv = _wycheproof_rsa_private()
    public = FakeKey({t: v for t, v in priv.attrs.items()
                      if t != CKA.PRIVATE_EXPONENT})
    digest = hashlib.new(SHA3[hash_mech], MSG).digest()
    pkcs1, pss = SHA3_RSA[hash_mech]
    block = unhex(SHA3_DIGEST_INFO[hash_mech]) + digest
    assert run(pkcs1, Op.SIGN, priv).sign(MSG) == \
        run(CKM.RSA_PKCS, Op.SIGN, priv).sign(block)
    params = RsaPssParams(hash_mech, SHA3_MGF[hash_mech], len(digest))
    sig = run(pss, Op.SIGN, priv, params).sign(MSG)
    run(CKM.RSA_PKCS_PSS, Op.VERIFY, public, params).verify(digest, sig)


@vectors(*SHA3_ECDSA.values(),
         source="composition: Wycheproof-proven CKM_ECDSA over "
                "CAVP-proven SHA-3 (no SHA-3 ECDSA vector file exists)")
@pytest.mark.parametrize("hash_mech", list(SHA3))
def test_sha3_ecdsa_is_raw_ecdsa_over_sha3(hash_mech: int) -> None:
    from craton_hsm.backend import ec as ec_backend

    p256 = unhex("06082a8648ce3d030107")
    scalar = 0x1F2E3D4C5B6A7988 << 128 | 0x1122334455667788
    point = ec_backend.public_point("secp256r1", scalar)
    priv = FakeKey({CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: p256,
                    CKA.VALUE: scalar.to_bytes(32, "big")})
    pub = FakeKey({CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: p256,
                   CKA.EC_POINT: point})
    sig = run(SHA3_ECDSA[hash_mech], Op.SIGN, priv).sign(MSG)
    digest = hashlib.new(SHA3[hash_mech], MSG).digest()
    run(CKM.ECDSA, Op.VERIFY, pub).verify(digest, sig)
    with pytest.raises(SignatureInvalid):
        run(CKM.ECDSA, Op.VERIFY, pub).verify(bytes(len(digest)), sig)
