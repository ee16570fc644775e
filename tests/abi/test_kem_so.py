"""ML-KEM through build/libcraton_hsm.so in cffi ABI mode, reached the
way a v3.2 application does: C_GetInterface("PKCS 11", {3,2}) and the
C_EncapsulateKey / C_DecapsulateKey entries of that CK_FUNCTION_LIST_3_2.
Shared secrets are compared by reading the new keys' CKA_VALUE and
against pyca/cryptography."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import mlkem

from craton_hsm._generated_ck import CKA, CKF, CKK, CKM, CKO, CKP
from tests.abi.conftest import (
    function_names,
    libpath,  # noqa: F401  (fixture)
)
from tests.abi.test_hostile import (  # noqa: F401  (fixtures)
    FALSE,
    NULL,
    TRUE,
    Token,
    expect,
    ffi,
    lib,
    name,
    ulong,
)
from tests.abi.test_pqc_so import create, get

ENCAPSULATE = ("CK_RV(*)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE,"
               " CK_ATTRIBUTE *, CK_ULONG, CK_BYTE *, CK_ULONG *,"
               " CK_OBJECT_HANDLE *)")
DECAPSULATE = ("CK_RV(*)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE,"
               " CK_ATTRIBUTE *, CK_ULONG, CK_BYTE *, CK_ULONG,"
               " CK_OBJECT_HANDLE *)")


class Kem:
    """The two KEM entries of the v3.2 function list."""

    def __init__(self, tk: Token) -> None:
        self.tk = tk
        it = ffi.new("CK_INTERFACE **")
        version = ffi.new("CK_VERSION *", {"major": 3, "minor": 2})
        label = ffi.new("char[]", b"PKCS 11")
        expect(tk.lib.C_GetInterface(ffi.cast("CK_UTF8CHAR *", label),
                                     version, it, 0), "OK")
        have = ffi.cast("CK_VERSION *", it[0].pFunctionList)
        assert (have.major, have.minor) == (3, 2)
        # A CK_VERSION then pointers: laid out like an array of pointers.
        table = ffi.cast("void **", it[0].pFunctionList)
        names = function_names()
        assert len(names) == 104
        self.enc = ffi.cast(ENCAPSULATE,
                            table[1 + names.index("C_EncapsulateKey")])
        self.dec = ffi.cast(DECAPSULATE,
                            table[1 + names.index("C_DecapsulateKey")])

    def encapsulate(self, h: int, pub: int, *attrs: tuple[int, bytes],
                    cap: int | None = 4096) -> tuple[str, int, bytes, int]:
        """(rv, ciphertext length, ciphertext, new key handle or 0)."""
        n = ffi.new("CK_ULONG *", cap or 0)
        buf = ffi.new("CK_BYTE[]", cap) if cap else NULL
        hk = ffi.new("CK_OBJECT_HANDLE *")
        rv = name(self.enc(h, self.tk.mechanism(CKM.ML_KEM), pub,
                           self.tk.template(*attrs), len(attrs), buf, n,
                           hk))
        out = bytes(ffi.buffer(buf, int(n[0]))) if rv == "OK" and cap \
            else b""
        return rv, int(n[0]), out, int(hk[0])

    def decapsulate(self, h: int, priv: int, ct: bytes,
                    *attrs: tuple[int, bytes]) -> tuple[str, int]:
        hk = ffi.new("CK_OBJECT_HANDLE *")
        rv = name(self.dec(h, self.tk.mechanism(CKM.ML_KEM), priv,
                           self.tk.template(*attrs), len(attrs), ct,
                           len(ct), hk))
        return rv, int(hk[0])


@pytest.fixture
def tk(lib: Any, data_env: Path) -> Iterator[Token]:  # noqa: F811
    expect(lib.C_Initialize(NULL), "OK")
    try:
        yield Token(lib)
    finally:
        expect(lib.C_Finalize(NULL), "OK")


READABLE = ((CKA.SENSITIVE, FALSE), (CKA.EXTRACTABLE, TRUE))


def secret_keys(tk: Token, h: int) -> int:
    tmpl = tk.template((CKA.CLASS, ulong(CKO.SECRET_KEY)))
    expect(tk.lib.C_FindObjectsInit(h, tmpl, 1), "OK")
    found, n = ffi.new("CK_OBJECT_HANDLE[]", 64), ffi.new("CK_ULONG *")
    expect(tk.lib.C_FindObjects(h, found, 64, n), "OK")
    expect(tk.lib.C_FindObjectsFinal(h), "OK")
    return int(n[0])


def generate(tk: Token, h: int, pset: int) -> tuple[str, int, int]:
    hp, hk = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
    pub = tk.template((CKA.PARAMETER_SET, ulong(pset)),
                      (CKA.ENCAPSULATE, TRUE))
    priv = tk.template((CKA.DECAPSULATE, TRUE), (CKA.SENSITIVE, TRUE))
    rv = tk.lib.C_GenerateKeyPair(h, tk.mechanism(CKM.ML_KEM_KEY_PAIR_GEN),
                                  pub, 2, priv, 2, hp, hk)
    return name(rv), int(hp[0]), int(hk[0])


def test_mechanism_info_and_keygen(tk: Token) -> None:
    h = tk.ready()
    info = ffi.new("CK_MECHANISM_INFO *")
    expect(tk.lib.C_GetMechanismInfo(0, CKM.ML_KEM, info), "OK")
    assert (info.ulMinKeySize, info.ulMaxKeySize, info.flags) == (
        CKP.ML_KEM_768, CKP.ML_KEM_1024, CKF.ENCAPSULATE | CKF.DECAPSULATE)
    assert generate(tk, h, CKP.ML_KEM_512)[0] == \
        "PARAMETER_SET_NOT_SUPPORTED"
    rv, hp, hk = generate(tk, h, CKP.ML_KEM_1024)
    assert rv == "OK"
    assert len(get(tk, h, hp, CKA.VALUE)[1]) == 1568
    assert get(tk, h, hk, CKA.SEED)[0] == "ATTRIBUTE_SENSITIVE"


def test_encapsulate_decapsulate_same_secret(tk: Token) -> None:
    h = tk.ready()
    kem = Kem(tk)
    rv, hp, hk = generate(tk, h, CKP.ML_KEM_768)
    assert rv == "OK"
    # Length query and short buffer: the size, and no key is created.
    assert kem.encapsulate(h, hp, cap=None)[:2] == ("OK", 1088)
    assert kem.encapsulate(h, hp, cap=100)[:2] == ("BUFFER_TOO_SMALL", 1088)
    assert secret_keys(tk, h) == 0
    rv, n, ct, k1 = kem.encapsulate(h, hp, *READABLE)
    assert (rv, n) == ("OK", 1088) and k1 != 0
    rv, k2 = kem.decapsulate(h, hk, ct, *READABLE,
                             (CKA.KEY_TYPE, ulong(CKK.GENERIC_SECRET)))
    assert rv == "OK"
    s1, s2 = get(tk, h, k1, CKA.VALUE)[1], get(tk, h, k2, CKA.VALUE)[1]
    assert len(s1) == 32 and s1 == s2
    assert secret_keys(tk, h) == 2
    for k in (k1, k2):
        assert get(tk, h, k, CKA.KEY_TYPE)[1] == ulong(CKK.GENERIC_SECRET)
        assert get(tk, h, k, CKA.VALUE_LEN)[1] == ulong(32)
        for attr in (CKA.LOCAL, CKA.ALWAYS_SENSITIVE,
                     CKA.NEVER_EXTRACTABLE):
            assert get(tk, h, k, attr)[1] == FALSE, attr
    # A second encapsulation is a fresh secret.
    rv, _, ct2, k3 = kem.encapsulate(h, hp, *READABLE)
    assert rv == "OK" and ct2 != ct
    assert get(tk, h, k3, CKA.VALUE)[1] != s1


def test_interop_with_pyca_imported_keys(tk: Token) -> None:
    h = tk.ready()
    kem = Kem(tk)
    theirs = mlkem.MLKEM1024PrivateKey.generate()
    base = ((CKA.KEY_TYPE, ulong(CKK.ML_KEM)),
            (CKA.PARAMETER_SET, ulong(CKP.ML_KEM_1024)))
    rv, hp = create(tk, h, (CKA.CLASS, ulong(CKO.PUBLIC_KEY)), *base,
                    (CKA.VALUE, theirs.public_key().public_bytes_raw()),
                    (CKA.ENCAPSULATE, TRUE))
    assert rv == "OK"
    rv, hk = create(tk, h, (CKA.CLASS, ulong(CKO.PRIVATE_KEY)), *base,
                    (CKA.SEED, theirs.private_bytes_raw()),
                    (CKA.DECAPSULATE, TRUE))
    assert rv == "OK"
    aes = (CKA.KEY_TYPE, ulong(CKK.AES))
    rv, n, ct, k = kem.encapsulate(h, hp, *READABLE, aes)
    assert (rv, n) == ("OK", 1568)
    assert get(tk, h, k, CKA.VALUE)[1] == theirs.decapsulate(ct)
    secret, their_ct = theirs.public_key().encapsulate()
    rv, k = kem.decapsulate(h, hk, their_ct, *READABLE, aes)
    assert rv == "OK"
    assert get(tk, h, k, CKA.VALUE)[1] == secret
    # The key type came from the template: an AES-256 key.
    assert get(tk, h, k, CKA.KEY_TYPE)[1] == ulong(CKK.AES)


def test_errors_are_named(tk: Token) -> None:
    h = tk.ready()
    kem = Kem(tk)
    rv, hp, hk = generate(tk, h, CKP.ML_KEM_768)
    assert rv == "OK"
    rv, _, ct, _ = kem.encapsulate(h, hp)
    assert rv == "OK"
    assert kem.decapsulate(h, hk, ct[:-1])[0] == "ENCRYPTED_DATA_LEN_RANGE"
    assert kem.encapsulate(h, hk)[0] == "KEY_TYPE_INCONSISTENT"
    assert kem.decapsulate(h, hp, ct)[0] == "KEY_TYPE_INCONSISTENT"
    assert kem.encapsulate(h, hp, (CKA.CLASS, ulong(CKO.PUBLIC_KEY)))[0] \
        == "TEMPLATE_INCONSISTENT"
    # Longer than the 32-byte shared secret is inconsistent; shorter keys
    # take its leading bytes (see test_short_key_takes_leading_bytes).
    assert kem.encapsulate(h, hp, (CKA.VALUE_LEN, ulong(33)))[0] == \
        "TEMPLATE_INCONSISTENT"
    assert kem.encapsulate(h, 0xdead)[0] == "KEY_HANDLE_INVALID"
    # A key without CKA_ENCAPSULATE may not encapsulate.
    expect(tk.lib.C_SetAttributeValue(
        h, hp, tk.template((CKA.ENCAPSULATE, FALSE)), 1), "OK")
    assert kem.encapsulate(h, hp)[0] == "KEY_FUNCTION_NOT_PERMITTED"
    assert secret_keys(tk, h) == 1


def test_short_key_takes_leading_bytes(tk: Token) -> None:
    """An AES-128 key from ML-KEM: both sides take the same 16 leading
    bytes of the 32-byte shared secret (python-pkcs11's suite does this)."""
    h = tk.ready()
    kem = Kem(tk)
    rv, hp, hk = generate(tk, h, CKP.ML_KEM_768)
    assert rv == "OK"
    short = (CKA.VALUE_LEN, ulong(16))
    rv, _, ct, k1 = kem.encapsulate(h, hp, *READABLE, short)
    assert rv == "OK"
    rv, k2 = kem.decapsulate(h, hk, ct, *READABLE,
                             (CKA.KEY_TYPE, ulong(CKK.GENERIC_SECRET)))
    assert rv == "OK"
    rv, k3 = kem.decapsulate(h, hk, ct, *READABLE, short)
    assert rv == "OK"
    full = get(tk, h, k2, CKA.VALUE)[1]
    assert get(tk, h, k1, CKA.VALUE)[1] == full[:16]
    assert get(tk, h, k3, CKA.VALUE)[1] == full[:16]
