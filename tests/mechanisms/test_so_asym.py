"""RSA, ECDSA, ECDH and X25519/X448 driven through build/libcraton_hsm.so
in cffi ABI mode: exact C_GetMechanismInfo of the rows added for the
mechanisms issue, and at least one independent vector per family
(Wycheproof, CAVP, RFC 7027, RFC 7748), plus C_SignRecover /
C_VerifyRecover and a template-chosen public exponent.

One token serves the module (the fixture of test_so_vectors); every key
is a session object, so tests do not share state.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from asn1crypto import core
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from craton_hsm._generated_ck import CKA, CKD, CKF, CKG, CKK, CKM, CKO
from tests.abi.test_hostile import NULL, TRUE, Token, expect, ffi, name, ulong
from tests.mechanisms.test_so_vectors import call_out, sign, verify
from tests.mechanisms.vectors import SHARED, nist_records, unhex

FALSE = b"\x00"


EC = CKF.EC_F_P | CKF.EC_NAMEDCURVE | CKF.EC_UNCOMPRESS
SV = CKF.SIGN | CKF.VERIFY
INFO = {
    CKM.RSA_PKCS_KEY_PAIR_GEN: (1024, 8192, CKF.GENERATE_KEY_PAIR),
    CKM.RSA_PKCS: (1024, 16384, SV | CKF.SIGN_RECOVER | CKF.VERIFY_RECOVER
                   | CKF.ENCRYPT | CKF.DECRYPT | CKF.WRAP | CKF.UNWRAP),
    CKM.SHA3_224_RSA_PKCS: (1024, 16384, SV),
    CKM.SHA3_512_RSA_PKCS_PSS: (1024, 16384, SV),
    CKM.SHA224_RSA_PKCS_PSS: (1024, 16384, SV),
    CKM.EC_KEY_PAIR_GEN: (224, 521, CKF.GENERATE_KEY_PAIR | EC),
    CKM.ECDSA_SHA224: (224, 521, SV | EC),
    CKM.ECDSA_SHA3_256: (224, 521, SV | EC),
    CKM.ECDSA_SHA3_512: (224, 521, SV | EC),
    CKM.ECDH1_DERIVE: (224, 521, CKF.DERIVE | EC),
    CKM.EC_MONTGOMERY_KEY_PAIR_GEN: (255, 448, CKF.GENERATE_KEY_PAIR
                                     | CKF.EC_NAMEDCURVE),
}


@pytest.mark.parametrize("m", INFO, ids=lambda m: CKM(m).name)
def test_mechanism_info(tok: Token, m: int) -> None:
    info = ffi.new("CK_MECHANISM_INFO *")
    expect(tok.lib.C_GetMechanismInfo(0, m, info), "OK")
    assert (info.ulMinKeySize, info.ulMaxKeySize, info.flags) == INFO[m]


# --- helpers -----------------------------------------------------------

def create(tok: Token, *attrs: tuple[int, bytes]) -> int:
    out = ffi.new("CK_OBJECT_HANDLE *")
    expect(tok.lib.C_CreateObject(tok.h, tok.template(*attrs), len(attrs),
                                  out), "OK")
    return int(out[0])


def attr(tok: Token, h: int, t: int) -> bytes:
    a = ffi.new("CK_ATTRIBUTE *")
    a.type, a.pValue = t, NULL
    expect(tok.lib.C_GetAttributeValue(tok.h, h, a, 1), "OK")
    buf = ffi.new("CK_BYTE[]", int(a.ulValueLen))
    a.pValue = buf
    expect(tok.lib.C_GetAttributeValue(tok.h, h, a, 1), "OK")
    return bytes(ffi.buffer(buf, int(a.ulValueLen)))


def pair(tok: Token, m: int, pub: list[tuple[int, bytes]],
         priv: list[tuple[int, bytes]]) -> tuple[int, int]:
    hp, hk = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
    expect(tok.lib.C_GenerateKeyPair(
        tok.h, tok.mechanism(m), tok.template(*pub), len(pub),
        tok.template(*priv), len(priv), hp, hk), "OK")
    return int(hp[0]), int(hk[0])


def oid(dotted: str) -> bytes:
    return bytes(core.ObjectIdentifier(dotted).dump())


def ecdh_mech(tok: Token, peer: bytes) -> Any:
    p = ffi.new("CK_ECDH1_DERIVE_PARAMS *")
    buf = ffi.new("CK_BYTE[]", peer)
    tok._keep += [p, buf]
    p.kdf, p.ulSharedDataLen, p.pSharedData = CKD.NULL, 0, NULL
    p.ulPublicDataLen, p.pPublicData = len(peer), buf
    m = ffi.new("CK_MECHANISM *")
    tok._keep.append(m)
    m.mechanism, m.pParameter = CKM.ECDH1_DERIVE, p
    m.ulParameterLen = ffi.sizeof("CK_ECDH1_DERIVE_PARAMS")
    return m


def derive(tok: Token, base: int, peer: bytes) -> tuple[str, bytes]:
    tmpl = tok.template((CKA.CLASS, ulong(CKO.SECRET_KEY)),
                        (CKA.KEY_TYPE, ulong(CKK.GENERIC_SECRET)),
                        (CKA.SENSITIVE, FALSE), (CKA.EXTRACTABLE, TRUE))
    out = ffi.new("CK_OBJECT_HANDLE *")
    rv = name(tok.lib.C_DeriveKey(tok.h, ecdh_mech(tok, peer), base, tmpl,
                                  4, out))
    return rv, attr(tok, int(out[0]), CKA.VALUE) if rv == "OK" else b""


def wycheproof(file: str) -> list[dict[str, Any]]:
    return list(json.loads((SHARED / "wycheproof" / file).read_text())
                ["testGroups"])


# --- RSA ---------------------------------------------------------------

def test_rsa_keygen_exponent_and_sign_verify_recover(
        tok: Token) -> None:
    pub_t = [(CKA.MODULUS_BITS, ulong(1024)), (CKA.PUBLIC_EXPONENT, b"\x03"),
             (CKA.VERIFY_RECOVER, TRUE), (CKA.VERIFY, TRUE)]
    hp, hk = pair(tok, CKM.RSA_PKCS_KEY_PAIR_GEN, pub_t,
                  [(CKA.SIGN_RECOVER, TRUE), (CKA.SIGN, TRUE)])
    assert attr(tok, hp, CKA.PUBLIC_EXPONENT) == b"\x03"
    n = int.from_bytes(attr(tok, hp, CKA.MODULUS), "big")
    assert n.bit_length() == 1024
    ref = rsa.RSAPublicNumbers(3, n).public_key()
    m = tok.mechanism(CKM.RSA_PKCS)
    expect(tok.lib.C_SignRecoverInit(tok.h, m, hk), "OK")
    rv, sig = call_out(tok.lib.C_SignRecover, tok.h, b"recover", 7)
    assert rv == "OK" and len(sig) == 128
    assert ref.recover_data_from_signature(sig, padding.PKCS1v15(),
                                           None) == b"recover"
    expect(tok.lib.C_VerifyRecoverInit(tok.h, m, hp), "OK")
    assert call_out(tok.lib.C_VerifyRecover, tok.h, sig, len(sig)) == (
        "OK", b"recover")
    bad = sig[:-1] + bytes([sig[-1] ^ 1])
    expect(tok.lib.C_VerifyRecoverInit(tok.h, m, hp), "OK")
    assert call_out(tok.lib.C_VerifyRecover, tok.h, bad, len(bad))[0] == \
        "SIGNATURE_INVALID"
    # SHA3-256 PSS, checked by pyca against the token's public key.
    sig = sign(tok, _pss(tok, CKM.SHA3_256_RSA_PKCS_PSS, CKM.SHA3_256),
               hk, b"msg")
    ref.verify(sig, b"msg", padding.PSS(padding.MGF1(hashes.SHA3_256()),
                                        32), hashes.SHA3_256())


def _pss(tok: Token, m: int, hmech: int) -> Any:

    p = ffi.new("CK_RSA_PKCS_PSS_PARAMS *")
    p.hashAlg, p.mgf, p.sLen = hmech, CKG.MGF1_SHA3_256, 32
    mm = ffi.new("CK_MECHANISM *")
    tok._keep += [p, mm]
    mm.mechanism, mm.pParameter = m, p
    mm.ulParameterLen = ffi.sizeof("CK_RSA_PKCS_PSS_PARAMS")
    return mm


def test_rsa_even_exponent_refused(tok: Token) -> None:
    hp, hk = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
    pub = tok.template((CKA.MODULUS_BITS, ulong(1024)),
                       (CKA.PUBLIC_EXPONENT, b"\x01\x00\x00"))
    priv = tok.template((CKA.SIGN, TRUE))
    expect(tok.lib.C_GenerateKeyPair(
        tok.h, tok.mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN), pub, 2, priv, 1,
        hp, hk), "ATTRIBUTE_VALUE_INVALID")


def test_rsa_wycheproof_sign_and_verify(tok: Token) -> None:
    g = next(g for g in wycheproof("rsa_pkcs1_2048_sig_gen_test.json")
             if g["sha"] == "SHA-256")
    pk, t = g["privateKey"], g["tests"][0]
    hk = create(tok, (CKA.CLASS, ulong(CKO.PRIVATE_KEY)),
                (CKA.KEY_TYPE, ulong(CKK.RSA)), (CKA.SIGN, TRUE),
                (CKA.MODULUS, unhex(pk["modulus"])),
                (CKA.PUBLIC_EXPONENT, unhex(pk["publicExponent"])),
                (CKA.PRIVATE_EXPONENT, unhex(pk["privateExponent"])))
    m = tok.mechanism(CKM.SHA256_RSA_PKCS)
    assert sign(tok, m, hk, unhex(t["msg"])) == unhex(t["sig"])
    g = wycheproof("rsa_signature_2048_sha256_test.json")[0]
    hp = create(tok, (CKA.CLASS, ulong(CKO.PUBLIC_KEY)),
                (CKA.KEY_TYPE, ulong(CKK.RSA)), (CKA.VERIFY, TRUE),
                (CKA.MODULUS, unhex(g["publicKey"]["modulus"])),
                (CKA.PUBLIC_EXPONENT,
                 unhex(g["publicKey"]["publicExponent"])))
    for result, want in (("valid", "OK"), ("invalid", "SIGNATURE_INVALID")):
        t = next(t for t in g["tests"] if t["result"] == result
                 and len(t["sig"]) == 512)
        assert verify(tok, m, hp, unhex(t["msg"]), unhex(t["sig"])) == want


# --- ECDSA / ECDH ------------------------------------------------------

def test_p224_cavp_sigver(tok: Token) -> None:
    from tests.mechanisms.test_ec_vectors import SIGVER
    records = SIGVER[("P-224", "SHA-224")]
    good = next(r for r in records if r["Result"].startswith("P"))
    bad = next(r for r in records if r["Result"].startswith("F"))
    for r, want in ((good, "OK"), (bad, "SIGNATURE_INVALID")):
        point = core.OctetString(
            b"\x04" + int(r["Qx"], 16).to_bytes(28, "big")
            + int(r["Qy"], 16).to_bytes(28, "big")).dump()
        hp = create(tok, (CKA.CLASS, ulong(CKO.PUBLIC_KEY)),
                    (CKA.KEY_TYPE, ulong(CKK.EC)), (CKA.VERIFY, TRUE),
                    (CKA.EC_PARAMS, oid("1.3.132.0.33")),
                    (CKA.EC_POINT, point))
        sig = int(r["R"], 16).to_bytes(28, "big") + \
            int(r["S"], 16).to_bytes(28, "big")
        assert verify(tok, tok.mechanism(CKM.ECDSA_SHA224), hp,
                      unhex(r["Msg"]), sig) == want


def test_brainpool_keygen_sha3_ecdsa_and_rfc7027(
        tok: Token) -> None:
    params = oid("1.3.36.3.3.2.8.1.1.7")
    hp, hk = pair(tok, CKM.EC_KEY_PAIR_GEN,
                  [(CKA.EC_PARAMS, params), (CKA.VERIFY, TRUE)],
                  [(CKA.SIGN, TRUE)])
    m = tok.mechanism(CKM.ECDSA_SHA3_256)
    sig = sign(tok, m, hk, b"hello")
    assert len(sig) == 64
    assert verify(tok, m, hp, b"hello", sig) == "OK"
    assert verify(tok, m, hp, b"hellO", sig) == "SIGNATURE_INVALID"
    r = next(r for r in nist_records("asymmetric/ECDH/brainpool.txt")
             if r["CURVE"] == "brainpoolP256r1")
    base = create(tok, (CKA.CLASS, ulong(CKO.PRIVATE_KEY)),
                  (CKA.KEY_TYPE, ulong(CKK.EC)), (CKA.DERIVE, TRUE),
                  (CKA.EC_PARAMS, params), (CKA.VALUE, unhex(r["DA"])))
    peer = b"\x04" + unhex(r["X_QB"]) + unhex(r["Y_QB"])
    assert derive(tok, base, peer) == ("OK", unhex(r["X_Z"]))


def test_unknown_curve_is_curve_not_supported(tok: Token) -> None:
    hp, hk = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
    for m, params in ((CKM.EC_KEY_PAIR_GEN, oid("1.2.840.10045.3.1.1")),
                      (CKM.EC_MONTGOMERY_KEY_PAIR_GEN, oid("1.3.101.112"))):
        pub = tok.template((CKA.EC_PARAMS, params))
        priv = tok.template((CKA.DERIVE, TRUE))
        expect(tok.lib.C_GenerateKeyPair(tok.h, tok.mechanism(m), pub, 1,
                                         priv, 1, hp, hk),
               "CURVE_NOT_SUPPORTED")


# --- X25519 / X448 -----------------------------------------------------

def _x_private(tok: Token, dotted: str, value: bytes) -> int:
    return create(tok, (CKA.CLASS, ulong(CKO.PRIVATE_KEY)),
                  (CKA.KEY_TYPE, ulong(CKK.EC_MONTGOMERY)),
                  (CKA.DERIVE, TRUE), (CKA.EC_PARAMS, oid(dotted)),
                  (CKA.VALUE, value))


def test_x25519_rfc7748_and_keygen(tok: Token) -> None:
    r = next(r for r in nist_records("asymmetric/X25519/rfc7748.txt")
             if "INPUT_SCALAR" in r)
    base = _x_private(tok, "1.3.101.110", unhex(r["INPUT_SCALAR"]))
    assert derive(tok, base, unhex(r["INPUT_U"])) == \
        ("OK", unhex(r["OUTPUT_U"]))
    name_params = bytes(core.PrintableString("curve25519").dump())
    hp, hk = pair(tok, CKM.EC_MONTGOMERY_KEY_PAIR_GEN,
                  [(CKA.EC_PARAMS, name_params)], [(CKA.DERIVE, TRUE)])
    point = core.OctetString.load(attr(tok, hp, CKA.EC_POINT)).native
    assert len(point) == 32
    assert int.from_bytes(attr(tok, hk, CKA.KEY_TYPE), "little") == \
        CKK.EC_MONTGOMERY
    # Two token key pairs agree with each other.
    hp2, hk2 = pair(tok, CKM.EC_MONTGOMERY_KEY_PAIR_GEN,
                    [(CKA.EC_PARAMS, name_params)], [(CKA.DERIVE, TRUE)])
    point2 = core.OctetString.load(attr(tok, hp2, CKA.EC_POINT)).native
    rv1, z1 = derive(tok, hk, point2)
    assert rv1 == "OK" and len(z1) == 32
    assert derive(tok, hk2, point) == ("OK", z1)


def test_x448_wycheproof_valid_and_invalid(tok: Token) -> None:
    tests = [t for g in wycheproof("x448_test.json") for t in g["tests"]]
    good = next(t for t in tests if t["result"] == "valid")
    too_long = next(t for t in tests if "PublicKeyTooLong" in t["flags"])
    zero = next(t for t in tests if "ZeroSharedSecret" in t["flags"])
    base = _x_private(tok, "1.3.101.111", unhex(good["private"]))
    assert derive(tok, base, unhex(good["public"])) == \
        ("OK", unhex(good["shared"]))
    for t in (too_long, zero):
        base = _x_private(tok, "1.3.101.111", unhex(t["private"]))
        assert derive(tok, base, unhex(t["public"]))[0] == \
            "MECHANISM_PARAM_INVALID"
