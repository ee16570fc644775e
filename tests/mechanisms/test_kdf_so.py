"""The key-derivation family through build/libcraton_hsm.so in cffi ABI
mode: the exact C_GetMechanismInfo of every row and at least one
independent vector per mechanism (RFC 5869, RFC 6070, Wycheproof,
NIST CAVP KBKDF and AES KATs from cryptography-vectors, the PKCS#11
CKM_EXTRACT_KEY_FROM_KEY example), plus the parameter, template and
sensitivity rules that only show through C_DeriveKey / C_GenerateKey.

One token serves the module (C_InitToken and the PIN hash are slow);
every key is a session object, so tests do not share state.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from craton_hsm._generated_ck import (
    CK_SP800_108_BYTE_ARRAY,
    CK_SP800_108_ITERATION_VARIABLE,
    CKA,
    CKF,
    CKK,
    CKM,
    CKO,
    CKP,
    CKZ,
)
from tests.abi.test_hostile import NULL, TRUE, Token, expect, ffi, name, ulong
from tests.mechanisms.coverage import vectors
from tests.mechanisms.test_kdf_vectors import KBKDF, RFC5869
from tests.mechanisms.vectors import SHARED, nist_records, unhex

FALSE = b"\x00"


def secret(tok: Token, value: bytes, kt: int = CKK.GENERIC_SECRET,
           sensitive: bool = False, extractable: bool = True) -> int:
    attrs = [(CKA.CLASS, ulong(CKO.SECRET_KEY)), (CKA.KEY_TYPE, ulong(kt)),
             (CKA.VALUE, value), (CKA.DERIVE, TRUE),
             (CKA.SENSITIVE, TRUE if sensitive else FALSE),
             (CKA.EXTRACTABLE, TRUE if extractable else FALSE)]
    out = ffi.new("CK_OBJECT_HANDLE *")
    expect(tok.lib.C_CreateObject(tok.h, tok.template(*attrs), len(attrs),
                                  out), "OK")
    return int(out[0])


def mech(tok: Token, m: int, struct: Any = None) -> Any:
    p = ffi.new("CK_MECHANISM *")
    p.mechanism = m
    if struct is not None:
        tok._keep.append(struct)
        p.pParameter = struct
        p.ulParameterLen = ffi.sizeof(ffi.typeof(struct).item)
    return p


def keep(tok: Token, data: bytes) -> Any:
    buf = ffi.new("CK_BYTE[]", data) if data else NULL
    tok._keep.append(buf)
    return buf


def out_template(n: int | None, kt: int = CKK.GENERIC_SECRET,
                 cls: int = CKO.SECRET_KEY) -> list[tuple[int, bytes]]:
    attrs = [(CKA.CLASS, ulong(cls))]
    if cls == CKO.SECRET_KEY:
        attrs += [(CKA.KEY_TYPE, ulong(kt)), (CKA.SENSITIVE, FALSE),
                  (CKA.EXTRACTABLE, TRUE)]
    if n is not None:
        attrs.append((CKA.VALUE_LEN, ulong(n)))
    return attrs


def derive(tok: Token, m: Any, base: int,
           attrs: list[tuple[int, bytes]]) -> tuple[str, int]:
    out = ffi.new("CK_OBJECT_HANDLE *")
    rv = tok.lib.C_DeriveKey(tok.h, m, base, tok.template(*attrs),
                             len(attrs), out)
    return name(rv), int(out[0])


def derived_value(tok: Token, m: Any, base: int, n: int | None,
                  kt: int = CKK.GENERIC_SECRET) -> bytes:
    rv, h = derive(tok, m, base, out_template(n, kt))
    assert rv == "OK"
    return attr(tok, h, CKA.VALUE)[1]


def attr(tok: Token, h: int, t: int) -> tuple[str, bytes]:
    a = ffi.new("CK_ATTRIBUTE *")
    a.type = t
    rv = tok.lib.C_GetAttributeValue(tok.h, h, a, 1)
    if name(rv) != "OK":
        return name(rv), b""
    buf = ffi.new("CK_BYTE[]", max(1, int(a.ulValueLen)))
    a.pValue = buf
    rv = tok.lib.C_GetAttributeValue(tok.h, h, a, 1)
    return name(rv), bytes(ffi.buffer(buf, int(a.ulValueLen)))


def as_ulong(b: bytes) -> int:
    return int.from_bytes(b, "little" if ulong(1)[0] else "big")


# --- C_GetMechanismInfo ------------------------------------------------

D, G = CKF.DERIVE, CKF.GENERATE
INFO = {
    CKM.HKDF_DERIVE: (1, 512, D), CKM.HKDF_DATA: (1, 512, D),
    CKM.HKDF_KEY_GEN: (1, 512, G), CKM.PKCS5_PBKD2: (0, 0, G),
    CKM.SP800_108_COUNTER_KDF: (1, 512, D),
    CKM.CONCATENATE_BASE_AND_KEY: (8, 4096, D),
    CKM.CONCATENATE_BASE_AND_DATA: (8, 4096, D),
    CKM.CONCATENATE_DATA_AND_BASE: (8, 4096, D),
    CKM.XOR_BASE_AND_DATA: (8, 4096, D),
    CKM.EXTRACT_KEY_FROM_KEY: (8, 4096, D),
    CKM.AES_ECB_ENCRYPT_DATA: (16, 32, D),
    CKM.AES_CBC_ENCRYPT_DATA: (16, 32, D),
}


@pytest.mark.parametrize("m", sorted(INFO), ids=lambda m: CKM(m).name)
def test_mechanism_info(tok: Token, m: int) -> None:
    info = ffi.new("CK_MECHANISM_INFO *")
    expect(tok.lib.C_GetMechanismInfo(0, m, info), "OK")
    assert (info.ulMinKeySize, info.ulMaxKeySize, info.flags) == INFO[m]


# --- HKDF ----------------------------------------------------------------

def hkdf_params(tok: Token, hash_mech: int, salt_type: int, salt: bytes,
                info: bytes, salt_key: int = 0, extract: bool = True,
                expand: bool = True) -> Any:
    return ffi.new("CK_HKDF_PARAMS *", {
        "bExtract": extract, "bExpand": expand,
        "prfHashMechanism": hash_mech, "ulSaltType": salt_type,
        "pSalt": keep(tok, salt), "ulSaltLen": len(salt),
        "hSaltKey": salt_key, "pInfo": keep(tok, info),
        "ulInfoLen": len(info)})


RFC5869_1 = next(r for r in RFC5869 if r["HASH"] == "SHA-256")


def test_hkdf_derive_rfc5869(tok: Token) -> None:
    r = RFC5869_1
    base = secret(tok, unhex(r["IKM"]), CKK.HKDF)
    p = hkdf_params(tok, CKM.SHA256, CKF.HKDF_SALT_DATA, unhex(r["SALT"]),
                    unhex(r["INFO"]))
    assert derived_value(tok, mech(tok, CKM.HKDF_DERIVE, p), base,
                         int(r["L"])) == unhex(r["OKM"])
    # bExpand false: the PRK, HashLen bytes (default length).
    p = hkdf_params(tok, CKM.SHA256, CKF.HKDF_SALT_DATA, unhex(r["SALT"]),
                    b"", expand=False)
    assert derived_value(tok, mech(tok, CKM.HKDF_DERIVE, p), base,
                         None) == unhex(r["PRK"])


def test_hkdf_salt_from_a_key_object(tok: Token) -> None:
    r = RFC5869_1
    base = secret(tok, unhex(r["IKM"]))
    salt = secret(tok, unhex(r["SALT"]), sensitive=True, extractable=False)
    p = hkdf_params(tok, CKM.SHA256, CKF.HKDF_SALT_KEY, b"",
                    unhex(r["INFO"]), salt_key=salt)
    assert derived_value(tok, mech(tok, CKM.HKDF_DERIVE, p), base,
                         int(r["L"])) == unhex(r["OKM"])
    bad = hkdf_params(tok, CKM.SHA256, CKF.HKDF_SALT_KEY, b"", b"",
                      salt_key=0xDEAD)
    assert derive(tok, mech(tok, CKM.HKDF_DERIVE, bad), base,
                  out_template(16))[0] == "MECHANISM_PARAM_INVALID"


def test_hkdf_data_makes_a_data_object(tok: Token) -> None:
    doc = json.loads((SHARED / "wycheproof" /
                      "hkdf_sha384_test.json").read_text())
    t = doc["testGroups"][0]["tests"][0]
    base = secret(tok, unhex(t["ikm"]))
    salt = unhex(t["salt"])
    p = hkdf_params(tok, CKM.SHA384, CKF.HKDF_SALT_DATA if salt else
                    CKF.HKDF_SALT_NULL, salt, unhex(t["info"]))
    rv, h = derive(tok, mech(tok, CKM.HKDF_DATA, p), base,
                   out_template(t["size"], cls=CKO.DATA))
    assert rv == "OK"
    assert as_ulong(attr(tok, h, CKA.CLASS)[1]) == CKO.DATA
    assert attr(tok, h, CKA.VALUE) == ("OK", unhex(t["okm"]))
    assert attr(tok, h, CKA.VALUE_LEN)[0] == "ATTRIBUTE_TYPE_INVALID"
    # A data object needs its length; a key class is inconsistent.
    assert derive(tok, mech(tok, CKM.HKDF_DATA, p), base,
                  out_template(None, cls=CKO.DATA))[0] == "TEMPLATE_INCOMPLETE"
    assert derive(tok, mech(tok, CKM.HKDF_DATA, p), base,
                  out_template(16))[0] == "TEMPLATE_INCONSISTENT"


def test_hkdf_param_errors(tok: Token) -> None:
    base = secret(tok, b"k" * 32)
    neither = hkdf_params(tok, CKM.SHA256, CKF.HKDF_SALT_NULL, b"", b"",
                          extract=False, expand=False)
    md5ish = hkdf_params(tok, CKM.AES_ECB, CKF.HKDF_SALT_NULL, b"", b"")
    too_long = hkdf_params(tok, CKM.SHA256, CKF.HKDF_SALT_NULL, b"", b"")
    for p, want, n in ((neither, "MECHANISM_PARAM_INVALID", 16),
                       (md5ish, "MECHANISM_PARAM_INVALID", 16),
                       (too_long, "TEMPLATE_INCONSISTENT", 255 * 32 + 1)):
        assert derive(tok, mech(tok, CKM.HKDF_DERIVE, p), base,
                      out_template(n))[0] == want
    aes = secret(tok, b"a" * 16, CKK.AES)
    assert derive(tok, mech(tok, CKM.HKDF_DERIVE, too_long), aes,
                  out_template(16))[0] == "KEY_TYPE_INCONSISTENT"


@vectors(CKM.HKDF_KEY_GEN,
         source="generated key used for RFC 5869-checked HKDF")
def test_hkdf_key_gen(tok: Token) -> None:
    attrs = [(CKA.VALUE_LEN, ulong(48)), (CKA.DERIVE, TRUE)]
    out = ffi.new("CK_OBJECT_HANDLE *")
    expect(tok.lib.C_GenerateKey(tok.h, mech(tok, CKM.HKDF_KEY_GEN),
                                 tok.template(*attrs), 2, out), "OK")
    assert as_ulong(attr(tok, out[0], CKA.KEY_TYPE)[1]) == CKK.HKDF
    assert as_ulong(attr(tok, out[0], CKA.VALUE_LEN)[1]) == 48


# --- PBKDF2 --------------------------------------------------------------

def pbkdf2(tok: Token, prf: int, password: bytes, salt: bytes, iters: int,
           attrs: list[tuple[int, bytes]]) -> tuple[str, int]:
    p = ffi.new("CK_PKCS5_PBKD2_PARAMS2 *", {
        "saltSource": CKZ.SALT_SPECIFIED,
        "pSaltSourceData": keep(tok, salt), "ulSaltSourceDataLen": len(salt),
        "iterations": iters, "prf": prf,
        "pPassword": keep(tok, password), "ulPasswordLen": len(password)})
    out = ffi.new("CK_OBJECT_HANDLE *")
    rv = tok.lib.C_GenerateKey(tok.h, mech(tok, CKM.PKCS5_PBKD2, p),
                               tok.template(*attrs), len(attrs), out)
    return name(rv), int(out[0])


def test_pbkdf2_rfc6070_and_wycheproof(tok: Token) -> None:
    r = nist_records("KDF/rfc-6070-PBKDF2-SHA1.txt")[2]      # 4096 rounds
    rv, h = pbkdf2(tok, CKP.PKCS5_PBKD2_HMAC_SHA1, r["PASSWORD"].encode(),
                   r["SALT"].encode(), int(r["ITERATIONS"]),
                   out_template(int(r["LENGTH"])))
    assert rv == "OK"
    assert attr(tok, h, CKA.VALUE) == ("OK", unhex(r["DERIVED_KEY"]))
    assert as_ulong(attr(tok, h, CKA.KEY_GEN_MECHANISM)[1]) == \
        CKM.PKCS5_PBKD2
    doc = json.loads((SHARED / "wycheproof" /
                      "pbkdf2_hmacsha256_test.json").read_text())
    t = doc["testGroups"][0]["tests"][0]                      # RFC 7914
    rv, h = pbkdf2(tok, CKP.PKCS5_PBKD2_HMAC_SHA256, unhex(t["password"]),
                   unhex(t["salt"]), t["iterationCount"],
                   out_template(32, CKK.AES))
    assert rv == "OK"
    assert attr(tok, h, CKA.VALUE) == ("OK", unhex(t["dk"])[:32])


def test_pbkdf2_errors(tok: Token) -> None:
    assert pbkdf2(tok, 0x99, b"pw", b"salt", 1, out_template(16))[0] == \
        "MECHANISM_PARAM_INVALID"
    no_type = [(CKA.VALUE_LEN, ulong(16))]
    assert pbkdf2(tok, CKP.PKCS5_PBKD2_HMAC_SHA256, b"pw", b"salt", 1,
                  no_type)[0] == "TEMPLATE_INCOMPLETE"
    assert pbkdf2(tok, CKP.PKCS5_PBKD2_HMAC_SHA256, b"pw", b"salt", 1,
                  out_template(16, CKK.RSA))[0] == "TEMPLATE_INCONSISTENT"


# --- SP 800-108 ----------------------------------------------------------

def kbkdf_params(tok: Token, prf: int, fixed: bytes, rlen: int,
                 extra_keys: int = 0) -> Any:
    ctr = ffi.new("CK_SP800_108_COUNTER_FORMAT *",
                  {"bLittleEndian": 0, "ulWidthInBits": rlen})
    tok._keep.append(ctr)
    items = ffi.new("CK_PRF_DATA_PARAM[2]", [
        {"type": CK_SP800_108_ITERATION_VARIABLE, "pValue": ctr,
         "ulValueLen": ffi.sizeof(ctr[0])},
        {"type": CK_SP800_108_BYTE_ARRAY, "pValue": keep(tok, fixed),
         "ulValueLen": len(fixed)}])
    tok._keep.append(items)
    derived = ffi.new("CK_DERIVED_KEY[1]")
    tok._keep.append(derived)
    return ffi.new("CK_SP800_108_KDF_PARAMS *", {
        "prfType": prf, "ulNumberOfDataParams": 2, "pDataParams": items,
        "ulAdditionalDerivedKeys": extra_keys,
        "pAdditionalDerivedKeys": derived if extra_keys else NULL})


@pytest.mark.parametrize("prf_name,prf,kt", [
    ("HMAC_SHA256", CKM.SHA256_HMAC, CKK.GENERIC_SECRET),
    ("CMAC_AES128", CKM.AES_CMAC, CKK.AES)])
def test_sp800_108_counter_cavp(tok: Token, prf_name: str, prf: int,
                                kt: int) -> None:
    r = KBKDF[(prf_name, "BEFORE_FIXED", 8)][0]
    base = secret(tok, unhex(r["KI"]), kt)
    p = kbkdf_params(tok, prf, unhex(r["FixedInputData"]), 8)
    assert derived_value(tok, mech(tok, CKM.SP800_108_COUNTER_KDF, p), base,
                         int(r["L"]) // 8) == unhex(r["KO"])


def test_sp800_108_refuses_additional_keys(tok: Token) -> None:
    base = secret(tok, b"k" * 32)
    p = kbkdf_params(tok, CKM.SHA256_HMAC, b"fixed", 32, extra_keys=1)
    assert derive(tok, mech(tok, CKM.SP800_108_COUNTER_KDF, p), base,
                  out_template(16))[0] == "MECHANISM_PARAM_INVALID"
    p = kbkdf_params(tok, CKM.SHA256_HMAC, b"fixed", 12)
    assert derive(tok, mech(tok, CKM.SP800_108_COUNTER_KDF, p), base,
                  out_template(16))[0] == "MECHANISM_PARAM_INVALID"


# --- simple derivations --------------------------------------------------

def string_data(tok: Token, data: bytes) -> Any:
    return ffi.new("CK_KEY_DERIVATION_STRING_DATA *",
                   {"pData": keep(tok, data), "ulLen": len(data)})


@vectors(CKM.CONCATENATE_BASE_AND_KEY, CKM.CONCATENATE_BASE_AND_DATA, CKM.CONCATENATE_DATA_AND_BASE, CKM.XOR_BASE_AND_DATA,
         source="spec 2.43 definitions (no published vectors exist)")
def test_concatenate_xor_extract(tok: Token) -> None:
    a, b = bytes(range(1, 17)), bytes(range(0x80, 0x88))
    base = secret(tok, a)
    other = secret(tok, b)
    handle = ffi.new("CK_OBJECT_HANDLE *", other)
    assert derived_value(tok, mech(tok, CKM.CONCATENATE_BASE_AND_KEY,
                                   handle), base, None) == a + b
    assert derived_value(tok, mech(tok, CKM.CONCATENATE_BASE_AND_DATA,
                                   string_data(tok, b)), base, 20) == \
        (a + b)[:20]
    assert derived_value(tok, mech(tok, CKM.CONCATENATE_DATA_AND_BASE,
                                   string_data(tok, b)), base, None) == b + a
    assert derived_value(tok, mech(tok, CKM.XOR_BASE_AND_DATA,
                                   string_data(tok, b)), base, None) == \
        bytes(x ^ y for x, y in zip(a, b))
    # PKCS#11 Current Mechanisms, CKM_EXTRACT_KEY_FROM_KEY example.
    spec_base = secret(tok, unhex("329F84A9"))
    pos = ffi.new("CK_ULONG *", 21)
    assert derived_value(tok, mech(tok, CKM.EXTRACT_KEY_FROM_KEY, pos),
                         spec_base, 2) == unhex("9526")
    # Longer than the material: TEMPLATE_INCONSISTENT.
    assert derive(tok, mech(tok, CKM.CONCATENATE_BASE_AND_KEY, handle),
                  base, out_template(25))[0] == "TEMPLATE_INCONSISTENT"


def test_concatenate_inherits_sensitivity(tok: Token) -> None:
    base = secret(tok, b"b" * 16)
    other = secret(tok, b"o" * 16, sensitive=True, extractable=False)
    handle = ffi.new("CK_OBJECT_HANDLE *", other)
    rv, h = derive(tok, mech(tok, CKM.CONCATENATE_BASE_AND_KEY, handle),
                   base, out_template(None))
    assert rv == "OK"
    assert attr(tok, h, CKA.SENSITIVE)[1] == TRUE
    assert attr(tok, h, CKA.EXTRACTABLE)[1] == FALSE
    assert attr(tok, h, CKA.VALUE)[0] == "ATTRIBUTE_SENSITIVE"
    # The base was created, not generated: never ALWAYS_SENSITIVE.
    assert attr(tok, h, CKA.ALWAYS_SENSITIVE)[1] == FALSE
    gone = ffi.new("CK_OBJECT_HANDLE *", 0xBAD)
    assert derive(tok, mech(tok, CKM.CONCATENATE_BASE_AND_KEY, gone),
                  base, out_template(None))[0] == "MECHANISM_PARAM_INVALID"


def test_aes_encrypt_data_cavp(tok: Token) -> None:
    r = nist_records("ciphers/AES/ECB/ECBMMT128.rsp")[3]
    base = secret(tok, unhex(r["KEY"]), CKK.AES)
    pt, ct = unhex(r["PLAINTEXT"]), unhex(r["CIPHERTEXT"])
    assert derived_value(tok, mech(tok, CKM.AES_ECB_ENCRYPT_DATA,
                                   string_data(tok, pt)), base,
                         len(ct)) == ct
    r = nist_records("ciphers/AES/CBC/CBCMMT256.rsp")[2]
    base = secret(tok, unhex(r["KEY"]), CKK.AES)
    pt, ct = unhex(r["PLAINTEXT"]), unhex(r["CIPHERTEXT"])
    p = ffi.new("CK_AES_CBC_ENCRYPT_DATA_PARAMS *", {
        "iv": list(unhex(r["IV"])), "pData": keep(tok, pt),
        "length": len(pt)})
    assert derived_value(tok, mech(tok, CKM.AES_CBC_ENCRYPT_DATA, p), base,
                         32, CKK.AES) == ct[:32]
    assert derive(tok, mech(tok, CKM.AES_ECB_ENCRYPT_DATA,
                            string_data(tok, b"short")), base,
                  out_template(16))[0] == "MECHANISM_PARAM_INVALID"
