"""HMAC and general-length HMAC against Wycheproof (SHA-1, SHA-2, SHA-3)
and the RFC 2202 / RFC 4231 files of cryptography-vectors."""

from __future__ import annotations

import hmac as stdlib_hmac
from typing import Any

import pytest

from craton_hsm._generated_ck import CKA, CKK, CKM
from craton_hsm.errors import (
    MechanismParamInvalid,
    SignatureInvalid,
    SignatureLenRange,
)
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.mechanisms.conftest import FakeKey
from tests.mechanisms.coverage import vectors
from tests.mechanisms.vectors import nist_records, unhex, wycheproof

# Wycheproof file stem -> (full-length mechanism, general-length mechanism)
FILES = {
    "sha1": (CKM.SHA_1_HMAC, CKM.SHA_1_HMAC_GENERAL),
    "sha224": (CKM.SHA224_HMAC, CKM.SHA224_HMAC_GENERAL),
    "sha256": (CKM.SHA256_HMAC, CKM.SHA256_HMAC_GENERAL),
    "sha384": (CKM.SHA384_HMAC, CKM.SHA384_HMAC_GENERAL),
    "sha512": (CKM.SHA512_HMAC, CKM.SHA512_HMAC_GENERAL),
    "sha3_224": (CKM.SHA3_224_HMAC, CKM.SHA3_224_HMAC_GENERAL),
    "sha3_256": (CKM.SHA3_256_HMAC, CKM.SHA3_256_HMAC_GENERAL),
    "sha3_384": (CKM.SHA3_384_HMAC, CKM.SHA3_384_HMAC_GENERAL),
    "sha3_512": (CKM.SHA3_512_HMAC, CKM.SHA3_512_HMAC_GENERAL),
}
CASES = [pytest.param(stem, *p.values, id=f"{stem}-{p.id}")
         for stem in FILES for p in wycheproof(f"hmac_{stem}_test.json")]


def key(value: bytes, kt: int = CKK.GENERIC_SECRET) -> FakeKey:
    return FakeKey({CKA.KEY_TYPE: kt, CKA.VALUE: value})


def ops(stem: str, tag_bytes: int, full: int) -> tuple[Any, Any, Any]:
    """(spec, params) for the tag length: the plain mechanism at full
    length, the *_GENERAL one with CK_MAC_GENERAL_PARAMS otherwise."""
    plain, general = FILES[stem]
    if tag_bytes == full:
        return REGISTRY[plain], None, plain
    return REGISTRY[general], tag_bytes, general


@vectors(CKM.SHA_1_HMAC, CKM.SHA224_HMAC, CKM.SHA256_HMAC, CKM.SHA384_HMAC, CKM.SHA512_HMAC, CKM.SHA3_224_HMAC, CKM.SHA3_256_HMAC, CKM.SHA3_384_HMAC, CKM.SHA3_512_HMAC, CKM.SHA_1_HMAC_GENERAL, CKM.SHA224_HMAC_GENERAL, CKM.SHA256_HMAC_GENERAL, CKM.SHA384_HMAC_GENERAL, CKM.SHA512_HMAC_GENERAL, CKM.SHA3_224_HMAC_GENERAL, CKM.SHA3_256_HMAC_GENERAL, CKM.SHA3_384_HMAC_GENERAL, CKM.SHA3_512_HMAC_GENERAL,
         source="Wycheproof hmac_*_test.json")
@pytest.mark.parametrize("stem,g,t", CASES)
def test_wycheproof_hmac(stem: str, g: dict[str, Any],
                         t: dict[str, Any]) -> None:
    k, msg, tag = unhex(t["key"]), unhex(t["msg"]), unhex(t["tag"])
    want = g["tagSize"] // 8
    full = REGISTRY[FILES[stem][0]].factory(Op.SIGN)(key(k), None).size
    spec, params, _ = ops(stem, want, full)
    verifier = spec.factory(Op.VERIFY)(key(k), params)
    if t["result"] == "valid":
        assert spec.factory(Op.SIGN)(key(k), params).sign(msg) == tag
        verifier.verify(msg, tag)
    else:
        # Wycheproof's invalid MACs keep the group's tag length.
        assert len(tag) == want
        with pytest.raises(SignatureInvalid):
            verifier.verify(msg, tag)


RFC_FILES = {
    "HMAC/rfc-2202-sha1.txt": CKM.SHA_1_HMAC,
    "HMAC/rfc-4231-sha224.txt": CKM.SHA224_HMAC,
    "HMAC/rfc-4231-sha256.txt": CKM.SHA256_HMAC,
    "HMAC/rfc-4231-sha384.txt": CKM.SHA384_HMAC,
    "HMAC/rfc-4231-sha512.txt": CKM.SHA512_HMAC,
}
RFC_CASES = [pytest.param(mech, r, id=f"{f.split('/')[1]}-{i}")
             for f, mech in RFC_FILES.items()
             for i, r in enumerate(nist_records(f))]


@pytest.mark.parametrize("mech,r", RFC_CASES)
def test_rfc_hmac(mech: int, r: dict[str, str]) -> None:
    # pyca's RFC 4231 files omit case 5 (the truncated one); truncation
    # is covered by the Wycheproof groups above.
    k, msg, tag = unhex(r["KEY"]), unhex(r["MSG"]), unhex(r["MD"])
    spec, params = REGISTRY[mech], None
    signer = spec.factory(Op.SIGN)(key(k), params)
    for i in range(0, len(msg), 7):
        signer.update(msg[i:i + 7])
    assert signer.final() == tag
    spec.factory(Op.VERIFY)(key(k), params).verify(msg, tag)


@vectors(CKM.SHA512_224_HMAC, CKM.SHA512_224_HMAC_GENERAL, CKM.SHA512_256_HMAC, CKM.SHA512_256_HMAC_GENERAL,
         source="RFC 2104 via Python hmac over CAVP-proven SHA-512/t (no public vector file)")
@pytest.mark.parametrize("mech,name,kt", [
    (CKM.SHA512_224_HMAC, "sha512_224", CKK.SHA512_224_HMAC),
    (CKM.SHA512_256_HMAC, "sha512_256", CKK.SHA512_256_HMAC),
])
def test_sha512_t_hmac(mech: int, name: str, kt: int) -> None:
    # No independent SHA-512/t HMAC vector file is in the shared set; the
    # hash itself is CAVP-checked in test_digest.py and HMAC is checked
    # here against the stdlib construction (RFC 2104 over hashlib).
    k, msg = b"\x0b" * 20, b"Hi There"
    ref = stdlib_hmac.new(k, msg, name).digest()
    signer = REGISTRY[mech].factory(Op.SIGN)(key(k, kt), None)
    assert signer.sign(msg) == ref
    general = REGISTRY[CKM[CKM(mech).name + "_GENERAL"]].factory(Op.SIGN)(
        key(k, kt), 10)
    assert general.sign(msg) == ref[:10]


def test_general_length_params() -> None:
    spec = REGISTRY[CKM.SHA256_HMAC_GENERAL]
    for bad in (None, 0, 33, b"\x10"):
        with pytest.raises(MechanismParamInvalid):
            spec.factory(Op.SIGN)(key(b"k" * 32), bad)
    verifier = spec.factory(Op.VERIFY)(key(b"k" * 32), 16)
    with pytest.raises(SignatureLenRange):
        verifier.verify(b"m", b"x" * 32)
    with pytest.raises(MechanismParamInvalid):
        REGISTRY[CKM.SHA256_HMAC].factory(Op.SIGN)(key(b"k" * 32), 16)


def test_four_byte_key_rfc4231_case2() -> None:
    tag = REGISTRY[CKM.SHA256_HMAC].factory(Op.SIGN)(
        key(b"Jefe"), None).sign(b"what do ya want for nothing?")
    assert tag.hex().startswith("5bdcc146bf60754e6a042426089575c7")
