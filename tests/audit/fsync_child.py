"""A PKCS#11 client for tests/audit/test_durability.py, run under
strace: ``python -m tests.audit.fsync_child <lib> <session|token> <n>``.

It initialises a token in CRATON_HSM_DATA_DIR, then ``n`` times makes,
changes and destroys objects of the given kind -- a generated AES key
(C_GenerateKey, C_SetAttributeValue, C_DestroyObject), an EC key pair
(C_GenerateKeyPair) and a data object (C_CreateObject, C_CopyObject),
each destroyed -- and finalises."""

from __future__ import annotations

import sys
from typing import Any

from craton_hsm._generated_ck import CKA, CKM, CKO
from tests.abi.test_hostile import (
    FALSE,
    NULL,
    P256,
    TRUE,
    Token,
    expect,
    ffi,
    ulong,
)


def handle() -> Any:
    return ffi.new("CK_OBJECT_HANDLE *")


def run(lib: Any, token: bytes, n: int) -> None:
    tk = Token(lib)
    expect(lib.C_Initialize(NULL), "OK")
    h = tk.ready()
    for _ in range(n):
        key = handle()
        expect(lib.C_GenerateKey(
            h, tk.mechanism(CKM.AES_KEY_GEN),
            tk.template((CKA.TOKEN, token), (CKA.VALUE_LEN, ulong(32))), 2,
            key), "OK")
        expect(lib.C_SetAttributeValue(
            h, key[0], tk.template((CKA.LABEL, b"renamed")), 1), "OK")
        pub, priv = handle(), handle()
        expect(lib.C_GenerateKeyPair(
            h, tk.mechanism(CKM.EC_KEY_PAIR_GEN),
            tk.template((CKA.TOKEN, token), (CKA.EC_PARAMS, P256)), 2,
            tk.template((CKA.TOKEN, token), (CKA.SIGN, TRUE)), 2, pub,
            priv), "OK")
        data, copy = handle(), handle()
        expect(lib.C_CreateObject(h, tk.template(
            (CKA.CLASS, ulong(CKO.DATA)), (CKA.TOKEN, token),
            (CKA.PRIVATE, FALSE), (CKA.VALUE, b"payload")), 4, data), "OK")
        expect(lib.C_CopyObject(h, data[0], tk.template(), 0, copy), "OK")
        for obj in (key, pub, priv, data, copy):
            expect(lib.C_DestroyObject(h, obj[0]), "OK")
    expect(lib.C_Finalize(NULL), "OK")


def main(argv: list[str]) -> None:
    lib = ffi.dlopen(argv[1])
    run(lib, TRUE if argv[2] == "token" else FALSE, int(argv[3]))


if __name__ == "__main__":
    main(sys.argv)
