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

from dataclasses import dataclass
from typing import Any

from craton_hsm._generated_ck import CKA, CKF, CKK, CKM, CKP
from craton_hsm.backend import pqc as backend
from craton_hsm.errors import EncryptedDataLenRange
from craton_hsm.mechanisms.checks import (
    no_params,
)
from craton_hsm.mechanisms.parameter_sets import ParameterSets
from craton_hsm.mechanisms.registry import KeyLike, MechSpec, Op

KEY_TYPES = frozenset({CKK.ML_KEM})
SETS = ParameterSets("ML-KEM", {
    CKP.ML_KEM_768: "ML-KEM-768",
    CKP.ML_KEM_1024: "ML-KEM-1024",
}, KEY_TYPES)
# CK_MECHANISM_INFO sizes: the CKP_ML_KEM_* parameter sets offered.
KEY_SIZES = (int(CKP.ML_KEM_768), int(CKP.ML_KEM_1024))
SECRET_LEN = backend.KEM_SECRET_LEN


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
    name, pub = SETS.loaded(key, "mlkem_pub", CKA.VALUE,
                            backend.load_kem_public)
    return Encapsulator(backend.ciphertext_size(name), pub)


def _decapsulate(key: KeyLike | None, params: object) -> Decapsulator:
    no_params(params)
    name, priv = SETS.loaded(key, "mlkem_priv", CKA.SEED,
                             backend.load_kem_private)
    return Decapsulator(backend.ciphertext_size(name), priv)


_keygen = SETS.key_pair_factory(backend.KEM_SEED_LEN,
                                backend.public_from_seed_kem)


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
