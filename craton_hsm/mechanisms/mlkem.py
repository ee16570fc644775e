"""ML-KEM (FIPS 203) with the PKCS#11 v3.2 standard codes:
CKM_ML_KEM_KEY_PAIR_GEN and CKM_ML_KEM for ML-KEM-768 and -1024.

Key objects: the public CKA_VALUE is the FIPS 203 encapsulation key; the
private key is held as CKA_SEED (the 64-byte d || z), as for ML-DSA the
backend never produces the expanded decapsulation key (core/schema.py).
ML-KEM-512 is not offered: CKR_PARAMETER_SET_NOT_SUPPORTED.

CKM_ML_KEM takes no parameter and serves C_EncapsulateKey (public key,
CKA_ENCAPSULATE) and C_DecapsulateKey (private key, CKA_DECAPSULATE);
both produce the 32-byte shared secret that dispatch/kem.py turns into a
new secret key object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from craton_hsm._generated_ck import CKA, CKF, CKK, CKM, CKP, CKR
from craton_hsm.backend import pqc as backend
from craton_hsm.errors import CKRError, EncryptedDataLenRange
from craton_hsm.mechanisms.checks import (
    attr_bytes,
    keyed,
    no_params,
    template_int,
)
from craton_hsm.mechanisms.registry import KeyLike, MechSpec, Op

KEY_TYPES = frozenset({CKK.ML_KEM})
SETS: dict[int, str] = {
    CKP.ML_KEM_768: "ML-KEM-768",
    CKP.ML_KEM_1024: "ML-KEM-1024",
}
# CK_MECHANISM_INFO sizes: the CKP_ML_KEM_* parameter sets offered.
KEY_SIZES = (int(CKP.ML_KEM_768), int(CKP.ML_KEM_1024))
SECRET_LEN = backend.KEM_SECRET_LEN


def set_name(value: Any) -> str:
    """The parameter set name; CKR_PARAMETER_SET_NOT_SUPPORTED if not
    offered here (ML-KEM-512 included)."""
    name = SETS.get(int(value)) if value is not None else None
    if name is None:
        raise CKRError(CKR.PARAMETER_SET_NOT_SUPPORTED,
                       f"ML-KEM parameter set {value!r} not supported")
    return name


@dataclass(frozen=True)
class Encapsulator:
    ciphertext_size: int
    key: Any

    def encapsulate(self) -> tuple[bytes, bytes]:
        """(ciphertext, shared secret)."""
        return backend.encapsulate(self.key)


@dataclass(frozen=True)
class Decapsulator:
    ciphertext_size: int
    key: Any

    def decapsulate(self, ciphertext: bytes) -> bytes:
        if len(ciphertext) != self.ciphertext_size:
            raise EncryptedDataLenRange(
                f"ML-KEM ciphertext is {self.ciphertext_size} bytes, "
                f"got {len(ciphertext)}")
        return backend.decapsulate(self.key, ciphertext)


def _encapsulate(key: KeyLike | None, params: object) -> Encapsulator:
    no_params(params)
    k = keyed(key, KEY_TYPES)
    cached = k.cache.get("mlkem_pub")
    if cached is None:
        name = set_name(k.attrs.get(CKA.PARAMETER_SET))
        cached = (name, backend.load_kem_public(name,
                                                attr_bytes(k, CKA.VALUE)))
        k.cache["mlkem_pub"] = cached
    name, pub = cached
    return Encapsulator(backend.ciphertext_size(name), pub)


def _decapsulate(key: KeyLike | None, params: object) -> Decapsulator:
    no_params(params)
    k = keyed(key, KEY_TYPES)
    cached = k.cache.get("mlkem_priv")
    if cached is None:
        name = set_name(k.attrs.get(CKA.PARAMETER_SET))
        cached = (name, backend.load_kem_private(name,
                                                 attr_bytes(k, CKA.SEED)))
        k.cache["mlkem_priv"] = cached
    name, priv = cached
    return Decapsulator(backend.ciphertext_size(name), priv)


class MlKemKeyPairGenerator:
    """Reads CKA_PARAMETER_SET from the public template."""

    def generate(
        self, pub_template: Mapping[int, Any],
        priv_template: Mapping[int, Any],
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        pset = template_int(pub_template, CKA.PARAMETER_SET)
        seed, pub = backend.generate_kem(set_name(pset))
        return ({CKA.PARAMETER_SET: pset, CKA.VALUE: pub},
                {CKA.PARAMETER_SET: pset, CKA.SEED: seed})


def _keygen(key: KeyLike | None, params: object) -> MlKemKeyPairGenerator:
    no_params(params)
    return MlKemKeyPairGenerator()


# FIPS 203 is an approved key-establishment standard.
SPECS: tuple[MechSpec, ...] = (
    MechSpec(CKM.ML_KEM_KEY_PAIR_GEN, CKF.GENERATE_KEY_PAIR,
             key_size=KEY_SIZES, key_types=KEY_TYPES, approved=True,
             ops={Op.GENERATE_KEY_PAIR: _keygen}),
    MechSpec(CKM.ML_KEM, CKF.ENCAPSULATE | CKF.DECAPSULATE,
             key_size=KEY_SIZES, key_types=KEY_TYPES, approved=True,
             ops={Op.ENCAPSULATE: _encapsulate,
                  Op.DECAPSULATE: _decapsulate}),
)
