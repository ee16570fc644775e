"""Keys named by CKA_PARAMETER_SET (PKCS#11 v3.2: ML-DSA, ML-KEM).

One family's parameter sets: the name of a set (or
CKR_PARAMETER_SET_NOT_SUPPORTED), the parsed backend key cached on the
key object, and the key-pair generator reading the set from the public
template (public CKA_VALUE, private CKA_SEED: the backend is seed-only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from craton_hsm import drbg
from craton_hsm._generated_ck import CKA, CKR
from craton_hsm.errors import CKRError
from craton_hsm.mechanisms.checks import (
    attr_bytes,
    keyed,
    no_params,
    template_int,
)
from craton_hsm.mechanisms.registry import KeyLike


@dataclass(frozen=True)
class ParameterSets:
    family: str                      # "ML-DSA", "ML-KEM"
    names: Mapping[int, str]         # CKP_* -> backend name
    key_types: frozenset[int]

    def name(self, value: Any) -> str:
        """The set's name; CKR_PARAMETER_SET_NOT_SUPPORTED if not
        offered here."""
        name = self.names.get(int(value)) if value is not None else None
        if name is None:
            raise CKRError(CKR.PARAMETER_SET_NOT_SUPPORTED,
                           f"{self.family} parameter set {value!r} "
                           "not supported")
        return name

    def loaded(self, key: KeyLike | None, slot: str, attr: int,
               load: Callable[[str, bytes], Any]) -> tuple[str, Any]:
        """(set name, backend key from ``attr``), cached in key.cache."""
        k = keyed(key, self.key_types)
        cached = k.cache.get(slot)
        if cached is None:
            name = self.name(k.attrs.get(CKA.PARAMETER_SET))
            cached = (name, load(name, attr_bytes(k, attr)))
            k.cache[slot] = cached
        return cached

    def key_pair_factory(
            self, seed_len: int, public_from_seed: Callable[[str, bytes], bytes]
    ) -> Callable[[KeyLike | None, object], KeyPairGenerator]:
        """Op.GENERATE_KEY_PAIR factory: a ``seed_len``-byte seed from the
        module's DRBG (FIPS 204 ML-DSA.KeyGen xi, FIPS 203 ML-KEM.KeyGen
        d || z), and the backend's ``public_from_seed(name, seed)``."""
        def make(key: KeyLike | None, params: object) -> KeyPairGenerator:
            no_params(params)
            return KeyPairGenerator(self, seed_len, public_from_seed)
        return make


class KeyPairGenerator:
    """Reads CKA_PARAMETER_SET from the public template."""

    def __init__(self, sets: ParameterSets, seed_len: int,
                 public_from_seed: Callable[[str, bytes], bytes]) -> None:
        self._sets = sets
        self._seed_len = seed_len
        self._public_from_seed = public_from_seed

    def generate(
        self, pub_template: Mapping[int, Any],
        priv_template: Mapping[int, Any],
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        pset = template_int(pub_template, CKA.PARAMETER_SET)
        name = self._sets.name(pset)
        seed = drbg.random_bytes(self._seed_len)
        pub = self._public_from_seed(name, seed)
        return ({CKA.PARAMETER_SET: pset, CKA.VALUE: pub},
                {CKA.PARAMETER_SET: pset, CKA.SEED: seed})
