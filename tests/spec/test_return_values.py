"""Spec-exact return values, written from PKCS#11 v3.0 section 5 (the
"Return values" list of each function and 5.1/5.2 conventions), table
by table, through the 3.0 function list.  Cases tests/abi already
covers (C_Logout not logged in, SignInit's KEY_HANDLE_INVALID, verify
failures ending the operation) are not repeated."""

from __future__ import annotations

from typing import Any

import pytest

from craton_hsm._generated_ck import CKA, CKF, CKK, CKM, CKO, CKR
from tests.abi.test_hostile import FALSE, TRUE, Token, expect, name, ulong
from tests.spec.harness import NULL, ffi

BAD = 0xBEEF
DEFINED_MECH_FLAGS = (
    CKF.HW | CKF.MESSAGE_ENCRYPT | CKF.MESSAGE_DECRYPT | CKF.MESSAGE_SIGN
    | CKF.MESSAGE_VERIFY | CKF.MULTI_MESSAGE | CKF.FIND_OBJECTS
    | CKF.ENCRYPT | CKF.DECRYPT | CKF.DIGEST | CKF.SIGN | CKF.SIGN_RECOVER
    | CKF.VERIFY | CKF.VERIFY_RECOVER | CKF.GENERATE | CKF.GENERATE_KEY_PAIR
    | CKF.WRAP | CKF.UNWRAP | CKF.DERIVE | CKF.EXTENSION | CKF.EC_F_P
    | CKF.EC_F_2M | CKF.EC_ECPARAMETERS | CKF.EC_NAMEDCURVE
    | CKF.EC_UNCOMPRESS | CKF.EC_COMPRESS | CKF.EC_CURVENAME
    # v3.2 bits this module also reports (CKM_ML_KEM).
    | CKF.ENCAPSULATE | CKF.DECAPSULATE)


def aes(tok: Token, h: int, *caps: int) -> int:
    pairs = [(CKA.CLASS, ulong(CKO.SECRET_KEY)),
             (CKA.KEY_TYPE, ulong(CKK.AES)), (CKA.VALUE, bytes(16)),
             (CKA.PRIVATE, FALSE), (CKA.EXTRACTABLE, TRUE)]
    pairs += [(c, TRUE) for c in caps]
    out = ffi.new("CK_OBJECT_HANDLE *")
    expect(tok.lib.C_CreateObject(h, tok.template(*pairs), len(pairs), out),
           "OK")
    return int(out[0])


@pytest.fixture
def sess(tok: Token) -> tuple[Token, int, int]:
    tok.init_token()
    h = tok.open()
    key = aes(tok, h, CKA.ENCRYPT, CKA.DECRYPT, CKA.WRAP, CKA.UNWRAP,
              CKA.DERIVE, CKA.SIGN)
    return tok, h, key


def test_handle_errors_name_the_handle_role(sess) -> None:
    """Each function's list: a key argument is KEY_HANDLE_INVALID, a
    wrapping/unwrapping key its own code, an object OBJECT_HANDLE_INVALID
    (5.7, 5.8-5.13, 5.18)."""
    tok, h, key = sess
    lib = tok.lib
    n = ffi.new("CK_ULONG *", 0)
    out = ffi.new("CK_OBJECT_HANDLE *")
    tmpl = tok.template((CKA.CLASS, ulong(CKO.SECRET_KEY)),
                        (CKA.KEY_TYPE, ulong(CKK.AES)))
    ecb = tok.mechanism(CKM.AES_ECB)
    wrap = tok.mechanism(CKM.AES_KEY_WRAP)
    cases: list[tuple[str, Any, str]] = [
        ("C_EncryptInit", lambda: lib.C_EncryptInit(h, ecb, BAD),
         "KEY_HANDLE_INVALID"),
        ("C_DecryptInit", lambda: lib.C_DecryptInit(h, ecb, BAD),
         "KEY_HANDLE_INVALID"),
        ("C_VerifyInit", lambda: lib.C_VerifyInit(
            h, tok.mechanism(CKM.AES_CMAC), BAD), "KEY_HANDLE_INVALID"),
        ("C_MessageEncryptInit", lambda: lib.C_MessageEncryptInit(
            h, tok.mechanism(CKM.AES_GCM), BAD), "KEY_HANDLE_INVALID"),
        ("C_WrapKey wrapping", lambda: lib.C_WrapKey(
            h, wrap, BAD, key, NULL, n), "WRAPPING_KEY_HANDLE_INVALID"),
        ("C_WrapKey key", lambda: lib.C_WrapKey(
            h, wrap, key, BAD, NULL, n), "KEY_HANDLE_INVALID"),
        ("C_UnwrapKey", lambda: lib.C_UnwrapKey(
            h, wrap, BAD, bytes(24), 24, tmpl, 2, out),
         "UNWRAPPING_KEY_HANDLE_INVALID"),
        ("C_DeriveKey", lambda: lib.C_DeriveKey(
            h, tok.mechanism(CKM.CONCATENATE_BASE_AND_KEY, ulong(key)), BAD,
            tmpl, 2, out),
         "KEY_HANDLE_INVALID"),
        ("C_CopyObject", lambda: lib.C_CopyObject(h, BAD, NULL, 0, out),
         "OBJECT_HANDLE_INVALID"),
        ("C_GetObjectSize", lambda: lib.C_GetObjectSize(h, BAD, n),
         "OBJECT_HANDLE_INVALID"),
        ("C_SetAttributeValue", lambda: lib.C_SetAttributeValue(
            h, BAD, tok.template((CKA.LABEL, b"x")), 1),
         "OBJECT_HANDLE_INVALID"),
    ]
    expect(lib.C_DigestInit(h, tok.mechanism(CKM.SHA256)), "OK")
    cases.append(("C_DigestKey", lambda: lib.C_DigestKey(h, BAD),
                  "KEY_HANDLE_INVALID"))
    got = {c: name(call()) for c, call, _ in cases}
    assert got == {c: want for c, _, want in cases}


def test_key_type_inconsistent(sess) -> None:
    """5.8-5.13: a key of the wrong type for the mechanism."""
    tok, h, key = sess
    lib = tok.lib
    expect(lib.C_SignInit(h, tok.mechanism(CKM.ECDSA), key),
           "KEY_TYPE_INCONSISTENT")
    expect(lib.C_EncryptInit(h, tok.mechanism(CKM.RSA_PKCS), key),
           "KEY_TYPE_INCONSISTENT")
    expect(lib.C_SignInit(h, tok.mechanism(CKM.SHA256_HMAC), key),
           "KEY_TYPE_INCONSISTENT")


def test_mechanism_param_invalid(sess) -> None:
    """5.1.6/5.8: a parameter of the wrong size or with bad values."""
    tok, h, key = sess
    lib = tok.lib
    for m, param in ((CKM.AES_ECB, b"\x00" * 16),      # takes none
                     (CKM.AES_CBC, b"\x00" * 15),      # IV is 16 bytes
                     (CKM.AES_GCM, b"\x00" * 3),
                     (CKM.AES_CTR, b"\x00" * 5)):
        expect(lib.C_EncryptInit(h, tok.mechanism(m, param), key),
               "MECHANISM_PARAM_INVALID")


def test_operation_not_initialized(sess) -> None:
    """Every continuation without its *Init (5.8-5.13)."""
    tok, h, _key = sess
    lib = tok.lib
    n = ffi.new("CK_ULONG *", 64)
    buf = ffi.new("CK_BYTE[]", 64)
    calls = {
        "C_Encrypt": lambda: lib.C_Encrypt(h, b"x", 1, buf, n),
        "C_EncryptUpdate": lambda: lib.C_EncryptUpdate(h, b"x", 1, buf, n),
        "C_EncryptFinal": lambda: lib.C_EncryptFinal(h, buf, n),
        "C_Decrypt": lambda: lib.C_Decrypt(h, b"x", 1, buf, n),
        "C_DecryptFinal": lambda: lib.C_DecryptFinal(h, buf, n),
        "C_Digest": lambda: lib.C_Digest(h, b"x", 1, buf, n),
        "C_DigestUpdate": lambda: lib.C_DigestUpdate(h, b"x", 1),
        "C_DigestFinal": lambda: lib.C_DigestFinal(h, buf, n),
        "C_Sign": lambda: lib.C_Sign(h, b"x", 1, buf, n),
        "C_SignUpdate": lambda: lib.C_SignUpdate(h, b"x", 1),
        "C_SignFinal": lambda: lib.C_SignFinal(h, buf, n),
        "C_Verify": lambda: lib.C_Verify(h, b"x", 1, b"y", 1),
        "C_VerifyFinal": lambda: lib.C_VerifyFinal(h, b"y", 1),
        "C_FindObjects": lambda: lib.C_FindObjects(
            h, ffi.new("CK_OBJECT_HANDLE[]", 1), 1, n),
        "C_FindObjectsFinal": lambda: lib.C_FindObjectsFinal(h),
        "C_SignMessage": lambda: lib.C_SignMessage(h, NULL, 0, b"x", 1,
                                                   buf, n),
        "C_MessageDecryptFinal": lambda: lib.C_MessageDecryptFinal(h),
    }
    got = {k: name(f()) for k, f in calls.items()}
    assert got == dict.fromkeys(calls, "OPERATION_NOT_INITIALIZED")


def test_errors_end_operations_but_buffer_too_small_does_not(sess) -> None:
    """5.2: a call that fails with anything but CKR_BUFFER_TOO_SMALL
    ends the active operation."""
    tok, h, key = sess
    lib = tok.lib
    ecb = tok.mechanism(CKM.AES_ECB)
    n = ffi.new("CK_ULONG *", 4)
    buf = ffi.new("CK_BYTE[]", 64)
    expect(lib.C_EncryptInit(h, ecb, key), "OK")
    expect(lib.C_Encrypt(h, bytes(32), 32, buf, n), "BUFFER_TOO_SMALL")
    assert n[0] == 32
    expect(lib.C_Encrypt(h, bytes(32), 32, buf, n), "OK")
    # ECB without padding: 15 bytes is DATA_LEN_RANGE and ends it.
    expect(lib.C_EncryptInit(h, ecb, key), "OK")
    n[0] = 64
    expect(lib.C_Encrypt(h, bytes(15), 15, buf, n), "DATA_LEN_RANGE")
    expect(lib.C_Encrypt(h, bytes(16), 16, buf, n),
           "OPERATION_NOT_INITIALIZED")
    # An invalid argument ends it too (NULL data with a length).
    expect(lib.C_DigestInit(h, tok.mechanism(CKM.SHA256)), "OK")
    expect(lib.C_Digest(h, NULL, 5, buf, n), "ARGUMENTS_BAD")
    expect(lib.C_DigestFinal(h, buf, n), "OPERATION_NOT_INITIALIZED")


def test_mechanism_info_uses_only_defined_bits(tok: Token) -> None:
    """3.5 CK_MECHANISM_INFO: flags are the defined CKF_ bits."""
    lib = tok.lib
    count = ffi.new("CK_ULONG *")
    expect(lib.C_GetMechanismList(0, NULL, count), "OK")
    mechs = ffi.new("CK_MECHANISM_TYPE[]", int(count[0]))
    expect(lib.C_GetMechanismList(0, mechs, count), "OK")
    info = ffi.new("CK_MECHANISM_INFO *")
    stray = {}
    for m in mechs:
        expect(lib.C_GetMechanismInfo(0, m, info), "OK")
        if int(info.flags) & ~DEFINED_MECH_FLAGS or not int(info.flags):
            stray[hex(m)] = hex(int(info.flags))
    assert stray == {}
    expect(lib.C_GetMechanismInfo(0, 0x7FFFFFF0, info), "MECHANISM_INVALID")
    expect(lib.C_GetMechanismInfo(999, CKM.SHA256, info), "SLOT_ID_INVALID")


def test_library_state_codes(mod, data_env) -> None:
    """5.4: C_Finalize(pReserved) ARGUMENTS_BAD, NOT_INITIALIZED before
    C_Initialize and after C_Finalize, ALREADY_INITIALIZED twice."""
    slot = ffi.new("CK_SLOT_ID *")
    h = ffi.new("CK_SESSION_HANDLE *")
    before = {
        "C_Finalize": mod.C_Finalize(NULL),
        "C_GetSlotList": mod.C_GetSlotList(0, NULL, ffi.new("CK_ULONG *")),
        "C_OpenSession": mod.C_OpenSession(0, CKF.SERIAL_SESSION, NULL,
                                           NULL, h),
        "C_CloseSession": mod.C_CloseSession(1),
        "C_WaitForSlotEvent": mod.C_WaitForSlotEvent(CKF.DONT_BLOCK, slot,
                                                     NULL),
        "C_SessionCancel": mod.C_SessionCancel(1, 0),
        "C_MessageEncryptFinal": mod.C_MessageEncryptFinal(1),
    }
    assert {k: name(v) for k, v in before.items()} == \
        dict.fromkeys(before, "CRYPTOKI_NOT_INITIALIZED")
    expect(mod.C_Initialize(NULL), "OK")
    try:
        expect(mod.C_Initialize(NULL), "CRYPTOKI_ALREADY_INITIALIZED")
        expect(mod.C_Finalize(ffi.cast("void *", 1)), "ARGUMENTS_BAD")
    finally:
        expect(mod.C_Finalize(NULL), "OK")
    expect(mod.C_Finalize(NULL), "CRYPTOKI_NOT_INITIALIZED")
    assert CKR.OK == 0
