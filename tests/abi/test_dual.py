"""Dual-function calls (PKCS#11 v3.0 section 5.14) through the C ABI:
the partner operation is fed exactly once even when the caller first
asks for the length and then offers a too-small buffer."""
# ruff: noqa: F811 - fixtures imported by name are parameters

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from craton_hsm._generated_ck import CKA, CKK, CKM, CKO
from tests.abi.test_hostile import (  # noqa: F401 - fixtures
    FALSE,
    NULL,
    TRUE,
    Token,
    expect,
    ffi,
    lib,
    tok,
    ulong,
)

KEY = bytes(range(32))
IV = bytes(16)
DATA = b"dual-function data, 41 bytes long......."


def _cbc(encrypt: bool) -> Any:
    c = Cipher(algorithms.AES(KEY), modes.CBC(IV))
    return c.encryptor() if encrypt else c.decryptor()


def _aes_key(tok: Token, h: int) -> int:
    t = tok.template((CKA.CLASS, ulong(CKO.SECRET_KEY)),
                     (CKA.KEY_TYPE, ulong(CKK.AES)), (CKA.VALUE, KEY),
                     (CKA.ENCRYPT, TRUE), (CKA.DECRYPT, TRUE),
                     (CKA.TOKEN, FALSE))
    out = ffi.new("CK_OBJECT_HANDLE *")
    expect(tok.lib.C_CreateObject(h, t, 6, out), "OK")
    return int(out[0])


def _update(fn: Any, h: int, data: bytes) -> bytes:
    n = ffi.new("CK_ULONG *")
    expect(fn(h, data, len(data), NULL, n), "OK")          # length query
    need = int(n[0])
    if need:
        n[0] = need - 1
        buf = ffi.new("CK_BYTE[]", need)
        expect(fn(h, data, len(data), buf, n), "BUFFER_TOO_SMALL")
    buf = ffi.new("CK_BYTE[]", max(need, 1))
    n[0] = need
    expect(fn(h, data, len(data), buf, n), "OK")
    return bytes(ffi.buffer(buf, int(n[0])))


def _final(fn: Any, h: int) -> bytes:
    buf, n = ffi.new("CK_BYTE[]", 64), ffi.new("CK_ULONG *", 64)
    expect(fn(h, buf, n), "OK")
    return bytes(ffi.buffer(buf, int(n[0])))


def test_digest_encrypt_then_decrypt_digest(tok: Token) -> None:
    h = tok.ready()
    key = _aes_key(tok, h)
    lib = tok.lib
    cbc = tok.mechanism(CKM.AES_CBC_PAD, IV)
    expect(lib.C_DigestInit(h, tok.mechanism(CKM.SHA256)), "OK")
    expect(lib.C_EncryptInit(h, cbc, key), "OK")
    ct = _update(lib.C_DigestEncryptUpdate, h, DATA)
    ct += _final(lib.C_EncryptFinal, h)
    digest = _final(lib.C_DigestFinal, h)
    padder = padding.PKCS7(128).padder()
    enc = _cbc(True)
    assert ct == enc.update(padder.update(DATA) + padder.finalize()) + \
        enc.finalize()
    assert digest == hashlib.sha256(DATA).digest()

    expect(lib.C_DecryptInit(h, cbc, key), "OK")
    expect(lib.C_DigestInit(h, tok.mechanism(CKM.SHA256)), "OK")
    pt = _update(lib.C_DecryptDigestUpdate, h, ct)
    pt += _final(lib.C_DecryptFinal, h)
    assert pt == DATA
    # The digest saw only what decrypt released before Final (the last
    # block stays buffered for padding removal), exactly once.
    released = DATA[:32]
    assert _final(lib.C_DigestFinal, h) == \
        hashlib.sha256(released).digest()


def test_dual_needs_both_operations(tok: Token) -> None:
    h = tok.ready()
    key = _aes_key(tok, h)
    lib = tok.lib
    expect(lib.C_EncryptInit(h, tok.mechanism(CKM.AES_CBC_PAD, IV), key),
           "OK")
    n = ffi.new("CK_ULONG *")
    expect(lib.C_DigestEncryptUpdate(h, DATA, len(DATA), NULL, n),
           "OPERATION_NOT_INITIALIZED")
