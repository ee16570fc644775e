"""One call sequence, run unchanged on any PKCS#11 module through the
harness of tests/spec (function table from C_GetInterface or
C_GetFunctionList); every step's return code and a summary of its
output (lengths, verification results, deterministic bytes) is recorded
as ``(step, rv name, output)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from craton_hsm._generated_ck import (
    CK_UNAVAILABLE_INFORMATION,
    CKA,
    CKF,
    CKK,
    CKM,
    CKO,
    CKU,
)
from tests.abi.test_hostile import P256, SO_PIN, TRUE, USER_PIN, name, ulong
from tests.spec.harness import NULL, Module, ffi

LABEL = b"diff".ljust(32)
Step = tuple[str, str, object]


@dataclass
class Run:
    mod: Module
    log: list[Step] = field(default_factory=list)
    keep: list[Any] = field(default_factory=list)

    def rec(self, step: str, rv: int, out: object = None) -> str:
        self.log.append((step, name(rv), out))
        return name(rv)

    def tmpl(self, *pairs: tuple[int, bytes]) -> Any:
        arr = ffi.new("CK_ATTRIBUTE[]", max(1, len(pairs)))
        for i, (t, v) in enumerate(pairs):
            buf = ffi.new("char[]", v)
            self.keep.append(buf)
            arr[i].type, arr[i].pValue, arr[i].ulValueLen = t, buf, len(v)
        return arr

    def mech(self, m: int, param: bytes = b"") -> Any:
        p = ffi.new("CK_MECHANISM *")
        buf = ffi.new("char[]", param) if param else NULL
        self.keep.append(buf)
        p.mechanism, p.pParameter, p.ulParameterLen = m, buf, len(param)
        return p


def _slots(r: Run, present: bool) -> list[int]:
    n = ffi.new("CK_ULONG *")
    r.mod.C_GetSlotList(present, NULL, n)
    arr = ffi.new("CK_SLOT_ID[]", max(1, int(n[0])))
    r.mod.C_GetSlotList(present, arr, n)
    return [int(arr[i]) for i in range(int(n[0]))]


def _token_flags(r: Run, slot: int) -> int:
    info = ffi.new("CK_TOKEN_INFO *")
    r.mod.C_GetTokenInfo(slot, info)
    return int(info.flags)


def _free_slot(r: Run) -> int:
    return next(s for s in _slots(r, True)
                if not _token_flags(r, s) & CKF.TOKEN_INITIALIZED)


def _our_slot(r: Run) -> int:
    # SoftHSMv2 moves an initialised token to a new slot ID: find it by
    # label.
    info = ffi.new("CK_TOKEN_INFO *")
    for s in _slots(r, True):
        r.mod.C_GetTokenInfo(s, info)
        if bytes(info.label) == LABEL:
            return s
    raise AssertionError("initialised token not found")


def run(mod: Module) -> list[Step]:
    r = Run(mod)
    lib = mod
    r.rec("C_Initialize", lib.C_Initialize(NULL))
    try:
        _scenario(r, lib)
    finally:
        r.rec("C_Finalize", lib.C_Finalize(NULL))
    return r.log


def _login(r: Run, h: int, step: str, user: int, pin: bytes) -> str:
    return r.rec(step, r.mod.C_Login(h, user, pin, len(pin)))


def _scenario(r: Run, lib: Module) -> None:
    slot = _free_slot(r)
    r.rec("C_InitToken", lib.C_InitToken(slot, SO_PIN, len(SO_PIN), LABEL))
    slot = _our_slot(r)
    ph = ffi.new("CK_SESSION_HANDLE *")
    r.rec("C_OpenSession read-only then InitPIN",
          lib.C_OpenSession(slot, CKF.SERIAL_SESSION, NULL, NULL, ph))
    r.rec("C_OpenSession without CKF_SERIAL_SESSION",
          lib.C_OpenSession(slot, 0, NULL, NULL, ffi.new(
              "CK_SESSION_HANDLE *")))
    r.rec("C_CloseSession", lib.C_CloseSession(ph[0]))
    r.rec("C_OpenSession RW", lib.C_OpenSession(
        slot, CKF.SERIAL_SESSION | CKF.RW_SESSION, NULL, NULL, ph))
    h = int(ph[0])
    _login(r, h, "C_Login user before C_InitPIN", CKU.USER, USER_PIN)
    _login(r, h, "C_Login SO", CKU.SO, SO_PIN)
    r.rec("C_InitPIN", lib.C_InitPIN(h, USER_PIN, len(USER_PIN)))
    r.rec("C_Logout", lib.C_Logout(h))
    r.rec("C_Logout again", lib.C_Logout(h))
    _login(r, h, "C_Login wrong PIN", CKU.USER, b"9999")
    _login(r, h, "C_Login user", CKU.USER, USER_PIN)
    _login(r, h, "C_Login user again", CKU.USER, USER_PIN)
    _login(r, h, "C_Login SO while user", CKU.SO, SO_PIN)
    _sign_verify(r, lib, h)
    _secret(r, lib, h)
    _objects(r, lib, h)
    _digest(r, lib, h)
    r.rec("C_Logout end", lib.C_Logout(h))
    r.rec("C_Logout end again", lib.C_Logout(h))
    r.rec("C_CloseSession end", lib.C_CloseSession(h))
    r.rec("C_CloseSession twice", lib.C_CloseSession(h))


def _sign_verify(r: Run, lib: Module, h: int) -> None:
    pub = r.tmpl((CKA.EC_PARAMS, P256), (CKA.VERIFY, TRUE),
                 (CKA.TOKEN, TRUE))
    priv = r.tmpl((CKA.SIGN, TRUE), (CKA.SENSITIVE, TRUE),
                  (CKA.TOKEN, TRUE), (CKA.PRIVATE, TRUE))
    hp, hk = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
    r.rec("C_GenerateKeyPair EC P-256", lib.C_GenerateKeyPair(
        h, r.mech(CKM.EC_KEY_PAIR_GEN), pub, 3, priv, 4, hp, hk))
    data = bytes(32)
    n = ffi.new("CK_ULONG *")
    r.rec("C_SignInit ECDSA", lib.C_SignInit(h, r.mech(CKM.ECDSA), hk[0]))
    r.rec("C_Sign length query", lib.C_Sign(h, data, 32, NULL, n),
          int(n[0]))
    sig = ffi.new("CK_BYTE[]", 64)
    n[0] = 10
    r.rec("C_Sign buffer too small", lib.C_Sign(h, data, 32, sig, n),
          int(n[0]))
    n[0] = 64
    r.rec("C_Sign", lib.C_Sign(h, data, 32, sig, n), int(n[0]))
    r.rec("C_Sign after the operation ended",
          lib.C_Sign(h, data, 32, sig, n))
    value = bytes(sig)
    r.rec("C_VerifyInit", lib.C_VerifyInit(h, r.mech(CKM.ECDSA), hp[0]))
    r.rec("C_Verify", lib.C_Verify(h, data, 32, value, 64))
    r.rec("C_VerifyInit again", lib.C_VerifyInit(h, r.mech(CKM.ECDSA),
                                                 hp[0]))
    bad = bytes([value[0] ^ 1]) + value[1:]
    r.rec("C_Verify flipped", lib.C_Verify(h, data, 32, bad, 64))
    r.rec("C_SignInit with the public key",
          lib.C_SignInit(h, r.mech(CKM.ECDSA), hp[0]))
    r.rec("C_SignInit bad key handle",
          lib.C_SignInit(h, r.mech(CKM.ECDSA), 0xBEEF))
    r.rec("C_SignInit ECDSA_SHA256 (hashed)",
          lib.C_SignInit(h, r.mech(CKM.ECDSA_SHA256), hk[0]))
    n[0] = 64
    r.rec("C_Sign ECDSA_SHA256", lib.C_Sign(h, b"abc", 3, sig, n))


def _secret(r: Run, lib: Module, h: int) -> None:
    k = ffi.new("CK_OBJECT_HANDLE *")
    t = r.tmpl((CKA.VALUE_LEN, ulong(32)), (CKA.ENCRYPT, TRUE),
               (CKA.DECRYPT, TRUE), (CKA.SENSITIVE, TRUE))
    r.rec("C_GenerateKey AES-256", lib.C_GenerateKey(
        h, r.mech(CKM.AES_KEY_GEN), t, 4, k))
    attr = ffi.new("CK_ATTRIBUTE[]", 2)
    buf = ffi.new("CK_BYTE[]", 64)
    attr[0].type, attr[0].pValue, attr[0].ulValueLen = CKA.VALUE, buf, 64
    attr[1].type, attr[1].pValue, attr[1].ulValueLen = CKA.VALUE_LEN, \
        ffi.new("CK_ULONG *"), ffi.sizeof("CK_ULONG")
    rv = lib.C_GetAttributeValue(h, k[0], attr, 2)
    r.rec("C_GetAttributeValue sensitive CKA_VALUE", rv,
          (int(attr[0].ulValueLen) == CK_UNAVAILABLE_INFORMATION,
           int(attr[1].ulValueLen)))
    iv = bytes(16)
    msg = b"fifteen bytes.."
    n = ffi.new("CK_ULONG *", 64)
    out = ffi.new("CK_BYTE[]", 64)
    r.rec("C_EncryptInit AES_CBC_PAD", lib.C_EncryptInit(
        h, r.mech(CKM.AES_CBC_PAD, iv), k[0]))
    r.rec("C_Encrypt", lib.C_Encrypt(h, msg, len(msg), out, n), int(n[0]))
    ct = bytes(ffi.buffer(out, int(n[0])))
    r.rec("C_DecryptInit", lib.C_DecryptInit(
        h, r.mech(CKM.AES_CBC_PAD, iv), k[0]))
    n[0] = 64
    rv = lib.C_Decrypt(h, ct, len(ct), out, n)
    r.rec("C_Decrypt", rv, bytes(ffi.buffer(out, int(n[0]))) == msg)
    r.rec("C_EncryptInit AES_ECB", lib.C_EncryptInit(
        h, r.mech(CKM.AES_ECB), k[0]))
    n[0] = 64
    r.rec("C_Encrypt ECB 15 bytes", lib.C_Encrypt(h, msg, 15, out, n))
    r.rec("C_Encrypt after the error", lib.C_Encrypt(h, msg, 15, out, n))
    r.rec("C_EncryptInit AES_CBC short IV", lib.C_EncryptInit(
        h, r.mech(CKM.AES_CBC, bytes(8)), k[0]))


def _objects(r: Run, lib: Module, h: int) -> None:
    t = r.tmpl((CKA.CLASS, ulong(CKO.PRIVATE_KEY)),
               (CKA.KEY_TYPE, ulong(CKK.EC)))
    found = ffi.new("CK_OBJECT_HANDLE[]", 8)
    n = ffi.new("CK_ULONG *")
    r.rec("C_FindObjectsInit EC private", lib.C_FindObjectsInit(h, t, 2))
    r.rec("C_FindObjectsInit twice", lib.C_FindObjectsInit(h, t, 2))
    r.rec("C_FindObjects", lib.C_FindObjects(h, found, 8, n), int(n[0]))
    r.rec("C_FindObjectsFinal", lib.C_FindObjectsFinal(h))
    key = int(found[0])
    copy = ffi.new("CK_OBJECT_HANDLE *")
    r.rec("C_CopyObject empty template",
          lib.C_CopyObject(h, key, NULL, 0, copy))
    r.rec("C_DestroyObject copy", lib.C_DestroyObject(h, copy[0]))
    r.rec("C_DestroyObject copy again", lib.C_DestroyObject(h, copy[0]))
    r.rec("C_GetAttributeValue destroyed", lib.C_GetAttributeValue(
        h, copy[0], r.tmpl((CKA.CLASS, ulong(0))), 1))
    d = ffi.new("CK_OBJECT_HANDLE *")
    data = r.tmpl((CKA.CLASS, ulong(CKO.DATA)), (CKA.VALUE, b"hello"),
                  (CKA.TOKEN, TRUE))
    r.rec("C_CreateObject data", lib.C_CreateObject(h, data, 3, d))
    r.rec("C_SetAttributeValue CKA_CLASS", lib.C_SetAttributeValue(
        h, d[0], r.tmpl((CKA.CLASS, ulong(CKO.SECRET_KEY))), 1))
    r.rec("C_DestroyObject data", lib.C_DestroyObject(h, d[0]))


def _digest(r: Run, lib: Module, h: int) -> None:
    n = ffi.new("CK_ULONG *", 32)
    out = ffi.new("CK_BYTE[]", 32)
    r.rec("C_DigestInit SHA256", lib.C_DigestInit(h, r.mech(CKM.SHA256)))
    r.rec("C_Digest", lib.C_Digest(h, b"abc", 3, out, n),
          bytes(out).hex()[:16])
    r.rec("C_DigestUpdate without init", lib.C_DigestUpdate(h, b"x", 1))
