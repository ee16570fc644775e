"""Bounds at the C ABI boundary (core/limits.py, issue 8), each exactly at
and one beyond its limit, through build/libcraton_hsm.so in cffi ABI mode.

Beyond-the-limit calls whose memory would be large pass a small buffer
with the large length: the module must refuse from the length alone,
before reading (or writing) a byte, so a lying length is safe here and
is part of what is tested.
"""

from __future__ import annotations

from typing import Any

from abi.test_hostile import (
    TRUE,
    USER_PIN,
    Token,
    expect,
    ffi,
    lib,  # noqa: F401  (fixture)
    name,
    tok,  # noqa: F401  (fixture)
    ulong,
)
from craton_hsm._generated_ck import CKA, CKK, CKM, CKO, CKU

MAX_PIN = 256
MAX_TEMPLATE = 256
MAX_ATTRIBUTE = 64 * 1024
MAX_DATA = 64 * 1024 * 1024
MAX_FIND = 65536


def test_pin_length(tok: Token) -> None:  # noqa: F811
    h = tok.ready()
    expect(tok.lib.C_Logout(h), "OK")
    at = b"7" * MAX_PIN
    expect(tok.login(h, CKU.USER, at), "PIN_INCORRECT")
    expect(tok.login(h, CKU.USER, at + b"7"), "PIN_LEN_RANGE")
    expect(tok.login(h, CKU.USER, USER_PIN), "OK")
    # A lying length over the bound is refused before the PIN is read.
    expect(tok.lib.C_SetPIN(h, USER_PIN, len(USER_PIN), b"7", 2 ** 40),
           "PIN_LEN_RANGE")


def test_template_count(tok: Token) -> None:  # noqa: F811
    h = tok.ready()
    out = ffi.new("CK_OBJECT_HANDLE *")
    base = [(CKA.CLASS, ulong(CKO.DATA))]
    at = tok.template(*base, *[(CKA.LABEL, b"x")] * (MAX_TEMPLATE - 1))
    expect(tok.lib.C_FindObjectsInit(h, at, MAX_TEMPLATE), "OK")
    expect(tok.lib.C_FindObjectsFinal(h), "OK")
    beyond = tok.template(*base, *[(CKA.LABEL, b"x")] * MAX_TEMPLATE)
    expect(tok.lib.C_FindObjectsInit(h, beyond, MAX_TEMPLATE + 1),
           "ARGUMENTS_BAD")
    expect(tok.lib.C_CreateObject(h, beyond, MAX_TEMPLATE + 1, out),
           "ARGUMENTS_BAD")
    # C_GetAttributeValue reads its own template through the same bound.
    rv, obj = _data_object(tok, h, b"v")
    expect(rv, "OK")
    types = ffi.new("CK_ATTRIBUTE[]", MAX_TEMPLATE + 1)
    for i in range(MAX_TEMPLATE + 1):
        types[i].type = CKA.CLASS
    expect(tok.lib.C_GetAttributeValue(h, obj, types, MAX_TEMPLATE), "OK")
    expect(tok.lib.C_GetAttributeValue(h, obj, types, MAX_TEMPLATE + 1),
           "ARGUMENTS_BAD")


def _data_object(tok: Token, h: int,  # noqa: F811
                 value: bytes) -> tuple[int, int]:
    out = ffi.new("CK_OBJECT_HANDLE *")
    rv = tok.lib.C_CreateObject(h, tok.template(
        (CKA.CLASS, ulong(CKO.DATA)), (CKA.VALUE, value)), 2, out)
    return int(rv), int(out[0])


def test_attribute_length(tok: Token) -> None:  # noqa: F811
    h = tok.ready()
    rv, obj = _data_object(tok, h, b"v" * MAX_ATTRIBUTE)
    expect(rv, "OK")
    size = ffi.new("CK_ULONG *")
    expect(tok.lib.C_GetObjectSize(h, obj, size), "OK")
    assert size[0] >= MAX_ATTRIBUTE
    rv, _ = _data_object(tok, h, b"v" * (MAX_ATTRIBUTE + 1))
    expect(rv, "ATTRIBUTE_VALUE_INVALID")


def _digest_init(tok: Token, h: int) -> None:  # noqa: F811
    expect(tok.lib.C_DigestInit(h, tok.mechanism(CKM.SHA256)), "OK")


def _digest(lib: Any, h: int) -> str:  # noqa: F811
    out, n = ffi.new("unsigned char[32]"), ffi.new("CK_ULONG *", 32)
    return name(lib.C_DigestFinal(h, out, n))


def test_single_buffer(tok: Token) -> None:  # noqa: F811
    h = tok.ready()
    big = ffi.new("unsigned char[]", MAX_DATA)
    out, n = ffi.new("unsigned char[32]"), ffi.new("CK_ULONG *", 32)
    _digest_init(tok, h)
    expect(tok.lib.C_Digest(h, big, MAX_DATA, out, n), "OK")
    _digest_init(tok, h)
    # One byte over: refused from the length alone (small real buffer).
    expect(tok.lib.C_Digest(h, out, MAX_DATA + 1, out, n), "DATA_LEN_RANGE")
    expect(tok.lib.C_DigestFinal(h, out, n), "OPERATION_NOT_INITIALIZED")
    expect(tok.lib.C_SeedRandom(h, out, MAX_DATA + 1), "DATA_LEN_RANGE")
    expect(tok.lib.C_GenerateRandom(h, out, MAX_DATA + 1), "ARGUMENTS_BAD")


def test_multi_part_total(tok: Token) -> None:  # noqa: F811
    h = tok.ready()
    half = MAX_DATA // 2
    chunk = ffi.new("unsigned char[]", half)
    # Exactly 64 MiB in two updates: accepted.
    _digest_init(tok, h)
    expect(tok.lib.C_DigestUpdate(h, chunk, half), "OK")
    expect(tok.lib.C_DigestUpdate(h, chunk, half), "OK")
    assert _digest(tok.lib, h) == "OK"
    # One byte more ends the operation with DATA_LEN_RANGE.
    _digest_init(tok, h)
    expect(tok.lib.C_DigestUpdate(h, chunk, half), "OK")
    expect(tok.lib.C_DigestUpdate(h, chunk, half), "OK")
    expect(tok.lib.C_DigestUpdate(h, chunk, 1), "DATA_LEN_RANGE")
    assert _digest(tok.lib, h) == "OPERATION_NOT_INITIALIZED"


def test_multi_part_total_sign_and_encrypt(tok: Token) -> None:  # noqa: F811
    h = tok.ready()
    quarter = MAX_DATA // 4
    chunk = ffi.new("unsigned char[]", quarter)
    key = ffi.new("CK_OBJECT_HANDLE *")
    expect(tok.lib.C_CreateObject(h, tok.template(
        (CKA.CLASS, ulong(CKO.SECRET_KEY)),
        (CKA.KEY_TYPE, ulong(CKK.GENERIC_SECRET)), (CKA.VALUE, bytes(32)),
        (CKA.SIGN, TRUE)), 4, key), "OK")
    expect(tok.lib.C_SignInit(h, tok.mechanism(CKM.SHA256_HMAC), key[0]),
           "OK")
    for _ in range(4):
        expect(tok.lib.C_SignUpdate(h, chunk, quarter), "OK")
    expect(tok.lib.C_SignUpdate(h, chunk, 1), "DATA_LEN_RANGE")
    expect(tok.lib.C_SignUpdate(h, chunk, 1), "OPERATION_NOT_INITIALIZED")
    # C_EncryptUpdate counts what it consumed (a length query does not).
    aes = ffi.new("CK_OBJECT_HANDLE *")
    expect(tok.lib.C_CreateObject(h, tok.template(
        (CKA.CLASS, ulong(CKO.SECRET_KEY)), (CKA.KEY_TYPE, ulong(CKK.AES)),
        (CKA.VALUE, bytes(16)), (CKA.ENCRYPT, TRUE)), 4, aes), "OK")
    expect(tok.lib.C_EncryptInit(h, tok.mechanism(CKM.AES_ECB), aes[0]),
           "OK")
    out = ffi.new("unsigned char[]", quarter)
    n = ffi.new("CK_ULONG *")
    for _ in range(4):
        n[0] = quarter
        expect(tok.lib.C_EncryptUpdate(h, chunk, quarter, ffi.NULL, n),
               "OK")
        expect(tok.lib.C_EncryptUpdate(h, chunk, quarter, out, n), "OK")
    n[0] = quarter
    expect(tok.lib.C_EncryptUpdate(h, chunk, 16, out, n), "DATA_LEN_RANGE")


def test_mechanism_parameter_field(tok: Token) -> None:  # noqa: F811
    h = tok.ready()
    aes = ffi.new("CK_OBJECT_HANDLE *")
    expect(tok.lib.C_CreateObject(h, tok.template(
        (CKA.CLASS, ulong(CKO.SECRET_KEY)), (CKA.KEY_TYPE, ulong(CKK.AES)),
        (CKA.VALUE, bytes(16)), (CKA.ENCRYPT, TRUE)), 4, aes), "OK")
    iv, aad = ffi.new("unsigned char[12]"), ffi.new("unsigned char[16]")
    p = ffi.new("CK_GCM_PARAMS *", {"pIv": iv, "ulIvLen": 12,
                                    "ulIvBits": 96, "pAAD": aad,
                                    "ulAADLen": MAX_DATA + 1,
                                    "ulTagBits": 128})
    m = ffi.new("CK_MECHANISM *")
    m.mechanism, m.pParameter = CKM.AES_GCM, p
    m.ulParameterLen = ffi.sizeof("CK_GCM_PARAMS")
    expect(tok.lib.C_EncryptInit(h, m, aes[0]), "MECHANISM_PARAM_INVALID")
    p.ulAADLen = 16
    expect(tok.lib.C_EncryptInit(h, m, aes[0]), "OK")


def test_find_objects_count_is_clamped(tok: Token) -> None:  # noqa: F811
    """More than 65,536 per call is clamped, not refused: the spec lets
    C_FindObjects return fewer than ulMaxObjectCount (5.7.8).  65,537
    session objects match; one call returns 65,536, the next the last."""
    h = tok.ready()
    tmpl = tok.template((CKA.CLASS, ulong(CKO.DATA)), (CKA.LABEL, b"n"))
    out = ffi.new("CK_OBJECT_HANDLE *")
    for _ in range(MAX_FIND + 1):
        expect(tok.lib.C_CreateObject(h, tmpl, 2, out), "OK")
    find = tok.template((CKA.LABEL, b"n"))
    expect(tok.lib.C_FindObjectsInit(h, find, 1), "OK")
    buf = ffi.new("CK_OBJECT_HANDLE[]", MAX_FIND + 2)
    n = ffi.new("CK_ULONG *")
    expect(tok.lib.C_FindObjects(h, buf, MAX_FIND + 2, n), "OK")
    assert n[0] == MAX_FIND
    expect(tok.lib.C_FindObjects(h, buf, MAX_FIND + 2, n), "OK")
    assert n[0] == 1
    expect(tok.lib.C_FindObjectsFinal(h), "OK")
