"""Known-answer tests of the symmetric families: SHA-1/2/3 (FIPS 180-4,
FIPS 202), HMAC (FIPS 198-1), AES ECB/CBC (SP 800-38A), GCM (SP
800-38D), CCM (SP 800-38C), KW (SP 800-38F / RFC 3394), CMAC (SP
800-38B), PBKDF2 (SP 800-132), HKDF (RFC 5869 / SP 800-56C) and the SP
800-108 counter-mode KDF.  FIPS 140-3 IG 10.3.A: one KAT per algorithm
and mode, encrypt and decrypt where the mode has both."""

from __future__ import annotations

from typing import Any

from craton_hsm._generated_ck import (
    CK_SP800_108_BYTE_ARRAY,
    CK_SP800_108_ITERATION_VARIABLE,
    CKA,
    CKF,
    CKK,
    CKM,
    CKP,
    CKZ,
)
from craton_hsm.errors import EncryptedDataInvalid
from craton_hsm.mechanisms import params as P
from craton_hsm.mechanisms.registry import Op
from craton_hsm.selftest.common import (
    KatKey,
    SelfTestFailure,
    check,
    equal,
    hexes,
    known_input,
    op,
)

Vec = dict[str, Any]

DIGESTS = {"kat-sha1": CKM.SHA_1, "kat-sha224": CKM.SHA224,
           "kat-sha256": CKM.SHA256, "kat-sha384": CKM.SHA384,
           "kat-sha512": CKM.SHA512, "kat-sha3-256": CKM.SHA3_256,
           "kat-sha3-512": CKM.SHA3_512}
HMACS = {"kat-hmac-sha256": CKM.SHA256_HMAC,
         "kat-hmac-sha3-256": CKM.SHA3_256_HMAC}


def _secret(value: bytes, key_type: int = CKK.GENERIC_SECRET) -> KatKey:
    return KatKey({CKA.KEY_TYPE: key_type, CKA.VALUE: value})


def _aes(value: bytes) -> KatKey:
    return _secret(value, CKK.AES)


def digest(name: str, v: Vec) -> None:
    msg, md = hexes(v, "msg", "md")
    check(name, op(DIGESTS[name], Op.DIGEST, None).digest(msg), md,
          "digest")


def hmac_mac(name: str, v: Vec) -> None:
    key, msg, mac = hexes(v, "key", "msg", "mac")
    got = op(HMACS[name], Op.SIGN, _secret(key)).sign(msg)
    check(name, got, mac, "MAC")


def _both_ways(name: str, mech: int, key: bytes, params: object,
               pt: bytes, ct: bytes) -> None:
    """Encrypt to the known ciphertext; decrypt the (possibly
    corrupted) known ciphertext back to the plaintext."""
    check(name, op(mech, Op.ENCRYPT, _aes(key), params).one_shot(pt), ct,
          "ciphertext")
    back = op(mech, Op.DECRYPT, _aes(key), params).one_shot(
        known_input(name, ct))
    equal(back, pt, "decrypted plaintext")


def aes_ecb(name: str, v: Vec) -> None:
    key, pt, ct = hexes(v, "key", "pt", "ct")
    _both_ways(name, CKM.AES_ECB, key, None, pt, ct)


def aes_cbc(name: str, v: Vec) -> None:
    key, iv, pt, ct = hexes(v, "key", "iv", "pt", "ct")
    _both_ways(name, CKM.AES_CBC, key, iv, pt, ct)


def aes_gcm(name: str, v: Vec) -> None:
    """Encrypt, decrypt, and refuse a flipped tag (SP 800-38D 7.2:
    the tag check must fail closed)."""
    key, iv, aad, pt, ct, tag = hexes(v, "key", "iv", "aad", "pt", "ct",
                                      "tag")
    params = P.GcmParams(iv, 8 * len(iv), aad, 8 * len(tag))
    _both_ways(name, CKM.AES_GCM, key, params, pt, ct + tag)
    _tag_refused(CKM.AES_GCM, key, params, ct + tag)


def aes_ccm(name: str, v: Vec) -> None:
    key, iv, aad, pt, ct, tag = hexes(v, "key", "iv", "aad", "pt", "ct",
                                      "tag")
    params = P.CcmParams(len(pt), iv, aad, len(tag))
    _both_ways(name, CKM.AES_CCM, key, params, pt, ct + tag)
    _tag_refused(CKM.AES_CCM, key, params, ct + tag)


def _tag_refused(mech: int, key: bytes, params: object,
                 sealed: bytes) -> None:
    forged = sealed[:-1] + bytes([sealed[-1] ^ 0x80])
    try:
        op(mech, Op.DECRYPT, _aes(key), params).one_shot(forged)
    except EncryptedDataInvalid:
        return
    raise SelfTestFailure("a forged tag was accepted")


def aes_kw(name: str, v: Vec) -> None:
    key, pt, ct = hexes(v, "key", "pt", "ct")
    check(name, op(CKM.AES_KEY_WRAP, Op.WRAP, _aes(key)).wrap(pt), ct,
          "wrapped key")
    back = op(CKM.AES_KEY_WRAP, Op.UNWRAP, _aes(key)).unwrap(
        known_input(name, ct))
    equal(back, pt, "unwrapped key")


def cmac(name: str, v: Vec) -> None:
    key, msg, mac = hexes(v, "key", "msg", "mac")
    check(name, op(CKM.AES_CMAC, Op.SIGN, _aes(key)).sign(msg), mac, "MAC")


def _derived(out: dict[int, Any]) -> bytes:
    return bytes(out[CKA.VALUE])


def _template(n: int) -> dict[int, Any]:
    return {CKA.KEY_TYPE: CKK.GENERIC_SECRET, CKA.VALUE_LEN: n}


def pbkdf2(name: str, v: Vec) -> None:
    password, salt, dk = hexes(v, "password", "salt", "dk")
    params = P.Pbkd2Params(CKZ.SALT_SPECIFIED, salt, int(v["iterations"]),
                           CKP.PKCS5_PBKD2_HMAC_SHA256, b"", password)
    gen = op(CKM.PKCS5_PBKD2, Op.GENERATE, None, params)
    check(name, _derived(gen.generate(_template(len(dk)))), dk,
          "derived key")


def hkdf(name: str, v: Vec) -> None:
    ikm, salt, info, okm = hexes(v, "ikm", "salt", "info", "okm")
    params = P.HkdfParams(True, True, CKM.SHA256, CKF.HKDF_SALT_DATA,
                          salt, 0, info)
    derive = op(CKM.HKDF_DERIVE, Op.DERIVE, _secret(ikm, CKK.HKDF), params)
    check(name, _derived(derive.derive(_template(len(okm)))), okm, "OKM")


def kbkdf(name: str, v: Vec) -> None:
    key, fixed, ko = hexes(v, "key", "fixed", "ko")
    params = P.Sp800108Params(CKM.SHA256_HMAC, (
        P.PrfDataParam(CK_SP800_108_ITERATION_VARIABLE,
                       P.CounterFormat(False, 32)),
        P.PrfDataParam(CK_SP800_108_BYTE_ARRAY, fixed)))
    derive = op(CKM.SP800_108_COUNTER_KDF, Op.DERIVE, _secret(key), params)
    check(name, _derived(derive.derive(_template(len(ko)))), ko,
          "derived key")
