"""Known-answer tests of ML-DSA (FIPS 204) and ML-KEM (FIPS 203):
key generation from the seed compared with the vector's public key, a
verify KAT (ML-DSA signing here is hedged, so its output cannot be a
known answer) or a decapsulation KAT, and a sign/verify or
encapsulate/decapsulate round trip through the module's mechanisms."""

from __future__ import annotations

from typing import Any

from craton_hsm._generated_ck import CKA, CKK, CKM, CKP
from craton_hsm.backend import pqc
from craton_hsm.mechanisms.registry import Op
from craton_hsm.selftest.common import (
    KatKey,
    check,
    equal,
    hexes,
    known_input,
    op,
)

Vec = dict[str, Any]
MESSAGE = b"Craton HSM power-on self-test"

DSA = {"kat-ml-dsa-44": (CKP.ML_DSA_44, "ML-DSA-44"),
       "kat-ml-dsa-65": (CKP.ML_DSA_65, "ML-DSA-65"),
       "kat-ml-dsa-87": (CKP.ML_DSA_87, "ML-DSA-87")}
KEM = {"kat-ml-kem-768": (CKP.ML_KEM_768, "ML-KEM-768"),
       "kat-ml-kem-1024": (CKP.ML_KEM_1024, "ML-KEM-1024")}


def _key(key_type: int, pset: int, attr: int, value: bytes) -> KatKey:
    return KatKey({CKA.KEY_TYPE: key_type, CKA.PARAMETER_SET: pset,
                   attr: value})


def ml_dsa(name: str, v: Vec) -> None:
    seed, pub, msg, sig = hexes(v, "seed", "pub", "msg", "sig")
    pset, set_name = DSA[name]
    # The public key the module derives from a seed (C_CreateObject of a
    # seed-only private key and key generation use the same function).
    check(name, pqc.public_from_seed_dsa(set_name, seed), pub,
          "public key from seed")
    public = _key(CKK.ML_DSA, pset, CKA.VALUE, pub)
    op(CKM.ML_DSA, Op.VERIFY, public).verify(msg, known_input(name, sig))
    private = _key(CKK.ML_DSA, pset, CKA.SEED, seed)
    got = op(CKM.ML_DSA, Op.SIGN, private).sign(MESSAGE)
    op(CKM.ML_DSA, Op.VERIFY, public).verify(MESSAGE, got)


def ml_kem(name: str, v: Vec) -> None:
    seed, ek, c, k = hexes(v, "seed", "ek", "c", "k")
    pset, set_name = KEM[name]
    check(name, pqc.public_from_seed_kem(set_name, seed), ek,
          "encapsulation key from seed")
    private = _key(CKK.ML_KEM, pset, CKA.SEED, seed)
    decaps = op(CKM.ML_KEM, Op.DECAPSULATE, private)
    check(name, decaps.decapsulate(c), k, "decapsulated secret")
    public = _key(CKK.ML_KEM, pset, CKA.VALUE, ek)
    ct, secret = op(CKM.ML_KEM, Op.ENCAPSULATE, public).encapsulate()
    equal(decaps.decapsulate(ct), secret, "encapsulated secret")
