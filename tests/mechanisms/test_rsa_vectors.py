"""RSA mechanisms against vectors nobody here wrote: Project Wycheproof
PKCS#1 v1.5 signature (verify and deterministic generation), PSS, OAEP
and PKCS#1 v1.5 decryption files (the shared vector set, PROVENANCE.md).

Valid cases must pass, invalid ones must fail with the error the spec
names; ``acceptable`` cases are left out (either outcome is allowed).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from craton_hsm._generated_ck import CKA, CKG, CKK, CKM, CKZ
from craton_hsm.errors import (
    EncryptedDataInvalid,
    EncryptedDataLenRange,
    SignatureInvalid,
    SignatureLenRange,
)
from craton_hsm.mechanisms.params import RsaOaepParams, RsaPssParams
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.mechanisms.conftest import FakeKey
from tests.mechanisms.coverage import vectors
from tests.mechanisms.vectors import SHARED, unhex

HASH = {"SHA-1": CKM.SHA_1, "SHA-224": CKM.SHA224, "SHA-256": CKM.SHA256,
        "SHA-384": CKM.SHA384, "SHA-512": CKM.SHA512}
MGF = {"SHA-1": CKG.MGF1_SHA1, "SHA-224": CKG.MGF1_SHA224,
       "SHA-256": CKG.MGF1_SHA256, "SHA-384": CKG.MGF1_SHA384,
       "SHA-512": CKG.MGF1_SHA512}
PKCS1 = {"SHA-1": CKM.SHA1_RSA_PKCS, "SHA-224": CKM.SHA224_RSA_PKCS,
         "SHA-256": CKM.SHA256_RSA_PKCS, "SHA-384": CKM.SHA384_RSA_PKCS,
         "SHA-512": CKM.SHA512_RSA_PKCS}
PSS = {"SHA-1": CKM.SHA1_RSA_PKCS_PSS, "SHA-224": CKM.SHA224_RSA_PKCS_PSS,
       "SHA-256": CKM.SHA256_RSA_PKCS_PSS,
       "SHA-384": CKM.SHA384_RSA_PKCS_PSS,
       "SHA-512": CKM.SHA512_RSA_PKCS_PSS}


def groups(name: str) -> list[dict[str, Any]]:
    doc = json.loads((SHARED / "wycheproof" / name).read_text())
    return list(doc["testGroups"])


def public(g: dict[str, Any]) -> FakeKey:
    pk = g["publicKey"]
    return FakeKey({CKA.KEY_TYPE: CKK.RSA, CKA.MODULUS: unhex(pk["modulus"]),
                    CKA.PUBLIC_EXPONENT: unhex(pk["publicExponent"])})


_PRIVATE: dict[str, FakeKey] = {}


def private(pk: dict[str, str]) -> FakeKey:
    """One FakeKey per distinct key: the files repeat a key across groups
    and loading one runs OpenSSL's consistency check (~40 ms)."""
    if pk["privateExponent"] not in _PRIVATE:
        _PRIVATE[pk["privateExponent"]] = _private(pk)
    return _PRIVATE[pk["privateExponent"]]


def _private(pk: dict[str, str]) -> FakeKey:
    attrs = {CKA.KEY_TYPE: CKK.RSA, CKA.MODULUS: unhex(pk["modulus"]),
             CKA.PUBLIC_EXPONENT: unhex(pk["publicExponent"]),
             CKA.PRIVATE_EXPONENT: unhex(pk["privateExponent"])}
    if "prime1" in pk:
        attrs[CKA.PRIME_1] = unhex(pk["prime1"])
        attrs[CKA.PRIME_2] = unhex(pk["prime2"])
    return FakeKey(attrs)


def run(mech: int, op: Op, key: FakeKey, params: Any = None) -> Any:
    return REGISTRY[mech].factory(op)(key, params)


def _verify_all(file: str, mech_of: Any, params_of: Any) -> int:
    n = 0
    for g in groups(file):
        if g["sha"] not in HASH:
            continue
        key, mech, params = public(g), mech_of(g), params_of(g)
        for t in g["tests"]:
            msg, sig = unhex(t["msg"]), unhex(t["sig"])
            if t["result"] == "valid":
                run(mech, Op.VERIFY, key, params).verify(msg, sig)
            elif t["result"] == "invalid":
                with pytest.raises((SignatureInvalid, SignatureLenRange)):
                    run(mech, Op.VERIFY, key, params).verify(msg, sig)
            else:
                continue
            n += 1
    return n


@pytest.mark.parametrize("file", [
    "rsa_signature_2048_sha256_test.json",
    "rsa_signature_2048_sha384_test.json",
    "rsa_signature_2048_sha512_test.json",
    "rsa_signature_3072_sha256_test.json",
])
@vectors(CKM.SHA256_RSA_PKCS, CKM.SHA384_RSA_PKCS, CKM.SHA512_RSA_PKCS,
         source="Wycheproof rsa_signature_*")
def test_wycheproof_pkcs1_verify(file: str) -> None:
    n = _verify_all(file, lambda g: PKCS1[g["sha"]], lambda g: None)
    assert n > 200


@vectors(CKM.SHA1_RSA_PKCS, CKM.SHA224_RSA_PKCS, CKM.SHA256_RSA_PKCS, CKM.SHA384_RSA_PKCS, CKM.SHA512_RSA_PKCS,
         source="Wycheproof rsa_pkcs1_2048_sig_gen")
def test_wycheproof_pkcs1_sign_is_deterministic() -> None:
    n = 0
    for g in groups("rsa_pkcs1_2048_sig_gen_test.json"):
        key = private(g["privateKey"])
        for t in g["tests"]:
            # "acceptable" here only flags SHA-1 (WeakHash): still exact.
            sig = run(PKCS1[g["sha"]], Op.SIGN, key).sign(unhex(t["msg"]))
            assert sig == unhex(t["sig"]), t["tcId"]
            n += 1
    assert n == 43


@pytest.mark.parametrize("file", [
    "rsa_pss_2048_sha1_mgf1_20_test.json",
    "rsa_pss_2048_sha256_mgf1_0_test.json",
    "rsa_pss_2048_sha256_mgf1_32_test.json",
    "rsa_pss_2048_sha256_mgf1sha1_20_test.json",
    "rsa_pss_2048_sha384_mgf1_48_test.json",
    "rsa_pss_3072_sha256_mgf1_32_test.json",
    "rsa_pss_misc_test.json",
])
@vectors(CKM.SHA1_RSA_PKCS_PSS, CKM.SHA224_RSA_PKCS_PSS, CKM.SHA256_RSA_PKCS_PSS, CKM.SHA384_RSA_PKCS_PSS, CKM.SHA512_RSA_PKCS_PSS,
         source="Wycheproof rsa_pss_*")
def test_wycheproof_pss_verify(file: str) -> None:
    def params(g: dict[str, Any]) -> RsaPssParams:
        return RsaPssParams(HASH[g["sha"]], MGF[g["mgfSha"]], g["sLen"])
    assert _verify_all(file, lambda g: PSS[g["sha"]], params) > 60


@pytest.mark.parametrize("file", [
    "rsa_oaep_2048_sha1_mgf1sha1_test.json",
    "rsa_oaep_2048_sha256_mgf1sha1_test.json",
    "rsa_oaep_2048_sha256_mgf1sha256_test.json",
    "rsa_oaep_2048_sha512_mgf1sha512_test.json",
])
@vectors(CKM.RSA_PKCS_OAEP,
         source="Wycheproof rsa_oaep_*")
def test_wycheproof_oaep_decrypt(file: str) -> None:
    n = 0
    for g in groups(file):
        key = private(g["privateKey"])
        for t in g["tests"]:
            params = RsaOaepParams(HASH[g["sha"]], MGF[g["mgfSha"]],
                                   CKZ.DATA_SPECIFIED, unhex(t["label"]))
            dec = run(CKM.RSA_PKCS_OAEP, Op.DECRYPT, key, params)
            if t["result"] == "valid":
                assert dec.one_shot(unhex(t["ct"])) == unhex(t["msg"])
            else:
                with pytest.raises((EncryptedDataInvalid,
                                    EncryptedDataLenRange)):
                    dec.one_shot(unhex(t["ct"]))
            n += 1
    assert n > 30


@vectors(CKM.RSA_PKCS,
         source="Wycheproof rsa_pkcs1_2048_test.json")
def test_wycheproof_pkcs1_decrypt() -> None:
    """Valid ciphertexts decrypt exactly.  Invalid padding never yields
    the message and never a distinguishable error: OpenSSL's implicit
    rejection (RFC 8017 7.2.2 note) returns a deterministic
    pseudo-random message instead."""
    n = 0
    for g in groups("rsa_pkcs1_2048_test.json"):
        key = private(g["privateKey"])
        for t in g["tests"]:
            ct, msg = unhex(t["ct"]), unhex(t["msg"])
            dec = run(CKM.RSA_PKCS, Op.DECRYPT, key)
            if t["result"] == "valid":
                assert dec.one_shot(ct) == msg
            elif "InvalidPkcs1Padding" in t["flags"]:
                out = dec.one_shot(ct)
                assert out != msg
                assert run(CKM.RSA_PKCS, Op.DECRYPT, key).one_shot(ct) == out
            else:
                with pytest.raises((EncryptedDataInvalid,
                                    EncryptedDataLenRange)):
                    dec.one_shot(ct)
            n += 1
    assert n == 67
