"""RSA key objects for the mechanisms (PKCS#11 v3.0 section 2.1.2-2.1.4,
"RSA public/private key objects"; CKM_RSA_PKCS_KEY_PAIR_GEN section
2.1.5).

Parsed backend keys are cached in ``key.cache`` so repeated operations
with one object skip the costly consistency checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm._generated_ck import CKA, CKK
from craton_hsm.backend import rsa as backend
from craton_hsm.errors import AttributeValueInvalid
from craton_hsm.mechanisms.checks import (
    attr_bytes,
    in_range,
    keyed,
    no_params,
    template_int,
)
from craton_hsm.mechanisms.registry import KeyLike

KEY_TYPES = frozenset({CKK.RSA})
GEN_BITS = (1024, 8192)
OP_BITS = (1024, 16384)
F4 = 65537
# Section 2.1.5: the exponent comes from the template.  Any odd e >= 3
# is honoured up to the backend's 32-bit limit; FIPS 186-5 section
# A.1.1 wants 2**16 < e < 2**256, which the FIPS gate must enforce.
MAX_EXPONENT_BITS = 32


def _check_exponent(e: int) -> None:
    if e < 3 or e % 2 == 0 or e.bit_length() > MAX_EXPONENT_BITS:
        raise AttributeValueInvalid(
            "CKA_PUBLIC_EXPONENT must be odd, >= 3 and < 2**32")


def _int(key: KeyLike, attr: int) -> int:
    return int.from_bytes(attr_bytes(key, attr), "big")


def _opt_int(key: KeyLike, attr: int) -> int | None:
    value = key.attrs.get(attr)
    return int.from_bytes(bytes(value), "big") if value else None


def private_key(key: KeyLike | None,
                validate: bool = True) -> backend.PrivateKey:
    """The parsed key, cached.  ``validate=False`` is for the self-test's
    constant keys only (craton_hsm/selftest): OpenSSL's RSA key check
    (primality of p and q) costs ~50 ms, more than the whole power-on
    budget, and a constant key was checked when its vector was made."""
    k = keyed(key, KEY_TYPES)
    cached = k.cache.get("rsa_priv")
    if cached is None:
        cached = backend.load_private(
            _int(k, CKA.MODULUS), _int(k, CKA.PUBLIC_EXPONENT),
            _int(k, CKA.PRIVATE_EXPONENT), _opt_int(k, CKA.PRIME_1),
            _opt_int(k, CKA.PRIME_2), validate=validate)
        k.cache["rsa_priv"] = cached
    in_range(cached.key_size, OP_BITS, "RSA modulus bits")
    return cached


def public_key(key: KeyLike | None) -> backend.PublicKey:
    k = keyed(key, KEY_TYPES)
    cached = k.cache.get("rsa_pub")
    if cached is None:
        cached = backend.load_public(_int(k, CKA.MODULUS),
                                     _int(k, CKA.PUBLIC_EXPONENT))
        k.cache["rsa_pub"] = cached
    in_range(cached.key_size, OP_BITS, "RSA modulus bits")
    return cached


def modulus_bytes(key: backend.PrivateKey | backend.PublicKey) -> int:
    return (key.key_size + 7) // 8


def _be(n: int) -> bytes:
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")


class RsaKeyPairGenerator:
    """Reads CKA_MODULUS_BITS and CKA_PUBLIC_EXPONENT from the public
    template, as section 2.1.5 specifies."""

    def generate(
        self, pub_template: Mapping[int, Any],
        priv_template: Mapping[int, Any],
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        bits = template_int(pub_template, CKA.MODULUS_BITS)
        in_range(bits, GEN_BITS, "CKA_MODULUS_BITS")
        raw_e = pub_template.get(CKA.PUBLIC_EXPONENT)
        e = int.from_bytes(bytes(raw_e), "big") if raw_e else F4
        _check_exponent(e)
        num = backend.generate(bits, e)
        pub: dict[int, Any] = {
            CKA.MODULUS: _be(num.n), CKA.PUBLIC_EXPONENT: _be(num.e)}
        priv = dict(pub)
        priv.update({
            CKA.PRIVATE_EXPONENT: _be(num.d), CKA.PRIME_1: _be(num.p),
            CKA.PRIME_2: _be(num.q), CKA.EXPONENT_1: _be(num.dmp1),
            CKA.EXPONENT_2: _be(num.dmq1), CKA.COEFFICIENT: _be(num.iqmp),
        })
        return pub, priv


def keypair_generator(key: KeyLike | None,
                      params: object) -> RsaKeyPairGenerator:
    no_params(params)
    return RsaKeyPairGenerator()
