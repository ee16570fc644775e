"""Digest mechanisms against hashlib (FIPS 180-4 / FIPS 202)."""

from __future__ import annotations

import hashlib

import pytest

from craton_hsm._generated_ck import CKM
from craton_hsm.errors import MechanismParamInvalid
from craton_hsm.mechanisms.hashnames import DIGEST_NAMES
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.mechanisms.coverage import vectors
from tests.mechanisms.vectors import nist_records, unhex

MECHS = sorted(DIGEST_NAMES)


@pytest.mark.parametrize("mech", MECHS, ids=lambda m: CKM(m).name)
def test_one_shot_and_multipart(mech: int) -> None:
    ref = hashlib.new(DIGEST_NAMES[mech], b"abc" * 100).digest()
    op = REGISTRY[mech].factory(Op.DIGEST)(None, None)
    assert op.size == len(ref)
    assert op.digest(b"abc" * 100) == ref
    op = REGISTRY[mech].factory(Op.DIGEST)(None, None)
    for _ in range(100):
        op.update(b"abc")
    assert op.final() == ref


def test_digest_key_feeds_value() -> None:
    op = REGISTRY[CKM.SHA256].factory(Op.DIGEST)(None, None)
    op.update(b"a")
    op.update_key(b"secret")
    assert op.final() == hashlib.sha256(b"asecret").digest()


def test_sha256_nist_abc() -> None:
    # FIPS 180-4 example "abc".
    op = REGISTRY[CKM.SHA256].factory(Op.DIGEST)(None, None)
    assert op.digest(b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_params_rejected() -> None:
    with pytest.raises(MechanismParamInvalid):
        REGISTRY[CKM.SHA256].factory(Op.DIGEST)(None, b"x")


# NIST CAVP SHAVS byte-oriented files from cryptography-vectors.
CAVP = {
    CKM.SHA_1: "SHA1/SHA1", CKM.SHA224: "SHA2/SHA224",
    CKM.SHA256: "SHA2/SHA256", CKM.SHA384: "SHA2/SHA384",
    CKM.SHA512: "SHA2/SHA512", CKM.SHA512_224: "SHA2/SHA512_224",
    CKM.SHA512_256: "SHA2/SHA512_256", CKM.SHA3_224: "SHA3/SHA3_224",
    CKM.SHA3_256: "SHA3/SHA3_256", CKM.SHA3_384: "SHA3/SHA3_384",
    CKM.SHA3_512: "SHA3/SHA3_512",
}
CAVP_CASES = [
    pytest.param(mech, r, id=f"{stem}{kind}-{r['LEN']}")
    for mech, stem in CAVP.items() for kind in ("ShortMsg", "LongMsg")
    for r in nist_records(f"hashes/{stem}{kind}.rsp")
]


@vectors(*CAVP, source="NIST CAVP SHAVS / SHA3VS byte-oriented")
@pytest.mark.parametrize("mech,r", CAVP_CASES)
def test_cavp_digests(mech: int, r: dict[str, str]) -> None:
    msg = unhex(r["MSG"])[: int(r["LEN"]) // 8]
    op = REGISTRY[mech].factory(Op.DIGEST)(None, None)
    assert op.digest(msg) == unhex(r["MD"])
