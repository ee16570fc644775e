"""ML-DSA (PKCS#11 v3.2 CKM_ML_DSA_KEY_PAIR_GEN / CKM_ML_DSA) at the
mechanism level: generated keys interoperate with pyca/cryptography,
NIST ACVP deterministic KATs (cryptography-vectors) and Wycheproof
ML-DSA sign/verify files, context and parameter errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import mldsa

from craton_hsm._generated_ck import CKA, CKH, CKK, CKM, CKP, CKR
from craton_hsm.errors import (
    CKRError,
    KeyTypeInconsistent,
    MechanismParamInvalid,
    SignatureInvalid,
    SignatureLenRange,
    TemplateIncomplete,
)
from craton_hsm.mechanisms.params import SignAdditionalContext
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.mechanisms.conftest import FakeKey
from tests.mechanisms.coverage import vectors
from tests.mechanisms.vectors import PYCA, SHARED

SETS = {44: CKP.ML_DSA_44, 65: CKP.ML_DSA_65, 87: CKP.ML_DSA_87}
PYCA_PUB = {44: mldsa.MLDSA44PublicKey, 65: mldsa.MLDSA65PublicKey,
            87: mldsa.MLDSA87PublicKey}
PYCA_PRIV = {44: mldsa.MLDSA44PrivateKey, 65: mldsa.MLDSA65PrivateKey,
             87: mldsa.MLDSA87PrivateKey}


def keypair(level: int) -> tuple[FakeKey, FakeKey]:
    gen = REGISTRY[CKM.ML_DSA_KEY_PAIR_GEN].factory(
        Op.GENERATE_KEY_PAIR)(None, None)
    pub, priv = gen.generate({CKA.PARAMETER_SET: SETS[level]}, {})
    return (FakeKey({CKA.KEY_TYPE: CKK.ML_DSA, **pub}),
            FakeKey({CKA.KEY_TYPE: CKK.ML_DSA, **priv}))


def pub_key(level: int, raw: bytes) -> FakeKey:
    return FakeKey({CKA.KEY_TYPE: CKK.ML_DSA, CKA.PARAMETER_SET: SETS[level],
                    CKA.VALUE: raw})


def priv_key(level: int, seed: bytes) -> FakeKey:
    return FakeKey({CKA.KEY_TYPE: CKK.ML_DSA, CKA.PARAMETER_SET: SETS[level],
                    CKA.SEED: seed})


def ctx(context: bytes, hedge: int = CKH.HEDGE_PREFERRED) -> Any:
    return SignAdditionalContext(int(hedge), context)


def sign(key: FakeKey, msg: bytes, params: Any = None) -> bytes:
    op = REGISTRY[CKM.ML_DSA].factory(Op.SIGN)(key, params)
    return bytes(op.sign(msg))


def verify(key: FakeKey, msg: bytes, sig: bytes, params: Any = None) -> None:
    REGISTRY[CKM.ML_DSA].factory(Op.VERIFY)(key, params).verify(msg, sig)


@pytest.mark.parametrize("level", sorted(SETS))
def test_keygen_sign_interop_with_pyca(level: int) -> None:
    pub, priv = keypair(level)
    assert pub.attrs[CKA.PARAMETER_SET] == SETS[level]
    assert len(priv.attrs[CKA.SEED]) == 32
    assert CKA.VALUE not in priv.attrs
    # The public CKA_VALUE is the FIPS 204 encoding of the seed's key.
    expected = PYCA_PRIV[level].from_seed_bytes(priv.attrs[CKA.SEED])
    assert pub.attrs[CKA.VALUE] == expected.public_key().public_bytes_raw()
    theirs = PYCA_PUB[level].from_public_bytes(pub.attrs[CKA.VALUE])
    sig = sign(priv, b"message")
    theirs.verify(sig, b"message")
    sig = sign(priv, b"message", ctx(b"app-v1", CKH.HEDGE_REQUIRED))
    theirs.verify(sig, b"message", b"app-v1")
    # And the other way round: a pyca signature verifies here.
    verify(pub, b"m2", expected.sign(b"m2", b"c"), ctx(b"c"))
    with pytest.raises(SignatureInvalid):
        verify(pub, b"message", sig)          # context missing
    with pytest.raises(SignatureInvalid):
        verify(pub, b"message", sig, ctx(b"app-v2"))


def test_hedged_signatures_differ_and_empty_message_signs() -> None:
    pub, priv = keypair(44)
    a, b = sign(priv, b""), sign(priv, b"")
    assert a != b
    verify(pub, b"", a)
    verify(pub, b"", b)


def test_context_and_hedge_errors() -> None:
    pub, priv = keypair(44)
    with pytest.raises(MechanismParamInvalid):
        sign(priv, b"m", ctx(b"x" * 256))
    with pytest.raises(MechanismParamInvalid):
        verify(pub, b"m", b"\0" * 2420, ctx(b"x" * 256))
    # Signing is always hedged: a deterministic demand is refused.
    with pytest.raises(MechanismParamInvalid):
        sign(priv, b"m", ctx(b"", CKH.DETERMINISTIC_REQUIRED))
    with pytest.raises(MechanismParamInvalid):
        sign(priv, b"m", b"raw bytes")
    sig = sign(priv, b"m", ctx(b"y" * 255))
    verify(pub, b"m", sig, ctx(b"y" * 255))
    with pytest.raises(SignatureLenRange):
        verify(pub, b"m", sig[:-1], ctx(b"y" * 255))


def test_keygen_parameter_set_errors() -> None:
    gen = REGISTRY[CKM.ML_DSA_KEY_PAIR_GEN].factory(
        Op.GENERATE_KEY_PAIR)(None, None)
    with pytest.raises(TemplateIncomplete):
        gen.generate({}, {})
    with pytest.raises(CKRError) as err:
        gen.generate({CKA.PARAMETER_SET: 9}, {})
    assert err.value.rv == CKR.PARAMETER_SET_NOT_SUPPORTED
    with pytest.raises(MechanismParamInvalid):
        REGISTRY[CKM.ML_DSA_KEY_PAIR_GEN].factory(
            Op.GENERATE_KEY_PAIR)(None, b"x")


def test_wrong_key_type_and_missing_seed() -> None:
    with pytest.raises(KeyTypeInconsistent):
        sign(FakeKey({CKA.KEY_TYPE: CKK.EC, CKA.SEED: b"\0" * 32}), b"m")
    with pytest.raises(KeyTypeInconsistent):
        sign(FakeKey({CKA.KEY_TYPE: CKK.ML_DSA,
                      CKA.PARAMETER_SET: CKP.ML_DSA_44}), b"m")


def acvp(level: int) -> list[Any]:
    # Records are not blank-line separated: each starts at "count =".
    text = (PYCA / f"asymmetric/MLDSA/kat_MLDSA_{level}_det_pure.rsp"
            ).read_text()
    recs = []
    for line in text.splitlines():
        key, sep, value = line.partition(" = ")
        if not sep:
            continue
        if key == "count":
            recs.append({})
        recs[-1][key] = value.strip()
    assert len(recs) == 100
    return [pytest.param(level, r, id=f"mldsa{level}-{r['count']}")
            for r in recs[::10]]


@vectors(CKM.ML_DSA, CKM.ML_DSA_KEY_PAIR_GEN,
         source="NIST ACVP FIPS 204 det-pure KATs (cryptography-vectors)")
@pytest.mark.parametrize(
    ("level", "rec"), acvp(44) + acvp(65) + acvp(87))
def test_nist_acvp_keygen_and_verify(level: int, rec: dict[str, str]) -> None:
    """FIPS 204 KATs: the seed xi gives the KAT public key, the KAT's
    deterministic signature (sm = sig || msg) verifies with its context,
    and a signature made here from xi verifies under the KAT key."""
    pk = bytes.fromhex(rec["pk"])
    msg = bytes.fromhex(rec["msg"])
    context = bytes.fromhex(rec["ctx"])
    size = {44: 2420, 65: 3309, 87: 4627}[level]
    sm = bytes.fromhex(rec["sm"])
    assert sm[size:] == msg
    verify(pub_key(level, pk), msg, sm[:size], ctx(context))
    ours = sign(priv_key(level, bytes.fromhex(rec["xi"])), msg, ctx(context))
    PYCA_PUB[level].from_public_bytes(pk).verify(ours, msg, context)
    bad = bytearray(sm[:size])
    bad[0] ^= 1
    with pytest.raises(SignatureInvalid):
        verify(pub_key(level, pk), msg, bytes(bad), ctx(context))


def wycheproof(kind: str) -> list[Any]:
    out = []
    for level in sorted(SETS):
        path = SHARED / "wycheproof" / f"mldsa_{level}_{kind}_test.json"
        doc = json.loads(path.read_text())
        for g in doc["testGroups"]:
            for t in g["tests"]:
                # "Internal" cases sign an external mu: not expressible
                # through CKM_ML_DSA (no external-mu mechanism in v3.2).
                if "Internal" in t["flags"]:
                    continue
                out.append(pytest.param(level, g, t,
                                        id=f"{level}-tc{t['tcId']}"))
    return out


def _expect_invalid(t: dict[str, Any], fn: Any) -> None:
    flags = set(t["flags"])
    if "InvalidContext" in flags:
        with pytest.raises(MechanismParamInvalid):
            fn()
    elif flags & {"IncorrectPublicKeyLength", "IncorrectPrivateKeyLength"}:
        with pytest.raises(KeyTypeInconsistent):
            fn()
    elif "IncorrectSignatureLength" in flags:
        with pytest.raises(SignatureLenRange):
            fn()
    else:
        with pytest.raises(SignatureInvalid):
            fn()


@vectors(CKM.ML_DSA, source="Wycheproof mldsa_{44,65,87}_verify")
@pytest.mark.parametrize(("level", "group", "t"), wycheproof("verify"))
def test_wycheproof_verify(level: int, group: dict[str, Any],
                           t: dict[str, Any]) -> None:
    key = pub_key(level, bytes.fromhex(group["publicKey"]))
    msg, sig = bytes.fromhex(t["msg"]), bytes.fromhex(t["sig"])
    params = ctx(bytes.fromhex(t["ctx"])) if "ctx" in t else None
    if t["result"] == "valid":
        verify(key, msg, sig, params)
    else:
        _expect_invalid(t, lambda: verify(key, msg, sig, params))


@vectors(CKM.ML_DSA, CKM.ML_DSA_KEY_PAIR_GEN,
         source="Wycheproof mldsa_{44,65,87}_sign_seed")
@pytest.mark.parametrize(("level", "group", "t"), wycheproof("sign_seed"))
def test_wycheproof_sign_seed(level: int, group: dict[str, Any],
                              t: dict[str, Any]) -> None:
    """Signatures here are hedged, so the deterministic Wycheproof
    signature is not reproduced byte for byte; ours must verify under the
    group's public key, and Wycheproof's must verify here."""
    key = priv_key(level, bytes.fromhex(group["privateSeed"]))
    msg = bytes.fromhex(t["msg"])
    context = bytes.fromhex(t.get("ctx", ""))
    if t["result"] != "valid":
        _expect_invalid(t, lambda: sign(key, msg, ctx(context)))
        return
    pk = bytes.fromhex(group["publicKey"])
    ours = sign(key, msg, ctx(context))
    PYCA_PUB[level].from_public_bytes(pk).verify(ours, msg, context)
    verify(pub_key(level, pk), msg, bytes.fromhex(t["sig"]), ctx(context))
