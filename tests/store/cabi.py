"""C-ABI helpers for the store tests: the built .so through cffi (ABI mode).

Reuses the harness of tests/abi/test_hostile.py (same cdef, ``Token``
builder, ``expect`` by CKR name) and adds the few calls the tamper,
fault and at-rest tests need.  The module is dlopen'ed into the test
process, so it shares this interpreter: its ``craton_hsm`` logger is the
one pytest's ``caplog`` sees.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from abi.test_hostile import (
    FALSE,
    NULL,
    P256,
    SO_PIN,
    TRUE,
    USER_PIN,
    Token,
    expect,
    ffi,
    name,
    ulong,
)

from craton_hsm._generated_ck import CKA, CKK, CKM, CKO

__all__ = ["FALSE", "NULL", "SO_PIN", "TRUE", "USER_PIN", "Client",
           "Token", "db_rows", "expect", "ffi", "name", "ulong"]


class Client(Token):
    """``Token`` plus object, attribute and crypto helpers (rv first)."""

    def create(self, h: int, *pairs: tuple[int, bytes]) -> tuple[int, int]:
        out = ffi.new("CK_OBJECT_HANDLE *")
        rv = int(self.lib.C_CreateObject(h, self.template(*pairs),
                                         len(pairs), out))
        return rv, int(out[0])

    def aes_key(self, h: int, value: bytes, label: bytes = b"aes",
                sensitive: bool = True) -> tuple[int, int]:
        return self.create(
            h, (CKA.CLASS, ulong(CKO.SECRET_KEY)), (CKA.TOKEN, TRUE),
            (CKA.PRIVATE, TRUE), (CKA.KEY_TYPE, ulong(CKK.AES)),
            (CKA.SENSITIVE, TRUE if sensitive else FALSE),
            (CKA.ENCRYPT, TRUE), (CKA.DECRYPT, TRUE),
            (CKA.LABEL, label), (CKA.VALUE, value))

    def hmac_key(self, h: int, value: bytes, label: bytes = b"hmac",
                 sensitive: bool = False) -> tuple[int, int]:
        return self.create(
            h, (CKA.CLASS, ulong(CKO.SECRET_KEY)), (CKA.TOKEN, TRUE),
            (CKA.PRIVATE, TRUE), (CKA.KEY_TYPE, ulong(CKK.GENERIC_SECRET)),
            (CKA.SENSITIVE, TRUE if sensitive else FALSE),
            (CKA.EXTRACTABLE, TRUE), (CKA.SIGN, TRUE), (CKA.VERIFY, TRUE),
            (CKA.LABEL, label), (CKA.VALUE, value))

    def data(self, h: int, value: bytes, label: bytes = b"data",
             private: bool = True) -> tuple[int, int]:
        return self.create(
            h, (CKA.CLASS, ulong(CKO.DATA)), (CKA.TOKEN, TRUE),
            (CKA.PRIVATE, TRUE if private else FALSE), (CKA.LABEL, label),
            (CKA.VALUE, value))

    def token_ec_pair(self, h: int, label: bytes = b"ec") -> tuple[int, int]:
        """A P-256 token key pair: (public, private sensitive)."""
        pub = self.template((CKA.TOKEN, TRUE), (CKA.EC_PARAMS, P256),
                            (CKA.VERIFY, TRUE), (CKA.LABEL, label))
        priv = self.template((CKA.TOKEN, TRUE), (CKA.PRIVATE, TRUE),
                             (CKA.SIGN, TRUE), (CKA.SENSITIVE, TRUE),
                             (CKA.LABEL, label))
        hp, hk = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
        expect(self.lib.C_GenerateKeyPair(
            h, self.mechanism(CKM.EC_KEY_PAIR_GEN), pub, 4, priv, 5, hp,
            hk), "OK")
        return int(hp[0]), int(hk[0])

    def gen_aes(self, h: int, label: bytes = b"gen") -> tuple[int, int]:
        out = ffi.new("CK_OBJECT_HANDLE *")
        tmpl = self.template((CKA.TOKEN, TRUE), (CKA.VALUE_LEN, ulong(32)),
                             (CKA.ENCRYPT, TRUE), (CKA.LABEL, label))
        rv = int(self.lib.C_GenerateKey(h, self.mechanism(CKM.AES_KEY_GEN),
                                        tmpl, 4, out))
        return rv, int(out[0])

    def attr(self, h: int, obj: int, t: int) -> tuple[int, bytes]:
        a = ffi.new("CK_ATTRIBUTE *")
        a.type, a.pValue, a.ulValueLen = t, NULL, 0
        rv = int(self.lib.C_GetAttributeValue(h, obj, a, 1))
        if rv != 0:
            return rv, b""
        buf = ffi.new("char[]", max(1, int(a.ulValueLen)))
        a.pValue = buf
        rv = int(self.lib.C_GetAttributeValue(h, obj, a, 1))
        return rv, bytes(ffi.buffer(buf, int(a.ulValueLen)))

    def uid(self, h: int, obj: int) -> str:
        rv, raw = self.attr(h, obj, CKA.UNIQUE_ID)
        expect(rv, "OK")
        return raw.decode()

    def sign(self, h: int, key: int, mech: int,
             data: bytes = b"tamper test") -> tuple[int, bytes]:
        rv = int(self.lib.C_SignInit(h, self.mechanism(mech), key))
        if rv != 0:
            return rv, b""
        out = ffi.new("unsigned char[]", 512)
        n = ffi.new("CK_ULONG *", 512)
        rv = int(self.lib.C_Sign(h, data, len(data), out, n))
        return rv, bytes(ffi.buffer(out, n[0]))

    def encrypt(self, h: int, key: int,
                data: bytes = b"0123456789abcdef") -> tuple[int, bytes]:
        rv = int(self.lib.C_EncryptInit(h, self.mechanism(CKM.AES_ECB), key))
        if rv != 0:
            return rv, b""
        out = ffi.new("unsigned char[]", 64)
        n = ffi.new("CK_ULONG *", 64)
        rv = int(self.lib.C_Encrypt(h, data, len(data), out, n))
        return rv, bytes(ffi.buffer(out, n[0]))

    def count(self, h: int) -> int:
        """Objects C_FindObjects returns for an empty template."""
        expect(self.lib.C_FindObjectsInit(h, NULL, 0), "OK")
        buf = ffi.new("CK_OBJECT_HANDLE[]", 1024)
        n = ffi.new("CK_ULONG *")
        expect(self.lib.C_FindObjects(h, buf, 1024, n), "OK")
        expect(self.lib.C_FindObjectsFinal(h), "OK")
        return int(n[0])


def db_rows(path: Path) -> dict[str, tuple[bytes, bytes | None]]:
    """uid -> (attrs, secret) read straight from a slot file."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT uid, attrs, secret FROM objects")
        return {uid: (attrs, secret) for uid, attrs, secret in rows}
