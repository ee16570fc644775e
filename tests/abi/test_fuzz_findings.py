"""Regression tests for what the C ABI fuzzer (tests/fuzz/) found, each
through build/libcraton_hsm.so in cffi ABI mode (tests/abi/test_hostile.py
harness).  docs/fuzzing.md lists the findings.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from abi.test_hostile import (
    TRUE,
    Token,
    expect,
    ffi,
    lib,  # noqa: F401  (fixture)
    name,
    tok,  # noqa: F401  (fixture)
    ulong,
)
from craton_hsm._generated_ck import CKA, CKK, CKM, CKO, CKP, CKZ


def _aes_with_allowed(tok: Token, h: int,  # noqa: F811
                      mechs: list[int]) -> tuple[
        int, int]:
    value = b"".join(ulong(m) for m in mechs)
    out = ffi.new("CK_OBJECT_HANDLE *")
    rv = tok.lib.C_CreateObject(h, tok.template(
        (CKA.CLASS, ulong(CKO.SECRET_KEY)), (CKA.KEY_TYPE, ulong(CKK.AES)),
        (CKA.VALUE, bytes(16)), (CKA.ENCRYPT, TRUE),
        (CKA.ALLOWED_MECHANISMS, value)), 5, out)
    return int(rv), int(out[0])


@pytest.mark.parametrize("count", [0, 1, 2, 3, 6])
def test_allowed_mechanisms_is_a_mechanism_array_not_a_template(
        tok: Token, count: int) -> None:  # noqa: F811
    """Finding 1: CKA_ALLOWED_MECHANISMS carries CKF_ARRAY_ATTRIBUTE, and
    the ABI read it as a nested CK_ATTRIBUTE array: 3 or 6 mechanisms
    (a multiple of sizeof(CK_ATTRIBUTE)) turned mechanism numbers into
    pointers and crashed the host with SIGSEGV; 1 or 2 were refused as
    ATTRIBUTE_VALUE_INVALID.  It is a CK_MECHANISM_TYPE array (spec
    4.1.4 / 4.4)."""
    h = tok.ready()
    mechs = [CKM.AES_ECB, CKM.AES_CBC, CKM.AES_GCM, CKM.AES_CTR,
             CKM.AES_CBC_PAD, CKM.AES_KEY_WRAP][:count]
    rv, key = _aes_with_allowed(tok, h, mechs)
    expect(rv, "OK")
    a = ffi.new("CK_ATTRIBUTE *")
    buf = ffi.new("CK_MECHANISM_TYPE[8]")
    a.type, a.pValue, a.ulValueLen = CKA.ALLOWED_MECHANISMS, buf, \
        ffi.sizeof(buf)
    expect(tok.lib.C_GetAttributeValue(h, key, a, 1), "OK")
    assert a.ulValueLen == count * ffi.sizeof("CK_MECHANISM_TYPE")
    assert sorted(buf[i] for i in range(count)) == sorted(mechs)
    # The list is enforced: ECB (first in the list) works, CTR only
    # when listed.
    if count:
        expect(tok.lib.C_EncryptInit(h, tok.mechanism(CKM.AES_ECB), key),
               "OK")
        _end_encrypt(tok.lib, h)
    ctr = tok.mechanism(CKM.AES_CTR, ulong(128) + bytes(16))
    expect(tok.lib.C_EncryptInit(h, ctr, key),
           "MECHANISM_INVALID" if 0 < count < 4 else "OK")


def _end_encrypt(lib: Any, h: int) -> None:  # noqa: F811
    out, n = ffi.new("unsigned char[16]"), ffi.new("CK_ULONG *", 16)
    expect(lib.C_Encrypt(h, bytes(16), 16, out, n), "OK")


def test_allowed_mechanisms_wrong_length_is_value_invalid(
        tok: Token) -> None:  # noqa: F811
    h = tok.ready()
    out = ffi.new("CK_OBJECT_HANDLE *")
    expect(tok.lib.C_CreateObject(h, tok.template(
        (CKA.CLASS, ulong(CKO.SECRET_KEY)), (CKA.KEY_TYPE, ulong(CKK.AES)),
        (CKA.VALUE, bytes(16)), (CKA.ALLOWED_MECHANISMS, b"\x01\x02\x03")),
        4, out), "ATTRIBUTE_VALUE_INVALID")


def _crypt(lib: Any, fn: str, h: int, data: bytes | None,  # noqa: F811
           cap: int) -> tuple[str, bytes]:
    out, n = ffi.new("unsigned char[]", max(1, cap)), ffi.new(
        "CK_ULONG *", cap)
    if data is None:
        rv = getattr(lib, fn)(h, out, n)
    else:
        rv = getattr(lib, fn)(h, data, len(data), out, n)
    got = bytes(ffi.buffer(out, n[0])) if rv == 0 else b""
    return name(rv), got


def test_held_final_result_is_not_taken_by_an_update(
        tok: Token) -> None:  # noqa: F811
    """Finding 2: after C_EncryptFinal answered BUFFER_TOO_SMALL, a
    C_EncryptUpdate took the held final block as its own output and left
    the operation active over a finished context; the next update raised
    AlreadyFinalized inside the module (CKR_GENERAL_ERROR with a
    traceback).  Now the update is OPERATION_ACTIVE and the final block
    waits for the retried C_EncryptFinal."""
    p11 = tok.lib
    h = tok.ready()
    rv, key = _aes_with_allowed(tok, h, [])
    expect(rv, "OK")
    iv = bytes(range(16))
    expect(p11.C_EncryptInit(h, tok.mechanism(CKM.AES_CBC_PAD, iv), key),
           "OK")
    assert _crypt(p11, "C_EncryptUpdate", h, b"ten bytes!", 64) == (
        "OK", b"")
    assert _crypt(p11, "C_EncryptFinal", h, None, 1)[0] == \
        "BUFFER_TOO_SMALL"
    assert _crypt(p11, "C_EncryptUpdate", h, bytes(16), 64)[0] == \
        "OPERATION_ACTIVE"
    assert _crypt(p11, "C_EncryptUpdate", h, bytes(16), 64)[0] == \
        "OPERATION_ACTIVE"
    rv_name, block = _crypt(p11, "C_EncryptFinal", h, None, 16)
    assert rv_name == "OK"
    enc = Cipher(algorithms.AES(bytes(16)), modes.CBC(iv)).encryptor()
    pad = padding.PKCS7(128).padder()
    assert block == enc.update(pad.update(b"ten bytes!") + pad.finalize())
    assert _crypt(p11, "C_EncryptFinal", h, None, 16)[0] == \
        "OPERATION_NOT_INITIALIZED"



# mechanisms/kdf_pbkd2.py MAX_ITERATIONS (docs/mechanisms.md).
MAX_ITERATIONS = 10_000_000


def _pbkdf2(tok: Token, h: int, iterations: int) -> str:  # noqa: F811
    salt, password = ffi.new("char[]", b"salt"), ffi.new("char[]", b"pw")
    p = ffi.new("CK_PKCS5_PBKD2_PARAMS2 *", {
        "saltSource": CKZ.SALT_SPECIFIED, "pSaltSourceData": salt,
        "ulSaltSourceDataLen": 4, "iterations": iterations,
        "prf": CKP.PKCS5_PBKD2_HMAC_SHA256, "pPassword": password,
        "ulPasswordLen": 2})
    m = ffi.new("CK_MECHANISM *")
    m.mechanism, m.pParameter = CKM.PKCS5_PBKD2, p
    m.ulParameterLen = ffi.sizeof("CK_PKCS5_PBKD2_PARAMS2")
    out = ffi.new("CK_OBJECT_HANDLE *")
    tmpl = tok.template((CKA.KEY_TYPE, ulong(CKK.GENERIC_SECRET)),
                        (CKA.VALUE_LEN, ulong(16)))
    return name(tok.lib.C_GenerateKey(h, m, tmpl, 2, out))


@pytest.mark.parametrize("iterations", [MAX_ITERATIONS + 1, 2 ** 31,
                                        2 ** 32, 2 ** 64 - 1])
def test_pbkdf2_iteration_count_is_bounded(
        tok: Token, iterations: int) -> None:  # noqa: F811
    """Finding 3: a count of 2**32 or more made the backend panic (a
    pyo3 PanicException escaping into the ABI guard, CKR_GENERAL_ERROR),
    and one near 2**31 would hold the calling thread for hours."""
    h = tok.ready()
    assert _pbkdf2(tok, h, iterations) == "MECHANISM_PARAM_INVALID"
    assert _pbkdf2(tok, h, 1) == "OK"
