"""Secrets never leave through the other doors (issue 8): C_CopyObject,
C_SetAttributeValue, C_WrapKey (unextractable targets, weaker wrapping
keys), C_DeriveKey, C_GetOperationState and the audit trail.
Each test drives the built .so through the cffi ABI harness."""
# ruff: noqa: F811 - fixtures imported by name are parameters

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from craton_hsm._generated_ck import (
    CK_UNAVAILABLE_INFORMATION,
    CKA,
    CKK,
    CKM,
    CKO,
)
from tests.abi.test_hostile import (  # noqa: F401 - fixtures
    FALSE,
    NULL,
    TRUE,
    Token,
    expect,
    ffi,
    lib,
    name,
    tok,
    ulong,
)
from tests.secrets.keys import key_cases, leaked

AES256 = bytes(range(0x40, 0x60))


def create(tok: Token, h: int, *attrs: tuple[int, bytes]) -> int:
    out = ffi.new("CK_OBJECT_HANDLE *")
    expect(tok.lib.C_CreateObject(h, tok.template(*attrs), len(attrs), out),
           "OK")
    return int(out[0])


def aes(tok: Token, h: int, value: bytes, *extra: tuple[int, bytes]) -> int:
    return create(tok, h, (CKA.CLASS, ulong(CKO.SECRET_KEY)),
                  (CKA.KEY_TYPE, ulong(CKK.AES)), (CKA.VALUE, value), *extra)


def get(tok: Token, h: int, obj: int, t: int) -> tuple[str, int, bytes]:
    a = ffi.new("CK_ATTRIBUTE *")
    buf = ffi.new("CK_BYTE[]", 4096)
    a.type, a.pValue, a.ulValueLen = t, buf, 4096
    rv = name(tok.lib.C_GetAttributeValue(h, obj, a, 1))
    n = int(a.ulValueLen)
    return rv, n, bytes(ffi.buffer(buf, n)) if rv == "OK" else b""


def sensitive_value(tok: Token, h: int, obj: int) -> None:
    assert get(tok, h, obj, CKA.VALUE)[:2] == ("ATTRIBUTE_SENSITIVE",
                                               CK_UNAVAILABLE_INFORMATION)


def wrap(tok: Token, h: int, mech: Any, wrapping: int, key: int
         ) -> tuple[str, bytes]:
    n = ffi.new("CK_ULONG *", 8192)
    buf = ffi.new("CK_BYTE[]", 8192)
    rv = name(tok.lib.C_WrapKey(h, mech, wrapping, key, buf, n))
    return rv, bytes(ffi.buffer(buf, int(n[0]))) if rv == "OK" else b""


def test_copy_and_set_cannot_lift_protection(tok: Token) -> None:
    """Spec 4.9/4.10 fn 11, 12: CKA_SENSITIVE only to true, EXTRACTABLE
    only to false -- in C_SetAttributeValue and in the C_CopyObject
    template alike (CKR_ATTRIBUTE_READ_ONLY); a plain copy keeps both."""
    lib, h = tok.lib, tok.ready()
    out = ffi.new("CK_OBJECT_HANDLE *")
    for case in key_cases():
        for sens, ext in ((True, True), (False, False), (True, False)):
            tmpl = case.template(sens, ext)
            key = create(tok, h, *tmpl)
            lift = ([(CKA.SENSITIVE, FALSE)] if sens else []) + \
                ([] if ext else [(CKA.EXTRACTABLE, TRUE)])
            for change in lift:
                where = (case.name, sens, ext, hex(change[0]))
                assert name(lib.C_CopyObject(h, key, tok.template(change), 1,
                                             out)) == "ATTRIBUTE_READ_ONLY", \
                    where
                assert name(lib.C_SetAttributeValue(
                    h, key, tok.template(change), 1)) == \
                    "ATTRIBUTE_READ_ONLY", where
            expect(lib.C_CopyObject(h, key, NULL, 0, out), "OK")
            copy = int(out[0])
            for k in (key, copy):
                for t in (CKA.SENSITIVE, CKA.EXTRACTABLE):
                    rv, _, raw = get(tok, h, k, t)
                    assert rv == "OK"
                    want = sens if t == CKA.SENSITIVE else ext
                    assert raw == (TRUE if want else FALSE), case.name
                secret_attr = next(t for t, _ in case.attrs
                                   if t in (CKA.VALUE, CKA.SEED,
                                            CKA.PRIVATE_EXPONENT))
                assert get(tok, h, k, secret_attr)[:2] == (
                    "ATTRIBUTE_SENSITIVE", CK_UNAVAILABLE_INFORMATION)


def test_wrap_refuses_unextractable_and_weak_wrapping_keys(
        tok: Token) -> None:
    h = tok.ready()
    kw = tok.mechanism(CKM.AES_KEY_WRAP_KWP)
    kek128 = aes(tok, h, bytes(16), (CKA.WRAP, TRUE))
    kek256 = aes(tok, h, bytes(range(32)), (CKA.WRAP, TRUE))
    locked = aes(tok, h, AES256, (CKA.EXTRACTABLE, FALSE))
    strong = aes(tok, h, AES256, (CKA.EXTRACTABLE, TRUE))
    readable = aes(tok, h, AES256, (CKA.EXTRACTABLE, TRUE),
                   (CKA.SENSITIVE, FALSE))
    # Spec 5.18.5: an unextractable key is never wrapped.
    assert wrap(tok, h, kw, kek256, locked)[0] == "KEY_UNEXTRACTABLE"
    # Policy (dispatch/wrap.py _wrap_policy): a sensitive AES-256 key is
    # not wrapped under 128 bits ...
    assert wrap(tok, h, kw, kek128, strong)[0] == "WRAPPING_KEY_SIZE_RANGE"
    cbc = tok.mechanism(CKM.AES_CBC_PAD, bytes(16))
    assert wrap(tok, h, cbc, kek128, strong)[0] == "WRAPPING_KEY_SIZE_RANGE"
    # Allowed: an equally strong wrap-only key; the blob is not the key.
    rv, blob = wrap(tok, h, kw, kek256, strong)
    assert rv == "OK" and not leaked(blob, (AES256,))
    # A key that is readable anyway may be wrapped under anything.
    assert wrap(tok, h, kw, kek128, readable)[0] == "OK"


def test_wrap_strength_of_asymmetric_targets(tok: Token) -> None:
    """Sensitive private keys under an AES-128 key: P-256 (128 bits) and
    RSA-2048 (112) pass, ML-KEM-768 (192) is refused."""
    h = tok.ready()
    kw = tok.mechanism(CKM.AES_KEY_WRAP_KWP)
    kek128 = aes(tok, h, bytes(16), (CKA.WRAP, TRUE))
    cases = {c.name: c for c in key_cases()}
    for key_name, want in (("ec-p256", "OK"), ("rsa-2048", "OK"),
                           ("ml-kem-768", "WRAPPING_KEY_SIZE_RANGE")):
        case = cases[key_name]
        key = create(tok, h, *case.template(True, True))
        rv, blob = wrap(tok, h, kw, kek128, key)
        assert rv == want, key_name
        assert not leaked(blob, case.secrets)


def _derive(tok: Token, h: int, base: int, mech: Any) -> tuple[str, int]:
    out = ffi.new("CK_OBJECT_HANDLE *")
    t = tok.template((CKA.CLASS, ulong(CKO.SECRET_KEY)),
                     (CKA.KEY_TYPE, ulong(CKK.GENERIC_SECRET)),
                     (CKA.VALUE_LEN, ulong(16)), (CKA.SENSITIVE, FALSE),
                     (CKA.EXTRACTABLE, TRUE))
    rv = name(tok.lib.C_DeriveKey(h, mech, base, t, 5, out))
    return rv, int(out[0])


def _string(tok: Token, mech: int, data: bytes) -> Any:
    p = ffi.new("CK_KEY_DERIVATION_STRING_DATA *")
    buf = ffi.new("CK_BYTE[]", data)
    tok._keep.append(buf)
    p.pData, p.ulLen = buf, len(data)
    tok._keep.append(p)
    m = ffi.new("CK_MECHANISM *")
    m.mechanism, m.pParameter = mech, p
    m.ulParameterLen = ffi.sizeof("CK_KEY_DERIVATION_STRING_DATA")
    return m


def test_derive_from_sensitive_base_stays_sensitive(tok: Token) -> None:
    """Current Mechanisms 2.43 (simple derivations): a sensitive base
    makes a sensitive derived key whatever the template asks, and an
    unextractable base an unextractable one; otherwise
    CKM_EXTRACT_KEY_FROM_KEY or XOR with zeros would read the base out."""
    h = tok.ready()
    base = aes(tok, h, AES256, (CKA.DERIVE, TRUE), (CKA.EXTRACTABLE, TRUE))
    extract = tok.mechanism(CKM.EXTRACT_KEY_FROM_KEY, ulong(0))
    for mech in (extract,
                 _string(tok, CKM.XOR_BASE_AND_DATA, bytes(16)),
                 _string(tok, CKM.CONCATENATE_BASE_AND_DATA, b"x")):
        rv, key = _derive(tok, h, base, mech)
        assert rv == "OK"
        sensitive_value(tok, h, key)
        assert get(tok, h, key, CKA.SENSITIVE)[2] == TRUE
        # Imported base: never ALWAYS_SENSITIVE, so neither is the child.
        assert get(tok, h, key, CKA.ALWAYS_SENSITIVE)[2] == FALSE
    locked = aes(tok, h, AES256, (CKA.DERIVE, TRUE), (CKA.SENSITIVE, FALSE))
    rv, key = _derive(tok, h, locked, extract)
    assert rv == "OK"
    assert get(tok, h, key, CKA.EXTRACTABLE)[2] == FALSE
    sensitive_value(tok, h, key)


def test_operation_state_holds_no_key_bytes(tok: Token) -> None:
    """C_DigestKey over a sensitive key, then C_GetOperationState: the
    blob is an opaque reference (dispatch/state.py), never the key."""
    lib, h = tok.lib, tok.ready()
    key = aes(tok, h, AES256)
    expect(lib.C_DigestInit(h, tok.mechanism(CKM.SHA256)), "OK")
    expect(lib.C_DigestKey(h, key), "OK")
    n = ffi.new("CK_ULONG *")
    expect(lib.C_GetOperationState(h, NULL, n), "OK")
    buf = ffi.new("CK_BYTE[]", int(n[0]))
    expect(lib.C_GetOperationState(h, buf, n), "OK")
    assert not leaked(bytes(ffi.buffer(buf, int(n[0]))), (AES256,))
    # A keyed operation (HMAC, AES) cannot be saved at all.
    hmac_key = create(tok, h, (CKA.CLASS, ulong(CKO.SECRET_KEY)),
                      (CKA.KEY_TYPE, ulong(CKK.GENERIC_SECRET)),
                      (CKA.VALUE, AES256), (CKA.SIGN, TRUE))
    expect(lib.C_DigestFinal(h, NULL, n), "OK")
    out = ffi.new("CK_BYTE[]", int(n[0]))
    expect(lib.C_DigestFinal(h, out, n), "OK")
    expect(lib.C_SignInit(h, tok.mechanism(CKM.SHA256_HMAC), hmac_key), "OK")
    expect(lib.C_SignUpdate(h, b"data", 4), "OK")
    expect(lib.C_GetOperationState(h, NULL, n), "STATE_UNSAVEABLE")


def test_audit_trail_never_holds_material(tok: Token,
                                          data_env: Path) -> None:
    """Seed 004 invariant 2: after importing, copying, wrapping and
    deriving every key type, no audit file holds any of the material,
    raw, hex or base64."""
    lib, h = tok.lib, tok.ready()
    secrets: list[bytes] = []
    out = ffi.new("CK_OBJECT_HANDLE *")
    kek = aes(tok, h, bytes(range(32)), (CKA.WRAP, TRUE))
    for case in key_cases():
        secrets += case.secrets
        key = create(tok, h, *case.template(True, True))
        expect(lib.C_CopyObject(h, key, NULL, 0, out), "OK")
        wrap(tok, h, tok.mechanism(CKM.AES_KEY_WRAP_KWP), kek, key)
        expect(lib.C_DestroyObject(h, key), "OK")
    files = [p for p in (data_env / "audit").rglob("*") if p.is_file()]
    assert files
    text = b"".join(p.read_bytes() for p in files)
    assert not leaked(text, tuple(secrets))
    for s in secrets:
        assert base64.b64encode(s) not in text
        assert base64.urlsafe_b64encode(s).rstrip(b"=") not in text
