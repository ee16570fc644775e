"""ML-DSA through build/libcraton_hsm.so in cffi ABI mode (the v3.0
function list carries C_Sign/C_Verify with CKM_ML_DSA): mechanism info,
C_GenerateKeyPair with CKA_PARAMETER_SET, CK_SIGN_ADDITIONAL_CONTEXT,
signatures checked by pyca/cryptography, an ACVP KAT key imported by
seed, Wycheproof verify cases, and the error codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import mldsa

from craton_hsm._generated_ck import CKA, CKF, CKH, CKK, CKM, CKO, CKP
from tests.abi.conftest import libpath  # noqa: F401  (fixture)
from tests.abi.test_hostile import (  # noqa: F401  (fixtures)
    NULL,
    TRUE,
    Token,
    expect,
    ffi,
    lib,
    name,
    ulong,
)
from tests.mechanisms.test_pqc_mldsa import acvp
from tests.mechanisms.test_so_vectors import call_out
from tests.mechanisms.vectors import SHARED


@pytest.fixture
def tk(lib: Any, data_env: Path) -> Iterator[Token]:  # noqa: F811
    """An initialised module over this test's own data dir."""
    expect(lib.C_Initialize(NULL), "OK")
    try:
        yield Token(lib)
    finally:
        expect(lib.C_Finalize(NULL), "OK")


def ctx_mech(tk: Token, context: bytes | None,
             hedge: int = CKH.HEDGE_PREFERRED) -> Any:
    m = ffi.new("CK_MECHANISM *")
    tk._keep.append(m)
    m.mechanism = CKM.ML_DSA
    if context is None:
        m.pParameter, m.ulParameterLen = NULL, 0
        return m
    p = ffi.new("CK_SIGN_ADDITIONAL_CONTEXT *")
    buf = ffi.new("CK_BYTE[]", context) if context else NULL
    tk._keep += [p, buf]
    p.hedgeVariant, p.pContext, p.ulContextLen = hedge, buf, len(context)
    m.pParameter = p
    m.ulParameterLen = ffi.sizeof("CK_SIGN_ADDITIONAL_CONTEXT")
    return m


def create(tk: Token, h: int, *attrs: tuple[int, bytes]) -> tuple[str, int]:
    out = ffi.new("CK_OBJECT_HANDLE *")
    rv = tk.lib.C_CreateObject(h, tk.template(*attrs), len(attrs), out)
    return name(rv), int(out[0])


def get(tk: Token, h: int, obj: int, t: int) -> tuple[str, bytes]:
    a = ffi.new("CK_ATTRIBUTE *")
    a.type, a.pValue = t, NULL
    rv = name(tk.lib.C_GetAttributeValue(h, obj, a, 1))
    if rv != "OK":
        return rv, b""
    buf = ffi.new("CK_BYTE[]", int(a.ulValueLen))
    a.pValue = buf
    expect(tk.lib.C_GetAttributeValue(h, obj, a, 1), "OK")
    return "OK", bytes(ffi.buffer(buf, int(a.ulValueLen)))


def sign(tk: Token, h: int, m: Any, key: int, data: bytes) -> bytes:
    expect(tk.lib.C_SignInit(h, m, key), "OK")
    rv, out = call_out(tk.lib.C_Sign, h, data, len(data))
    assert rv == "OK"
    return out


def verify(tk: Token, h: int, m: Any, key: int, data: bytes,
           sig: bytes) -> str:
    expect(tk.lib.C_VerifyInit(h, m, key), "OK")
    return name(tk.lib.C_Verify(h, data, len(data), sig, len(sig)))


def public(tk: Token, h: int, pset: int, raw: bytes) -> int:
    rv, obj = create(tk, h, (CKA.CLASS, ulong(CKO.PUBLIC_KEY)),
                     (CKA.KEY_TYPE, ulong(CKK.ML_DSA)),
                     (CKA.PARAMETER_SET, ulong(pset)), (CKA.VALUE, raw),
                     (CKA.VERIFY, TRUE))
    assert rv == "OK"
    return obj


def test_mechanism_info(tk: Token) -> None:
    tk.init_token()
    info = ffi.new("CK_MECHANISM_INFO *")
    expect(tk.lib.C_GetMechanismInfo(0, CKM.ML_DSA, info), "OK")
    assert (info.ulMinKeySize, info.ulMaxKeySize, info.flags) == (
        CKP.ML_DSA_44, CKP.ML_DSA_87, CKF.SIGN | CKF.VERIFY)
    expect(tk.lib.C_GetMechanismInfo(0, CKM.ML_DSA_KEY_PAIR_GEN, info),
           "OK")
    assert info.flags == CKF.GENERATE_KEY_PAIR
    expect(tk.lib.C_GetMechanismInfo(0, CKM.HASH_ML_DSA, info),
           "MECHANISM_INVALID")


def test_generate_sign_verify_with_context(tk: Token) -> None:
    h = tk.ready()
    hp, hk = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
    pub = tk.template((CKA.PARAMETER_SET, ulong(CKP.ML_DSA_65)),
                       (CKA.VERIFY, TRUE))
    priv = tk.template((CKA.SIGN, TRUE), (CKA.SENSITIVE, TRUE))
    expect(tk.lib.C_GenerateKeyPair(
        h, tk.mechanism(CKM.ML_DSA_KEY_PAIR_GEN), pub, 2, priv, 2, hp, hk),
        "OK")
    rv, raw = get(tk, h, hp[0], CKA.VALUE)
    assert rv == "OK" and len(raw) == 1952
    assert get(tk, h, hk[0], CKA.PARAMETER_SET) == ("OK",
                                                     ulong(CKP.ML_DSA_65))
    assert get(tk, h, hk[0], CKA.SEED)[0] == "ATTRIBUTE_SENSITIVE"
    theirs = mldsa.MLDSA65PublicKey.from_public_bytes(raw)
    sig = sign(tk, h, ctx_mech(tk, b"ctx-1"), hk[0], b"hello")
    assert len(sig) == 3309
    theirs.verify(sig, b"hello", b"ctx-1")
    assert verify(tk, h, ctx_mech(tk, b"ctx-1"), hp[0], b"hello",
                  sig) == "OK"
    assert verify(tk, h, ctx_mech(tk, None), hp[0], b"hello",
                  sig) == "SIGNATURE_INVALID"
    sig = sign(tk, h, ctx_mech(tk, None), hk[0], b"")
    theirs.verify(sig, b"")
    # Errors: context too long, deterministic demanded, bad parameter set.
    expect(tk.lib.C_SignInit(h, ctx_mech(tk, b"x" * 256), hk[0]),
           "MECHANISM_PARAM_INVALID")
    expect(tk.lib.C_SignInit(
        h, ctx_mech(tk, b"", CKH.DETERMINISTIC_REQUIRED), hk[0]),
        "MECHANISM_PARAM_INVALID")
    bad = tk.template((CKA.PARAMETER_SET, ulong(9)))
    expect(tk.lib.C_GenerateKeyPair(
        h, tk.mechanism(CKM.ML_DSA_KEY_PAIR_GEN), bad, 1, priv, 2, hp, hk),
        "ATTRIBUTE_VALUE_INVALID")
    expect(tk.lib.C_GenerateKeyPair(
        h, tk.mechanism(CKM.ML_DSA_KEY_PAIR_GEN), pub + 1, 1, priv, 2, hp,
        hk), "TEMPLATE_INCOMPLETE")


def test_acvp_key_imported_by_seed(tk: Token) -> None:
    """An ACVP FIPS 204 KAT: the KAT signature verifies under the imported
    public key and a signature made from the imported seed verifies under
    the KAT public key (pyca)."""
    h = tk.ready()
    rec = acvp(44)[3].values[1]
    pk, xi = bytes.fromhex(rec["pk"]), bytes.fromhex(rec["xi"])
    msg, context = bytes.fromhex(rec["msg"]), bytes.fromhex(rec["ctx"])
    hp = public(tk, h, CKP.ML_DSA_44, pk)
    sm = bytes.fromhex(rec["sm"])
    assert verify(tk, h, ctx_mech(tk, context), hp, msg,
                  sm[:2420]) == "OK"
    base = ((CKA.CLASS, ulong(CKO.PRIVATE_KEY)),
            (CKA.KEY_TYPE, ulong(CKK.ML_DSA)),
            (CKA.PARAMETER_SET, ulong(CKP.ML_DSA_44)), (CKA.SIGN, TRUE))
    rv, hk = create(tk, h, *base, (CKA.SEED, xi))
    assert rv == "OK"
    ours = sign(tk, h, ctx_mech(tk, context), hk, msg)
    mldsa.MLDSA44PublicKey.from_public_bytes(pk).verify(ours, msg, context)
    # The expanded private key is not accepted; the seed is required.
    assert create(tk, h, *base, (CKA.SEED, xi),
                  (CKA.VALUE, bytes.fromhex(rec["sk"])))[0] == "TEMPLATE_INCONSISTENT"
    assert create(tk, h, *base)[0] == "TEMPLATE_INCOMPLETE"


def test_wycheproof_verify_valid_and_invalid(tk: Token) -> None:
    h = tk.ready()
    doc = json.loads((SHARED / "wycheproof" / "mldsa_44_verify_test.json")
                     .read_text())
    seen: dict[str, int] = {}
    for g in doc["testGroups"]:
        raw = bytes.fromhex(g["publicKey"])
        if len(raw) != 1312:
            continue
        hp = public(tk, h, CKP.ML_DSA_44, raw)
        for t in g["tests"]:
            if "InvalidContext" in t["flags"]:
                continue
            msg, sig = bytes.fromhex(t["msg"]), bytes.fromhex(t["sig"])
            m = ctx_mech(tk, bytes.fromhex(t["ctx"]) if "ctx" in t
                         else None)
            rv = verify(tk, h, m, hp, msg, sig)
            if t["result"] == "valid":
                assert rv == "OK", t["tcId"]
            elif "IncorrectSignatureLength" in t["flags"]:
                assert rv == "SIGNATURE_LEN_RANGE", t["tcId"]
            else:
                assert rv == "SIGNATURE_INVALID", t["tcId"]
            seen[t["result"]] = seen.get(t["result"], 0) + 1
    assert seen["valid"] > 50 and seen["invalid"] > 50


