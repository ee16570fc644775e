"""The mechanisms of digest, hmac, cmac and aead families driven through
build/libcraton_hsm.so in cffi ABI mode, at least one independent vector
per mechanism (CAVP/RFC from cryptography-vectors, Wycheproof), plus the
exact C_GetMechanismInfo of each row.

One token serves the whole module (C_InitToken and the PIN hash cost
~0.3 s); every key is a session object, so tests do not share state.
"""

from __future__ import annotations

import hmac as stdlib_hmac
import json
from typing import Any

import pytest

from craton_hsm._generated_ck import CKA, CKF, CKK, CKM, CKO
from tests.abi.test_hostile import NULL, TRUE, Token, expect, ffi, name, ulong
from tests.mechanisms.vectors import SHARED, nist_records, unhex


def secret(tok: Token, kt: int, value: bytes, *caps: int) -> int:
    attrs = [(CKA.CLASS, ulong(CKO.SECRET_KEY)), (CKA.KEY_TYPE, ulong(kt)),
             (CKA.VALUE, value), *((c, TRUE) for c in caps)]
    out = ffi.new("CK_OBJECT_HANDLE *")
    expect(tok.lib.C_CreateObject(tok.h, tok.template(*attrs), len(attrs),
                                  out), "OK")
    return int(out[0])


def mech(tok: Token, m: int, struct: Any = None, param: bytes = b"") -> Any:
    if struct is None:
        return tok.mechanism(m, param)
    p = ffi.new("CK_MECHANISM *")
    tok._keep.append(struct)
    p.mechanism, p.pParameter = m, struct
    p.ulParameterLen = ffi.sizeof(ffi.typeof(struct).item)
    return p


def call_out(fn: Any, *args: Any) -> tuple[str, bytes]:
    """Length query, then the call; returns (rv name, output)."""
    n = ffi.new("CK_ULONG *")
    rv = fn(*args, NULL, n)
    if name(rv) != "OK":
        return name(rv), b""
    buf = ffi.new("CK_BYTE[]", max(1, int(n[0])))
    rv = fn(*args, buf, n)
    return name(rv), bytes(ffi.buffer(buf, int(n[0])))


def sign(tok: Token, m: Any, key: int, data: bytes) -> bytes:
    expect(tok.lib.C_SignInit(tok.h, m, key), "OK")
    rv, out = call_out(tok.lib.C_Sign, tok.h, data, len(data))
    assert rv == "OK"
    return out


def verify(tok: Token, m: Any, key: int, data: bytes, sig: bytes) -> str:
    expect(tok.lib.C_VerifyInit(tok.h, m, key), "OK")
    return name(tok.lib.C_Verify(tok.h, data, len(data), sig, len(sig)))


def crypt(tok: Token, enc: bool, m: Any, key: int,
          data: bytes) -> tuple[str, bytes]:
    lib = tok.lib
    init = lib.C_EncryptInit if enc else lib.C_DecryptInit
    expect(init(tok.h, m, key), "OK")
    fn = lib.C_Encrypt if enc else lib.C_Decrypt
    return call_out(fn, tok.h, data, len(data))


# --- C_GetMechanismInfo ------------------------------------------------

# Each of these also serves the message-based API (v3.0 5.11-5.16).
MAC = CKF.SIGN | CKF.VERIFY | CKF.MESSAGE_SIGN | CKF.MESSAGE_VERIFY
CRYPT = CKF.ENCRYPT | CKF.DECRYPT | CKF.MESSAGE_ENCRYPT | CKF.MESSAGE_DECRYPT
INFO = {
    CKM.SHA512_224: (0, 0, CKF.DIGEST), CKM.SHA512_256: (0, 0, CKF.DIGEST),
    CKM.SHA3_256_HMAC: (1, 512, MAC),
    CKM.SHA512_224_HMAC_GENERAL: (1, 512, MAC),
    CKM.SHA_1_HMAC_GENERAL: (1, 512, MAC),
    CKM.GENERIC_SECRET_KEY_GEN: (8, 4096, CKF.GENERATE),
    CKM.AES_CMAC: (16, 32, MAC), CKM.AES_CMAC_GENERAL: (16, 32, MAC),
    CKM.AES_CCM: (16, 32, CRYPT),
    CKM.CHACHA20_KEY_GEN: (32, 32, CKF.GENERATE),
    CKM.CHACHA20_POLY1305: (32, 32, CRYPT),
}


@pytest.mark.parametrize("m", INFO, ids=lambda m: CKM(m).name)
def test_mechanism_info(tok: Token, m: int) -> None:
    info = ffi.new("CK_MECHANISM_INFO *")
    expect(tok.lib.C_GetMechanismInfo(0, m, info), "OK")
    assert (info.ulMinKeySize, info.ulMaxKeySize, info.flags) == INFO[m]


# --- digests -----------------------------------------------------------

@pytest.mark.parametrize("m,stem", [(CKM.SHA512_224, "SHA512_224"),
                                    (CKM.SHA512_256, "SHA512_256")])
def test_digest_cavp(tok: Token, m: int, stem: str) -> None:
    for r in nist_records(f"hashes/SHA2/{stem}ShortMsg.rsp")[1:4]:
        msg = unhex(r["MSG"])
        expect(tok.lib.C_DigestInit(tok.h, tok.mechanism(m)), "OK")
        rv, out = call_out(tok.lib.C_Digest, tok.h, msg, len(msg))
        assert (rv, out) == ("OK", unhex(r["MD"]))


# --- HMAC --------------------------------------------------------------

def _wycheproof(name_: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    doc = json.loads((SHARED / "wycheproof" / name_).read_text())
    return [(g, t) for g in doc["testGroups"] for t in g["tests"]]


def _pick(cases: list[Any], tag_bits: int | None, result: str) -> Any:
    return next((g, t) for g, t in cases if t["result"] == result
                and (tag_bits is None or g["tagSize"] == tag_bits))


HMACS = [
    ("sha1", CKM.SHA_1_HMAC, CKK.SHA_1_HMAC, 160),
    ("sha224", CKM.SHA224_HMAC, CKK.SHA224_HMAC, 224),
    ("sha256", CKM.SHA256_HMAC, CKK.SHA256_HMAC, 256),
    ("sha384", CKM.SHA384_HMAC, CKK.SHA384_HMAC, 384),
    ("sha512", CKM.SHA512_HMAC, CKK.SHA512_HMAC, 512),
    ("sha3_224", CKM.SHA3_224_HMAC, CKK.SHA3_224_HMAC, 224),
    ("sha3_256", CKM.SHA3_256_HMAC, CKK.SHA3_256_HMAC, 256),
    ("sha3_384", CKM.SHA3_384_HMAC, CKK.SHA3_384_HMAC, 384),
    ("sha3_512", CKM.SHA3_512_HMAC, CKK.SHA3_512_HMAC, 512),
]


@pytest.mark.parametrize("stem,m,kt,bits", HMACS, ids=[h[0] for h in HMACS])
def test_hmac_wycheproof(tok: Token, stem: str, m: int, kt: int,
                         bits: int) -> None:
    cases = _wycheproof(f"hmac_{stem}_test.json")
    general = CKM[CKM(m).name + "_GENERAL"]
    _g, t = _pick(cases, bits, "valid")
    k = secret(tok, kt, unhex(t["key"]), CKA.SIGN, CKA.VERIFY)
    msg, tag = unhex(t["msg"]), unhex(t["tag"])
    assert sign(tok, tok.mechanism(m), k, msg) == tag
    assert verify(tok, tok.mechanism(m), k, msg, tag) == "OK"
    _g, bad = _pick(cases, bits, "invalid")
    kb = secret(tok, CKK.GENERIC_SECRET, unhex(bad["key"]), CKA.VERIFY)
    assert verify(tok, tok.mechanism(m), kb, unhex(bad["msg"]),
                  unhex(bad["tag"])) == "SIGNATURE_INVALID"
    # A truncated-tag group runs on *_HMAC_GENERAL.
    _g, t = _pick(cases, bits // 2, "valid")
    k = secret(tok, CKK.GENERIC_SECRET, unhex(t["key"]), CKA.SIGN,
               CKA.VERIFY)
    gm = tok.mechanism(general, ulong(bits // 16))
    msg, tag = unhex(t["msg"]), unhex(t["tag"])
    assert sign(tok, gm, k, msg) == tag
    assert verify(tok, gm, k, msg, tag) == "OK"
    _g, bad = _pick(cases, bits // 2, "invalid")
    kb = secret(tok, CKK.GENERIC_SECRET, unhex(bad["key"]), CKA.VERIFY)
    assert verify(tok, gm, kb, unhex(bad["msg"]),
                  unhex(bad["tag"])) == "SIGNATURE_INVALID"


@pytest.mark.parametrize("m,kt,hname", [
    (CKM.SHA512_224_HMAC, CKK.SHA512_224_HMAC, "sha512_224"),
    (CKM.SHA512_256_HMAC, CKK.SHA512_256_HMAC, "sha512_256"),
])
def test_sha512_t_hmac(tok: Token, m: int, kt: int, hname: str) -> None:
    # RFC 4231 case 2 inputs (4-byte key) with the stdlib as reference:
    # no SHA-512/t HMAC vector file is in the shared set.
    key, msg = b"Jefe", b"what do ya want for nothing?"
    ref = stdlib_hmac.new(key, msg, hname).digest()
    k = secret(tok, kt, key, CKA.SIGN, CKA.VERIFY)
    assert sign(tok, tok.mechanism(m), k, msg) == ref
    gm = tok.mechanism(CKM[CKM(m).name + "_GENERAL"], ulong(12))
    assert sign(tok, gm, k, msg) == ref[:12]
    assert verify(tok, gm, k, msg, ref[:11] + b"\x00") == "SIGNATURE_INVALID"
    assert verify(tok, gm, k, msg, ref) == "SIGNATURE_LEN_RANGE"


def test_rfc4231_case2_four_byte_key(tok: Token) -> None:
    r = nist_records("HMAC/rfc-4231-sha256.txt")[1]
    k = secret(tok, CKK.GENERIC_SECRET, unhex(r["KEY"]), CKA.SIGN)
    assert len(unhex(r["KEY"])) == 4
    assert sign(tok, tok.mechanism(CKM.SHA256_HMAC), k,
                unhex(r["MSG"])) == unhex(r["MD"])


def test_hmac_general_bad_length(tok: Token) -> None:
    k = secret(tok, CKK.GENERIC_SECRET, b"k" * 32, CKA.SIGN)
    for n in (0, 33):
        m = tok.mechanism(CKM.SHA256_HMAC_GENERAL, ulong(n))
        expect(tok.lib.C_SignInit(tok.h, m, k), "MECHANISM_PARAM_INVALID")
    m = tok.mechanism(CKM.SHA256_HMAC_GENERAL)
    expect(tok.lib.C_SignInit(tok.h, m, k), "MECHANISM_PARAM_INVALID")


# --- CMAC --------------------------------------------------------------

def test_cmac_sp800_38b_and_wycheproof(tok: Token) -> None:
    r = nist_records("CMAC/nist-800-38b-aes256.txt")[2]
    k = secret(tok, CKK.AES, unhex(r["KEY"]), CKA.SIGN, CKA.VERIFY)
    msg, tag = unhex(r["MESSAGE"]), unhex(r["OUTPUT"])
    assert sign(tok, tok.mechanism(CKM.AES_CMAC), k, msg) == tag
    gm = tok.mechanism(CKM.AES_CMAC_GENERAL, ulong(4))
    assert sign(tok, gm, k, msg) == tag[:4]
    assert verify(tok, gm, k, msg, tag[:4]) == "OK"
    cases = _wycheproof("aes_cmac_test.json")
    _g, bad = next((g, t) for g, t in cases if t["result"] == "invalid"
                   and len(t["key"]) == 32)
    kb = secret(tok, CKK.AES, unhex(bad["key"]), CKA.VERIFY)
    assert verify(tok, tok.mechanism(CKM.AES_CMAC), kb, unhex(bad["msg"]),
                  unhex(bad["tag"])) == "SIGNATURE_INVALID"


# --- AEAD --------------------------------------------------------------

def _ccm(tok: Token, t: dict[str, Any], data_len: int) -> Any:
    s = ffi.new("CK_CCM_PARAMS *")
    nonce, aad = ffi.new("CK_BYTE[]", unhex(t["iv"])), \
        ffi.new("CK_BYTE[]", unhex(t["aad"]) or b"\0")
    tok._keep += [nonce, aad]
    s.ulDataLen, s.pNonce, s.ulNonceLen = data_len, nonce, len(t["iv"]) // 2
    s.pAAD, s.ulAADLen = aad, len(t["aad"]) // 2
    s.ulMACLen = len(t["tag"]) // 2
    return mech(tok, CKM.AES_CCM, s)


def _chacha(tok: Token, nonce: bytes, aad: bytes) -> Any:
    s = ffi.new("CK_SALSA20_CHACHA20_POLY1305_PARAMS *")
    pn, pa = ffi.new("CK_BYTE[]", nonce), ffi.new("CK_BYTE[]", aad or b"\0")
    tok._keep += [pn, pa]
    s.pNonce, s.ulNonceLen, s.pAAD, s.ulAADLen = pn, len(nonce), pa, len(aad)
    return mech(tok, CKM.CHACHA20_POLY1305, s)


def _valid_and_invalid(file: str) -> tuple[dict[str, Any], dict[str, Any]]:
    cases = [t for g, t in _wycheproof(file) if g["ivSize"] == 96
             and g["tagSize"] == 128 and t["msg"]]
    return (next(t for t in cases if t["result"] == "valid"),
            next(t for t in cases if t["result"] == "invalid"))


def test_ccm_wycheproof(tok: Token) -> None:
    good, bad = _valid_and_invalid("aes_ccm_test.json")
    for t, want in ((good, "OK"), (bad, "ENCRYPTED_DATA_INVALID")):
        k = secret(tok, CKK.AES, unhex(t["key"]), CKA.ENCRYPT, CKA.DECRYPT)
        msg, ct = unhex(t["msg"]), unhex(t["ct"]) + unhex(t["tag"])
        rv, out = crypt(tok, False, _ccm(tok, t, len(msg)), k, ct)
        assert rv == want
        if want == "OK":
            assert out == msg
            assert crypt(tok, True, _ccm(tok, t, len(msg)), k, msg) == \
                ("OK", ct)


def test_ccm_data_len_must_match(tok: Token) -> None:
    good, _bad = _valid_and_invalid("aes_ccm_test.json")
    k = secret(tok, CKK.AES, unhex(good["key"]), CKA.ENCRYPT)
    msg = unhex(good["msg"])
    rv, _ = crypt(tok, True, _ccm(tok, good, len(msg) + 1), k, msg)
    assert rv == "DATA_LEN_RANGE"


def test_chacha20_poly1305_wycheproof(tok: Token) -> None:
    good, bad = _valid_and_invalid("chacha20_poly1305_test.json")
    for t, want in ((good, "OK"), (bad, "ENCRYPTED_DATA_INVALID")):
        k = secret(tok, CKK.CHACHA20, unhex(t["key"]), CKA.ENCRYPT,
                   CKA.DECRYPT)
        iv, aad = unhex(t["iv"]), unhex(t["aad"])
        msg, ct = unhex(t["msg"]), unhex(t["ct"]) + unhex(t["tag"])
        rv, out = crypt(tok, False, _chacha(tok, iv, aad), k, ct)
        assert rv == want
        if want == "OK":
            assert out == msg
            assert crypt(tok, True, _chacha(tok, iv, aad), k, msg) == \
                ("OK", ct)


def test_chacha20_keygen_and_short_nonce(tok: Token) -> None:
    out = ffi.new("CK_OBJECT_HANDLE *")
    tmpl = tok.template((CKA.ENCRYPT, TRUE), (CKA.DECRYPT, TRUE))
    expect(tok.lib.C_GenerateKey(tok.h, tok.mechanism(CKM.CHACHA20_KEY_GEN),
                                 tmpl, 2, out), "OK")
    k = int(out[0])
    vlen = ffi.new("CK_ULONG *")
    attr = ffi.new("CK_ATTRIBUTE *")
    attr.type, attr.pValue, attr.ulValueLen = CKA.VALUE_LEN, vlen, \
        ffi.sizeof("CK_ULONG")
    expect(tok.lib.C_GetAttributeValue(tok.h, k, attr, 1), "OK")
    assert vlen[0] == 32
    rv, ct = crypt(tok, True, _chacha(tok, bytes(12), b"a"), k, b"hello")
    assert rv == "OK" and len(ct) == 21
    assert crypt(tok, False, _chacha(tok, bytes(12), b"a"), k, ct) == \
        ("OK", b"hello")
    expect(tok.lib.C_EncryptInit(tok.h, _chacha(tok, bytes(8), b""), k),
           "MECHANISM_PARAM_INVALID")
