"""ECDSA, ECDH and X25519/X448 mechanisms against vectors nobody here
wrote: NIST CAVP ECDSA SigVer (FIPS 186-3, cryptography-vectors),
RFC 7027 brainpool ECDH and RFC 7748 X25519/X448 (cryptography-vectors),
and Project Wycheproof ECDSA P1363 and X25519/X448 files
(the shared vector set, PROVENANCE.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asn1crypto import core
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from craton_hsm._generated_ck import CKA, CKD, CKK, CKM, CKO
from craton_hsm.errors import (
    MechanismParamInvalid,
    SignatureInvalid,
    SignatureLenRange,
)
from craton_hsm.mechanisms.params import Ecdh1Params
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.mechanisms.conftest import FakeKey
from tests.mechanisms.coverage import vectors
from tests.mechanisms.vectors import PYCA, SHARED, nist_records, unhex

OIDS = {"P-224": "1.3.132.0.33", "P-256": "1.2.840.10045.3.1.7",
        "P-384": "1.3.132.0.34", "P-521": "1.3.132.0.35",
        "secp256r1": "1.2.840.10045.3.1.7", "secp384r1": "1.3.132.0.34",
        "brainpoolP256r1": "1.3.36.3.3.2.8.1.1.7",
        "brainpoolP384r1": "1.3.36.3.3.2.8.1.1.11",
        "brainpoolP512r1": "1.3.36.3.3.2.8.1.1.13",
        "x25519": "1.3.101.110", "x448": "1.3.101.111"}
SIZES = {"P-224": 28, "P-256": 32, "P-384": 48, "P-521": 66}
ECDSA = {"SHA-1": CKM.ECDSA_SHA1, "SHA-224": CKM.ECDSA_SHA224,
         "SHA-256": CKM.ECDSA_SHA256, "SHA-384": CKM.ECDSA_SHA384,
         "SHA-512": CKM.ECDSA_SHA512}
GENERIC = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET}


def oid(curve: str) -> bytes:
    return bytes(core.ObjectIdentifier(OIDS[curve]).dump())


def run(mech: int, op: Op, key: FakeKey, params: Any = None) -> Any:
    return REGISTRY[mech].factory(op)(key, params)


def sigver_sections() -> dict[tuple[str, str], list[dict[str, str]]]:
    """FIPS 186-3 SigVer.rsp grouped by its [curve,hash] headers."""
    out: dict[tuple[str, str], list[dict[str, str]]] = {}
    path = PYCA / "asymmetric/ECDSA/FIPS_186-3/SigVer.rsp"
    section: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            curve, _, hname = line[1:-1].partition(",")
            section = out.setdefault((curve, hname), [])
        elif "=" in line:
            k, _, v = line.partition("=")
            cur[k.strip()] = v.strip()
            if k.strip() == "Result":
                section.append(cur)
                cur = {}
    return out


SIGVER = sigver_sections()
PRIME_SECTIONS = sorted(k for k in SIGVER if k[0] in SIZES)


@vectors(CKM.ECDSA_SHA1, CKM.ECDSA_SHA224, CKM.ECDSA_SHA256, CKM.ECDSA_SHA384, CKM.ECDSA_SHA512,
         source="NIST CAVP FIPS 186-3 SigVer")
@pytest.mark.parametrize("curve,hname", PRIME_SECTIONS,
                         ids=[f"{c}-{h}" for c, h in PRIME_SECTIONS])
def test_cavp_sigver(curve: str, hname: str) -> None:
    """P (pass) records verify, F (fail) records are SIGNATURE_INVALID."""
    size = SIZES[curve]
    records = SIGVER[(curve, hname)]
    assert len(records) == 15
    for r in records:
        point = b"\x04" + int(r["Qx"], 16).to_bytes(size, "big") + \
            int(r["Qy"], 16).to_bytes(size, "big")
        pub = FakeKey({CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: oid(curve),
                       CKA.EC_POINT: point})
        sig = int(r["R"], 16).to_bytes(size, "big") + \
            int(r["S"], 16).to_bytes(size, "big")
        op = run(ECDSA[hname], Op.VERIFY, pub)
        if r["Result"].startswith("P"):
            op.verify(unhex(r["Msg"]), sig)
        else:
            with pytest.raises(SignatureInvalid):
                op.verify(unhex(r["Msg"]), sig)


@pytest.mark.parametrize("mech,name", [
    (CKM.ECDSA_SHA512, "ecdsa_secp256r1_sha512_p1363_test.json"),
    (CKM.ECDSA_SHA384, "ecdsa_secp384r1_sha384_p1363_test.json"),
    (CKM.ECDSA_SHA512, "ecdsa_secp384r1_sha512_p1363_test.json"),
])
def test_wycheproof_ecdsa_p1363(mech: int, name: str) -> None:
    doc = json.loads((SHARED / "wycheproof" / name).read_text())
    n = 0
    for g in doc["testGroups"]:
        pk = g["publicKey"]
        pub = FakeKey({CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: oid(pk["curve"]),
                       CKA.EC_POINT: unhex(pk["uncompressed"])})
        for t in g["tests"]:
            msg, sig = unhex(t["msg"]), unhex(t["sig"])
            if t["result"] == "valid":
                run(mech, Op.VERIFY, pub).verify(msg, sig)
            elif t["result"] == "invalid":
                with pytest.raises((SignatureInvalid, SignatureLenRange)):
                    run(mech, Op.VERIFY, pub).verify(msg, sig)
            n += 1
    assert n > 250


def _ecdh(priv: FakeKey, peer: bytes, kdf: int = CKD.NULL,
          tmpl: dict[int, Any] | None = None) -> bytes:
    op = run(CKM.ECDH1_DERIVE, Op.DERIVE, priv, Ecdh1Params(kdf, b"", peer))
    return bytes(op.derive(tmpl or GENERIC)[CKA.VALUE])


@vectors(CKM.ECDH1_DERIVE,
         source="RFC 7027")
def test_rfc7027_brainpool_ecdh() -> None:
    records = nist_records("asymmetric/ECDH/brainpool.txt")
    assert {r["CURVE"] for r in records} == {
        "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1"}
    for r in records:
        size = len(r["X_QB"]) // 2
        priv = FakeKey({CKA.KEY_TYPE: CKK.EC,
                        CKA.EC_PARAMS: oid(r["CURVE"]),
                        CKA.VALUE: unhex(r["DA"])})
        peer = b"\x04" + unhex(r["X_QB"]) + unhex(r["Y_QB"])
        assert len(peer) == 1 + 2 * size
        assert _ecdh(priv, peer) == unhex(r["X_Z"])
        # The cofactor variant gives the same Z (cofactor 1).
        op = run(CKM.ECDH1_COFACTOR_DERIVE, Op.DERIVE, priv,
                 Ecdh1Params(CKD.NULL, b"", peer))
        assert op.derive(GENERIC)[CKA.VALUE] == unhex(r["X_Z"])


def _x_key(curve: str, private: bytes) -> FakeKey:
    return FakeKey({CKA.KEY_TYPE: CKK.EC_MONTGOMERY,
                    CKA.EC_PARAMS: oid(curve), CKA.VALUE: private})


@pytest.mark.parametrize("curve", ["x25519", "x448"])
def test_rfc7748_single_step(curve: str) -> None:
    stem = "X25519" if curve == "x25519" else "X448"
    records = [r for r in nist_records(f"asymmetric/{stem}/rfc7748.txt")
               if "INPUT_SCALAR" in r]
    assert records
    for r in records:
        key = _x_key(curve, unhex(r["INPUT_SCALAR"]))
        assert _ecdh(key, unhex(r["INPUT_U"])) == unhex(r["OUTPUT_U"])


@vectors(CKM.ECDH1_DERIVE,
         source="Wycheproof x25519/x448")
@pytest.mark.parametrize("curve", ["x25519", "x448"])
def test_wycheproof_xdh(curve: str) -> None:
    """Valid: Z matches.  Invalid (wrong-length public value) and the
    all-zero Z of small-order peers (RFC 7748 section 6.1 check) are
    CKR_MECHANISM_PARAM_INVALID.  Other "acceptable" cases (twist,
    non-canonical u) must, when accepted, give the listed Z."""
    doc = json.loads((SHARED / "wycheproof" / f"{curve}_test.json")
                     .read_text())
    counts = {"valid": 0, "invalid": 0, "zero": 0, "acceptable": 0}
    for g in doc["testGroups"]:
        for t in g["tests"]:
            key = _x_key(curve, unhex(t["private"]))
            peer, shared = unhex(t["public"]), unhex(t["shared"])
            zero = "ZeroSharedSecret" in t["flags"]
            if t["result"] == "invalid" or zero:
                with pytest.raises(MechanismParamInvalid):
                    _ecdh(key, peer)
                counts["zero" if zero else "invalid"] += 1
            else:
                assert _ecdh(key, peer) == shared, t["tcId"]
                counts[t["result"]] += 1
    assert counts["valid"] > 250 and counts["zero"] > 10
    if curve == "x448":
        assert counts["invalid"] == 12


def test_x25519_with_x963_kdf() -> None:
    """The KDF path is shared with the prime curves: SHA-256 X9.63 over
    the RFC 7748 section 6.1 shared secret."""
    alice = unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba5"
                  "1db92c2a")
    bob_pub = unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e1"
                    "46f882b4f")
    z = unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e"
              "161742")
    key = _x_key("x25519", alice)
    assert _ecdh(key, bob_pub) == z
    out = _ecdh(key, bob_pub, CKD.SHA256_KDF,
                {**GENERIC, CKA.VALUE_LEN: 48})
    assert out == X963KDF(hashes.SHA256(), 48, None).derive(z)
