"""ECDSA mechanisms (PKCS#11 v3.0 section 2.3): CKM_EC_KEY_PAIR_GEN,
CKM_ECDSA, CKM_ECDSA_SHA1..SHA512 and CKM_ECDSA_SHA3_224..512 over
P-224, P-256, P-384, P-521, secp256k1 and brainpoolP256r1/384r1/512r1.  Signatures are r || s, each the length of the group order
(section 2.3.1), not DER."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm import drbg
from craton_hsm._generated_ck import CKA, CKF, CKK, CKM
from craton_hsm.backend import ec as backend
from craton_hsm.errors import DataLenRange
from craton_hsm.mechanisms.checks import attr_bytes, keyed, no_params
from craton_hsm.mechanisms.ec_curves import (
    Curve,
    Family,
    curve_from_template,
    curve_of,
    unwrap_point,
    wrap_point,
)
from craton_hsm.mechanisms.registry import Factory, KeyLike, MechSpec, Op
from craton_hsm.mechanisms.signing import HashSign, HashVerify

KEY_TYPES = frozenset({CKK.EC})
KEY_BITS = (224, 521)   # field sizes: P-224 .. P-521
EC_FLAGS = CKF.EC_F_P | CKF.EC_NAMEDCURVE | CKF.EC_UNCOMPRESS


def _nonempty(m: bytes) -> None:
    if not m:
        raise DataLenRange("ECDSA needs a non-empty hash")


def private_key(key: KeyLike | None) -> tuple[Curve, backend.EcPrivateKey]:
    k = keyed(key, KEY_TYPES)
    cached = k.cache.get("ec_priv")
    if cached is None:
        curve = curve_of(k.attrs.get(CKA.EC_PARAMS), Family.WEIERSTRASS)
        scalar = int.from_bytes(attr_bytes(k, CKA.VALUE), "big")
        cached = (curve, backend.load_private(curve.name, scalar))
        k.cache["ec_priv"] = cached
    return cached


def public_key(key: KeyLike | None) -> tuple[Curve, backend.EcPublicKey]:
    k = keyed(key, KEY_TYPES)
    cached = k.cache.get("ec_pub")
    if cached is None:
        curve = curve_of(k.attrs.get(CKA.EC_PARAMS), Family.WEIERSTRASS)
        point = unwrap_point(curve, attr_bytes(k, CKA.EC_POINT))
        cached = (curve, backend.load_public(curve.name, point))
        k.cache["ec_pub"] = cached
    return cached


def _sign_factory(hash_name: str | None) -> Factory:
    def make(key: KeyLike | None, params: object) -> HashSign:
        no_params(params)
        curve, priv = private_key(key)

        def sign(digest: bytes) -> bytes:
            r, s = backend.sign_ecdsa(priv, digest)
            return r.to_bytes(curve.size, "big") + s.to_bytes(curve.size,
                                                              "big")
        return HashSign(2 * curve.size, hash_name, sign, _nonempty)
    return make


def _verify_factory(hash_name: str | None) -> Factory:
    def make(key: KeyLike | None, params: object) -> HashVerify:
        no_params(params)
        curve, pub = public_key(key)

        def verify(digest: bytes, sig: bytes) -> None:
            r = int.from_bytes(sig[:curve.size], "big")
            s = int.from_bytes(sig[curve.size:], "big")
            backend.verify_ecdsa(pub, r, s, digest)
        return HashVerify(2 * curve.size, hash_name, verify, _nonempty)
    return make


def private_scalar(n: int) -> int:
    """FIPS 186-5 A.2.2 (rejection sampling): N = len(n) bits from the
    DRBG as c, retried while c > n - 2; d = c + 1, uniform in [1, n-1]."""
    nbits = n.bit_length()
    nbytes = (nbits + 7) // 8
    while True:
        c = int.from_bytes(drbg.random_bytes(nbytes), "big") >> (
            8 * nbytes - nbits)
        if c <= n - 2:
            return c + 1


class EcKeyPairGenerator:
    """Reads CKA_EC_PARAMS from the public template (section 2.3.10).

    ``private_cache`` is what ``private_key`` would cache for the new
    private key: the backend key the public point was computed from, so
    the pair-wise test signs without deriving it again (issue 9)."""

    def __init__(self) -> None:
        self.private_cache: dict[str, Any] = {}

    def generate(
        self, pub_template: Mapping[int, Any],
        priv_template: Mapping[int, Any],
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        curve, params = curve_from_template(pub_template, Family.WEIERSTRASS)
        scalar = private_scalar(backend.ORDERS[curve.name])
        loaded = backend.load_private(curve.name, scalar)
        point = backend.encoded_point(loaded)
        self.private_cache = {"ec_priv": (curve, loaded)}
        pub: dict[int, Any] = {CKA.EC_PARAMS: params,
                               CKA.EC_POINT: wrap_point(point)}
        priv: dict[int, Any] = {
            CKA.EC_PARAMS: params,
            CKA.VALUE: scalar.to_bytes(curve.size, "big")}
        return pub, priv


def _keygen(key: KeyLike | None, params: object) -> EcKeyPairGenerator:
    no_params(params)
    return EcKeyPairGenerator()


def _row(mech: int, hash_name: str | None, approved: bool) -> MechSpec:
    multipart = frozenset({Op.SIGN, Op.VERIFY}) if hash_name else \
        frozenset()
    return MechSpec(mech, CKF.SIGN | CKF.VERIFY | EC_FLAGS,
                    key_size=KEY_BITS, key_types=KEY_TYPES,
                    approved=approved,
                    ops={Op.SIGN: _sign_factory(hash_name),
                         Op.VERIFY: _verify_factory(hash_name)},
                    multipart=multipart)


# SHA-1 is not approved for signature generation, only for legacy
# verification (SP 800-131A Rev.2 section 9): core/approved.py ONLY_FOR.
SPECS: tuple[MechSpec, ...] = (
    MechSpec(CKM.EC_KEY_PAIR_GEN, CKF.GENERATE_KEY_PAIR | EC_FLAGS,
             key_size=KEY_BITS, key_types=KEY_TYPES, approved=True,
             ops={Op.GENERATE_KEY_PAIR: _keygen}),
    _row(CKM.ECDSA, None, True),
    _row(CKM.ECDSA_SHA1, "sha1", True),
    _row(CKM.ECDSA_SHA224, "sha224", True),
    _row(CKM.ECDSA_SHA256, "sha256", True),
    _row(CKM.ECDSA_SHA384, "sha384", True),
    _row(CKM.ECDSA_SHA512, "sha512", True),
    # FIPS 186-5 section 6.4 allows the SHA-3 family (FIPS 202).
    _row(CKM.ECDSA_SHA3_224, "sha3_224", True),
    _row(CKM.ECDSA_SHA3_256, "sha3_256", True),
    _row(CKM.ECDSA_SHA3_384, "sha3_384", True),
    _row(CKM.ECDSA_SHA3_512, "sha3_512", True),
)
