"""RSA mechanisms: key generation, PKCS#1 v1.5, PSS and OAEP round trips
and interoperability with pyca/cryptography, and error codes."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from craton_hsm._generated_ck import CKA, CKG, CKK, CKM, CKZ
from craton_hsm.errors import (
    AttributeValueInvalid,
    DataLenRange,
    EncryptedDataInvalid,
    EncryptedDataLenRange,
    KeySizeRange,
    KeyTypeInconsistent,
    MechanismParamInvalid,
    SignatureInvalid,
    SignatureLenRange,
    TemplateIncomplete,
)
from craton_hsm.mechanisms.params import RsaOaepParams, RsaPssParams
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.mechanisms.conftest import FakeKey
from tests.mechanisms.coverage import vectors

HASHES = {CKM.SHA_1: hashes.SHA1, CKM.SHA224: hashes.SHA224,
          CKM.SHA256: hashes.SHA256, CKM.SHA384: hashes.SHA384,
          CKM.SHA512: hashes.SHA512}
MGFS = {CKM.SHA_1: CKG.MGF1_SHA1, CKM.SHA224: CKG.MGF1_SHA224,
        CKM.SHA256: CKG.MGF1_SHA256, CKM.SHA384: CKG.MGF1_SHA384,
        CKM.SHA512: CKG.MGF1_SHA512}


@pytest.fixture(scope="module")
def pair() -> tuple[FakeKey, FakeKey]:
    gen = REGISTRY[CKM.RSA_PKCS_KEY_PAIR_GEN].factory(
        Op.GENERATE_KEY_PAIR)(None, None)
    pub, priv = gen.generate({CKA.MODULUS_BITS: 2048}, {})
    base = {CKA.KEY_TYPE: CKK.RSA}
    return FakeKey({**base, **pub}), FakeKey({**base, **priv})


def ref_pub(pub: FakeKey) -> rsa.RSAPublicKey:
    n = int.from_bytes(pub.attrs[CKA.MODULUS], "big")
    e = int.from_bytes(pub.attrs[CKA.PUBLIC_EXPONENT], "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def run(mech: int, op: Op, key: FakeKey, params: Any = None) -> Any:
    return REGISTRY[mech].factory(op)(key, params)


@vectors(CKM.RSA_PKCS_KEY_PAIR_GEN,
         source="generated keys checked with cryptography")
def test_keygen_attrs(pair: tuple[FakeKey, FakeKey]) -> None:
    pub, priv = pair
    n = int.from_bytes(pub.attrs[CKA.MODULUS], "big")
    assert n.bit_length() == 2048
    assert pub.attrs[CKA.PUBLIC_EXPONENT] == b"\x01\x00\x01"
    p = int.from_bytes(priv.attrs[CKA.PRIME_1], "big")
    q = int.from_bytes(priv.attrs[CKA.PRIME_2], "big")
    assert p * q == n
    gen = REGISTRY[CKM.RSA_PKCS_KEY_PAIR_GEN].factory(
        Op.GENERATE_KEY_PAIR)(None, None)
    with pytest.raises(TemplateIncomplete):
        gen.generate({}, {})
    with pytest.raises(KeySizeRange):
        gen.generate({CKA.MODULUS_BITS: 512}, {})
    with pytest.raises(KeySizeRange):
        gen.generate({CKA.MODULUS_BITS: 8193}, {})
    for bad in (b"\x04", b"\x01", b"\x01\x00\x00", b"\x01" * 5):
        with pytest.raises(AttributeValueInvalid):
            gen.generate({CKA.MODULUS_BITS: 1024, CKA.PUBLIC_EXPONENT: bad},
                         {})


@pytest.mark.parametrize("e", [3, 17, 65537, 65539, 2**32 - 1])
def test_keygen_honours_public_exponent(e: int) -> None:
    gen = REGISTRY[CKM.RSA_PKCS_KEY_PAIR_GEN].factory(
        Op.GENERATE_KEY_PAIR)(None, None)
    raw = e.to_bytes((e.bit_length() + 7) // 8, "big")
    pub, priv = gen.generate({CKA.MODULUS_BITS: 1024,
                              CKA.PUBLIC_EXPONENT: raw}, {})
    assert pub[CKA.PUBLIC_EXPONENT] == raw
    n = int.from_bytes(pub[CKA.MODULUS], "big")
    assert n.bit_length() == 1024
    d = int.from_bytes(priv[CKA.PRIVATE_EXPONENT], "big")
    assert pow(pow(12345, e, n), d, n) == 12345
    pubk = FakeKey({CKA.KEY_TYPE: CKK.RSA, **pub})
    privk = FakeKey({CKA.KEY_TYPE: CKK.RSA, **priv})
    sig = run(CKM.SHA256_RSA_PKCS, Op.SIGN, privk).sign(b"m")
    ref_pub(pubk).verify(sig, b"m", padding.PKCS1v15(), hashes.SHA256())


SHA3 = [(CKM.SHA3_224_RSA_PKCS, CKM.SHA3_224_RSA_PKCS_PSS, CKM.SHA3_224,
         CKG.MGF1_SHA3_224, hashes.SHA3_224),
        (CKM.SHA3_256_RSA_PKCS, CKM.SHA3_256_RSA_PKCS_PSS, CKM.SHA3_256,
         CKG.MGF1_SHA3_256, hashes.SHA3_256),
        (CKM.SHA3_384_RSA_PKCS, CKM.SHA3_384_RSA_PKCS_PSS, CKM.SHA3_384,
         CKG.MGF1_SHA3_384, hashes.SHA3_384),
        (CKM.SHA3_512_RSA_PKCS, CKM.SHA3_512_RSA_PKCS_PSS, CKM.SHA3_512,
         CKG.MGF1_SHA3_512, hashes.SHA3_512)]


@pytest.mark.parametrize("pkcs,pss,hmech,mgf,alg", SHA3,
                         ids=[CKM(r[0]).name for r in SHA3])
def test_sha3_pkcs1_and_pss(pair: tuple[FakeKey, FakeKey], pkcs: int,
                            pss: int, hmech: int, mgf: int,
                            alg: Any) -> None:
    pub, priv = pair
    signer = run(pkcs, Op.SIGN, priv)
    signer.update(b"hello ")
    sig = signer.sign(b"world")
    ref_pub(pub).verify(sig, b"hello world", padding.PKCS1v15(), alg())
    run(pkcs, Op.VERIFY, pub).verify(b"hello world", sig)
    with pytest.raises(SignatureInvalid):
        run(pkcs, Op.VERIFY, pub).verify(b"hello World", sig)
    params = RsaPssParams(hmech, mgf, alg.digest_size)
    sig = run(pss, Op.SIGN, priv, params).sign(b"msg")
    ref_pub(pub).verify(sig, b"msg", padding.PSS(padding.MGF1(alg()),
                                                 alg.digest_size), alg())
    run(pss, Op.VERIFY, pub, params).verify(b"msg", sig)
    digest = hashlib.new(alg.name, b"msg").digest()
    raw = run(CKM.RSA_PKCS_PSS, Op.SIGN, priv, params).sign(digest)
    run(pss, Op.VERIFY, pub, params).verify(b"msg", raw)
    # hashAlg must match the combined mechanism's hash.
    with pytest.raises(MechanismParamInvalid):
        run(pss, Op.SIGN, priv, RsaPssParams(CKM.SHA256, mgf, 32))


def test_oaep_refuses_sha3_mgf(pair: tuple[FakeKey, FakeKey]) -> None:
    with pytest.raises(MechanismParamInvalid):
        run(CKM.RSA_PKCS_OAEP, Op.ENCRYPT, pair[0], RsaOaepParams(
            CKM.SHA256, CKG.MGF1_SHA3_256, CKZ.DATA_SPECIFIED))


def test_sign_and_verify_recover(pair: tuple[FakeKey, FakeKey]) -> None:
    pub, priv = pair
    signer = run(CKM.RSA_PKCS, Op.SIGN_RECOVER, priv)
    sig = signer.sign(b"recover me")
    assert len(sig) == signer.size == 256
    # Same block as CKM_RSA_PKCS C_Sign (EMSA-PKCS1-v1_5 type 1).
    assert sig == run(CKM.RSA_PKCS, Op.SIGN, priv).sign(b"recover me")
    rec = run(CKM.RSA_PKCS, Op.VERIFY_RECOVER, pub)
    assert rec.one_shot_size(256) == 245
    assert rec.one_shot(sig) == b"recover me"
    assert ref_pub(pub).recover_data_from_signature(
        sig, padding.PKCS1v15(), None) == b"recover me"
    bad = bytearray(sig)
    bad[-1] ^= 1
    with pytest.raises(SignatureInvalid):
        run(CKM.RSA_PKCS, Op.VERIFY_RECOVER, pub).one_shot(bytes(bad))
    with pytest.raises(SignatureLenRange):
        run(CKM.RSA_PKCS, Op.VERIFY_RECOVER, pub).one_shot(sig[1:])
    with pytest.raises(DataLenRange):
        run(CKM.RSA_PKCS, Op.SIGN_RECOVER, priv).sign(b"x" * 246)


@pytest.mark.parametrize("hmech", sorted(HASHES))
def test_pkcs1_hashed_interop(pair: tuple[FakeKey, FakeKey],
                              hmech: int) -> None:
    pub, priv = pair
    mech = {CKM.SHA_1: CKM.SHA1_RSA_PKCS, CKM.SHA224: CKM.SHA224_RSA_PKCS,
            CKM.SHA256: CKM.SHA256_RSA_PKCS, CKM.SHA384: CKM.SHA384_RSA_PKCS,
            CKM.SHA512: CKM.SHA512_RSA_PKCS}[hmech]
    signer = run(mech, Op.SIGN, priv)
    signer.update(b"hello ")
    signer.update(b"world")
    sig = signer.final()
    assert len(sig) == signer.size == 256
    ref_pub(pub).verify(sig, b"hello world", padding.PKCS1v15(),
                        HASHES[hmech]())
    run(mech, Op.VERIFY, pub).verify(b"hello world", sig)
    with pytest.raises(SignatureInvalid):
        run(mech, Op.VERIFY, pub).verify(b"hello World", sig)
    with pytest.raises(SignatureLenRange):
        run(mech, Op.VERIFY, pub).verify(b"hello world", sig[1:])


def test_raw_pkcs1_sign(pair: tuple[FakeKey, FakeKey]) -> None:
    pub, priv = pair
    data = b"\x30" + b"x" * 50    # a caller-built DigestInfo, say
    sig = run(CKM.RSA_PKCS, Op.SIGN, priv).sign(data)
    ref_pub(pub).verify(sig, data, padding.PKCS1v15(), utils.NoDigestInfo())
    run(CKM.RSA_PKCS, Op.VERIFY, pub).verify(data, sig)
    with pytest.raises(DataLenRange):
        run(CKM.RSA_PKCS, Op.SIGN, priv).sign(b"x" * 246)


@pytest.mark.parametrize("hmech", sorted(HASHES))
def test_pss_raw_and_hashed(pair: tuple[FakeKey, FakeKey],
                            hmech: int) -> None:
    pub, priv = pair
    alg = HASHES[hmech]()
    params = RsaPssParams(hmech, MGFS[hmech], alg.digest_size)
    digest = hashlib.new(alg.name, b"msg").digest()
    sig = run(CKM.RSA_PKCS_PSS, Op.SIGN, priv, params).sign(digest)
    pss = padding.PSS(padding.MGF1(alg), alg.digest_size)
    ref_pub(pub).verify(sig, b"msg", pss, alg)
    run(CKM.RSA_PKCS_PSS, Op.VERIFY, pub, params).verify(digest, sig)
    with pytest.raises(DataLenRange):
        run(CKM.RSA_PKCS_PSS, Op.SIGN, priv, params).sign(digest + b"x")
    combined = {CKM.SHA_1: CKM.SHA1_RSA_PKCS_PSS,
                CKM.SHA224: CKM.SHA224_RSA_PKCS_PSS,
                CKM.SHA256: CKM.SHA256_RSA_PKCS_PSS,
                CKM.SHA384: CKM.SHA384_RSA_PKCS_PSS,
                CKM.SHA512: CKM.SHA512_RSA_PKCS_PSS}[hmech]
    sig = run(combined, Op.SIGN, priv, params).sign(b"msg")
    ref_pub(pub).verify(sig, b"msg", pss, alg)
    with pytest.raises(SignatureInvalid):
        run(combined, Op.VERIFY, pub, params).verify(b"msh", sig)


@pytest.mark.parametrize("params", [
    None, RsaPssParams(CKM.SHA384, CKG.MGF1_SHA256, 32),
    RsaPssParams(CKM.SHA256, 0x77, 32),
    RsaPssParams(CKM.SHA256, CKG.MGF1_SHA256, 300),
    RsaPssParams(CKM.SHA3_256, CKG.MGF1_SHA256, 32),
])
def test_pss_bad_params(pair: tuple[FakeKey, FakeKey], params: Any) -> None:
    with pytest.raises(MechanismParamInvalid):
        run(CKM.SHA256_RSA_PKCS_PSS, Op.SIGN, pair[1], params)


@pytest.mark.parametrize("hmech", sorted(HASHES))
@pytest.mark.parametrize("label", [b"", b"label"])
def test_oaep_interop(pair: tuple[FakeKey, FakeKey], hmech: int,
                      label: bytes) -> None:
    pub, priv = pair
    params = RsaOaepParams(hmech, MGFS[CKM.SHA256], CKZ.DATA_SPECIFIED,
                           label)
    enc = run(CKM.RSA_PKCS_OAEP, Op.ENCRYPT, pub, params)
    ct = enc.one_shot(b"secret")
    assert len(ct) == enc.one_shot_size(6) == 256
    assert run(CKM.RSA_PKCS_OAEP, Op.DECRYPT, priv, params).one_shot(
        ct) == b"secret"
    ref = ref_pub(pub).encrypt(b"other", padding.OAEP(
        padding.MGF1(hashes.SHA256()), HASHES[hmech](), label or None))
    dec = run(CKM.RSA_PKCS_OAEP, Op.DECRYPT, priv, params)
    dec.update(ref[:100])
    dec.update(ref[100:])
    assert dec.final() == b"other"


def test_oaep_errors(pair: tuple[FakeKey, FakeKey]) -> None:
    pub, priv = pair
    params = RsaOaepParams(CKM.SHA256, CKG.MGF1_SHA256, CKZ.DATA_SPECIFIED)
    ct = bytearray(run(CKM.RSA_PKCS_OAEP, Op.ENCRYPT, pub, params)
                   .one_shot(b"x"))
    ct[5] ^= 1
    with pytest.raises(EncryptedDataInvalid):
        run(CKM.RSA_PKCS_OAEP, Op.DECRYPT, priv, params).one_shot(bytes(ct))
    with pytest.raises(EncryptedDataLenRange):
        run(CKM.RSA_PKCS_OAEP, Op.DECRYPT, priv, params).one_shot(b"x" * 10)
    with pytest.raises(DataLenRange):
        run(CKM.RSA_PKCS_OAEP, Op.ENCRYPT, pub, params).one_shot(b"x" * 191)
    with pytest.raises(MechanismParamInvalid):
        run(CKM.RSA_PKCS_OAEP, Op.ENCRYPT, pub,
            RsaOaepParams(CKM.SHA256, CKG.MGF1_SHA256, 7, b"l"))


def test_pkcs1_encrypt_round_trip(pair: tuple[FakeKey, FakeKey]) -> None:
    pub, priv = pair
    ct = run(CKM.RSA_PKCS, Op.ENCRYPT, pub).one_shot(b"hello")
    assert run(CKM.RSA_PKCS, Op.DECRYPT, priv).one_shot(ct) == b"hello"
    with pytest.raises(DataLenRange):
        run(CKM.RSA_PKCS, Op.ENCRYPT, pub).one_shot(b"x" * 246)


def test_private_key_without_primes(pair: tuple[FakeKey, FakeKey]) -> None:
    pub, priv = pair
    attrs = {k: v for k, v in priv.attrs.items()
             if k in (CKA.KEY_TYPE, CKA.MODULUS, CKA.PUBLIC_EXPONENT,
                      CKA.PRIVATE_EXPONENT)}
    bare = FakeKey(attrs)
    sig = run(CKM.SHA256_RSA_PKCS, Op.SIGN, bare).sign(b"m")
    run(CKM.SHA256_RSA_PKCS, Op.VERIFY, pub).verify(b"m", sig)
    assert "rsa_priv" in bare.cache


def test_key_type_checks(pair: tuple[FakeKey, FakeKey]) -> None:
    with pytest.raises(KeyTypeInconsistent):
        run(CKM.SHA256_RSA_PKCS, Op.SIGN,
            FakeKey({CKA.KEY_TYPE: CKK.EC, CKA.VALUE: b"x"}))
    with pytest.raises(KeyTypeInconsistent):
        # A public key cannot sign: no private exponent.
        run(CKM.SHA256_RSA_PKCS, Op.SIGN, pair[0])
