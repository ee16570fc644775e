"""CKM_ECDH1_DERIVE and CKM_ECDH1_COFACTOR_DERIVE with
CK_ECDH1_DERIVE_PARAMS (PKCS#11 v3.0 Current Mechanisms 2.3.16-17,
SP 800-56A rev. 3), on CKK_EC keys and on CKK_EC_MONTGOMERY keys
(X25519 / X448, RFC 7748), and CKM_EC_MONTGOMERY_KEY_PAIR_GEN (2.3.12).

The shared secret Z is fed to the KDF the caller names: CKD_NULL (Z
itself, leftmost bytes when a shorter key is asked for, no shared data
allowed) or the ANSI X9.63 KDF with SHA-1/2 and the caller's shared data.
The derived key's class, type and length come from the template.

Montgomery keys: CKA_VALUE is the raw private key and CKA_EC_POINT the
DER OCTET STRING of the raw u-coordinate (as for Edwards keys; a raw
value is accepted too); pPublicData is the peer's raw u-coordinate.  A
peer value of the wrong length or of small order (all-zero Z, RFC 7748
section 6.1) is CKR_MECHANISM_PARAM_INVALID: pPublicData is a field of
the mechanism parameter, and the base key's domain is fine.  The same
holds for a Weierstrass peer point that is malformed or not on the curve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from craton_hsm import drbg
from craton_hsm._generated_ck import CKA, CKD, CKF, CKK, CKM
from craton_hsm.backend import ec as ec_backend
from craton_hsm.backend import ecdh as backend
from craton_hsm.errors import (
    KeyTypeInconsistent,
    MechanismParamInvalid,
    TemplateIncomplete,
    TemplateInconsistent,
)
from craton_hsm.mechanisms.checks import (
    attr_bytes,
    keyed,
    no_params,
    params_of,
)
from craton_hsm.mechanisms.ec import EC_FLAGS, KEY_BITS, private_key
from craton_hsm.mechanisms.ec_curves import (
    Family,
    curve_from_template,
    curve_of,
    unwrap_point,
    wrap_point,
)
from craton_hsm.mechanisms.params import Ecdh1Params
from craton_hsm.mechanisms.registry import KeyLike, MechSpec, Op, ParamKind

KDF_HASH = {CKD.SHA1_KDF: "sha1", CKD.SHA224_KDF: "sha224",
            CKD.SHA256_KDF: "sha256", CKD.SHA384_KDF: "sha384",
            CKD.SHA512_KDF: "sha512"}
# Key types whose length is fixed by the type itself.
FIXED_LENGTH = {CKK.CHACHA20: 32}
KEY_TYPES = frozenset({CKK.EC, CKK.EC_MONTGOMERY})
# X25519 (255-bit field) .. X448 (448-bit field), the unit of 2.3.12.
MONTGOMERY_BITS = (255, 448)


def _montgomery_secret(key: KeyLike, public_data: bytes
                       ) -> Callable[[], bytes]:
    curve = curve_of(key.attrs.get(CKA.EC_PARAMS), Family.MONTGOMERY)
    cached = key.cache.get("x_priv")
    if cached is None:
        cached = backend.load_x_private(curve.name,
                                        attr_bytes(key, CKA.VALUE))
        key.cache["x_priv"] = cached
    priv = cached
    peer = unwrap_point(curve, public_data)
    if len(peer) != curve.size:
        raise MechanismParamInvalid("peer public value has wrong length")
    return lambda: backend.x_shared_secret(priv, peer)


def _weierstrass_secret(key: KeyLike, public_data: bytes
                        ) -> Callable[[], bytes]:
    curve, priv = private_key(key)
    try:
        peer = ec_backend.load_public(
            curve.name, unwrap_point(curve, public_data))
    except KeyTypeInconsistent:
        # A point off the curve (or malformed) is a bad pPublicData, a
        # field of the mechanism parameter; the base key is fine.
        raise MechanismParamInvalid("peer point is not on the curve") \
            from None
    return lambda: backend.shared_secret(priv, peer)


class EcdhDerive:
    def __init__(self, key: KeyLike, params: Ecdh1Params) -> None:
        if params.kdf != CKD.NULL and params.kdf not in KDF_HASH:
            raise MechanismParamInvalid("unsupported KDF")
        if params.kdf == CKD.NULL and params.shared_data:
            raise MechanismParamInvalid("CKD_NULL takes no shared data")
        if key.attrs.get(CKA.KEY_TYPE) == CKK.EC_MONTGOMERY:
            self._secret = _montgomery_secret(key, params.public_data)
        else:
            self._secret = _weierstrass_secret(key, params.public_data)
        self._params = params

    def derive(self, template: Mapping[int, Any]) -> dict[int, Any]:
        z = self._secret()
        length = _length(template, len(z))
        if self._params.kdf == CKD.NULL:
            if length > len(z):
                raise TemplateInconsistent("key longer than the secret")
            value = z[:length]
        else:
            value = backend.x963(KDF_HASH[CKD(self._params.kdf)], z,
                                 length, self._params.shared_data)
        return {CKA.VALUE: value}


def _length(template: Mapping[int, Any], default: int) -> int:
    if CKA.VALUE_LEN in template:
        return int(template[CKA.VALUE_LEN])
    key_type = template.get(CKA.KEY_TYPE)
    if key_type in FIXED_LENGTH:
        return FIXED_LENGTH[key_type]
    if key_type == CKK.GENERIC_SECRET:
        return default
    raise TemplateIncomplete("derived key needs CKA_VALUE_LEN")


def _derive(key: KeyLike | None, params: object) -> EcdhDerive:
    return EcdhDerive(keyed(key, KEY_TYPES),
                      params_of(params, Ecdh1Params))


class MontgomeryKeyPairGenerator:
    """Reads CKA_EC_PARAMS from the public template (section 2.3.12)."""

    def generate(
        self, pub_template: Mapping[int, Any],
        priv_template: Mapping[int, Any],
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        curve, params = curve_from_template(pub_template, Family.MONTGOMERY)
        # RFC 7748 section 5: the private key is random bytes.
        raw = drbg.random_bytes(curve.size)
        pub_raw = backend.x_public(curve.name, raw)
        return ({CKA.EC_PARAMS: params, CKA.EC_POINT: wrap_point(pub_raw)},
                {CKA.EC_PARAMS: params, CKA.VALUE: raw})


def _keygen(key: KeyLike | None,
            params: object) -> MontgomeryKeyPairGenerator:
    no_params(params)
    return MontgomeryKeyPairGenerator()


# X25519/X448 are not SP 800-56A rev. 3 key agreement: the generator is
# not approved.  The derive rows keep their column; the FIPS gate must
# also refuse CKK_EC_MONTGOMERY base keys (one column per mechanism).
SPECS: tuple[MechSpec, ...] = (
    *(MechSpec(mech, CKF.DERIVE | EC_FLAGS, key_size=KEY_BITS,
               key_types=KEY_TYPES, approved=True,
               params=ParamKind.ECDH1, ops={Op.DERIVE: _derive})
      for mech in (CKM.ECDH1_DERIVE, CKM.ECDH1_COFACTOR_DERIVE)),
    MechSpec(CKM.EC_MONTGOMERY_KEY_PAIR_GEN,
             CKF.GENERATE_KEY_PAIR | CKF.EC_NAMEDCURVE,
             key_size=MONTGOMERY_BITS,
             key_types=frozenset({CKK.EC_MONTGOMERY}), approved=False,
             ops={Op.GENERATE_KEY_PAIR: _keygen}),
)
