"""HMAC signing and verification and generic secret key generation
(PKCS#11 v3.0 sections 2.20 ff. "SHA-n-HMAC" and "General-length
SHA-n-HMAC", 2.25 SHA-3, 2.34 "Generic secret key"; FIPS 198-1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm import drbg
from craton_hsm._generated_ck import CKA, CKF, CKK, CKM
from craton_hsm.backend.hashes import Hmac, digest_size
from craton_hsm.mechanisms.checks import (
    attr_bytes,
    in_range,
    keyed,
    no_params,
    template_int,
)
from craton_hsm.mechanisms.mac_ops import MacSign, MacVerify, general_length
from craton_hsm.mechanisms.message import with_message_macs
from craton_hsm.mechanisms.registry import (
    Factory,
    KeyLike,
    MechSpec,
    Op,
    ParamKind,
)

# HMAC key sizes in bytes.  FIPS 198-1 allows any key length, so keys of
# 1..512 bytes work (RFC 4231 case 2 uses a 4-byte key); the 112-bit
# minimum of SP 800-131A Rev.2 is enforced by the FIPS mode, not here.
KEY_BYTES = (1, 512)
# CKM_GENERIC_SECRET_KEY_GEN reports its range in bits (section 2.34.3);
# CKA_VALUE_LEN in the template is in bytes.
GEN_BITS = (8 * KEY_BYTES[0], 8 * KEY_BYTES[1])

# (mechanism, general-length mechanism, hash, dedicated key type)
_HMACS = (
    (CKM.SHA_1_HMAC, CKM.SHA_1_HMAC_GENERAL, "sha1", CKK.SHA_1_HMAC),
    (CKM.SHA224_HMAC, CKM.SHA224_HMAC_GENERAL, "sha224", CKK.SHA224_HMAC),
    (CKM.SHA256_HMAC, CKM.SHA256_HMAC_GENERAL, "sha256", CKK.SHA256_HMAC),
    (CKM.SHA384_HMAC, CKM.SHA384_HMAC_GENERAL, "sha384", CKK.SHA384_HMAC),
    (CKM.SHA512_HMAC, CKM.SHA512_HMAC_GENERAL, "sha512", CKK.SHA512_HMAC),
    (CKM.SHA512_224_HMAC, CKM.SHA512_224_HMAC_GENERAL, "sha512_224",
     CKK.SHA512_224_HMAC),
    (CKM.SHA512_256_HMAC, CKM.SHA512_256_HMAC_GENERAL, "sha512_256",
     CKK.SHA512_256_HMAC),
    (CKM.SHA3_224_HMAC, CKM.SHA3_224_HMAC_GENERAL, "sha3_224",
     CKK.SHA3_224_HMAC),
    (CKM.SHA3_256_HMAC, CKM.SHA3_256_HMAC_GENERAL, "sha3_256",
     CKK.SHA3_256_HMAC),
    (CKM.SHA3_384_HMAC, CKM.SHA3_384_HMAC_GENERAL, "sha3_384",
     CKK.SHA3_384_HMAC),
    (CKM.SHA3_512_HMAC, CKM.SHA3_512_HMAC_GENERAL, "sha3_512",
     CKK.SHA3_512_HMAC),
)


def _factory(name: str, key_types: frozenset[int],
             cls: type[MacSign | MacVerify], general: bool) -> Factory:
    full = digest_size(name)
    # The key object's cache keeps one unfed context per hash; each
    # operation copies it instead of keying HMAC anew (issue 9).
    slot = "hmac_" + name

    def make(key: KeyLike | None, params: object) -> MacSign | MacVerify:
        if general:
            size = general_length(params, full)
        else:
            no_params(params)
            size = full
        k = keyed(key, key_types)
        keyed_ctx: Hmac | None = k.cache.get(slot)
        if keyed_ctx is None:
            value = attr_bytes(k, CKA.VALUE)
            in_range(len(value), KEY_BYTES, "HMAC key bytes")
            keyed_ctx = k.cache[slot] = Hmac(name, value)
        return cls(keyed_ctx.copy(), size)
    return make


class GenericSecretGenerator:
    """CKM_GENERIC_SECRET_KEY_GEN: CKA_VALUE_LEN bytes from the DRBG."""

    def generate(self, template: Mapping[int, Any]) -> dict[int, Any]:
        n = template_int(template, CKA.VALUE_LEN)
        in_range(n, KEY_BYTES, "CKA_VALUE_LEN")
        return {CKA.VALUE: drbg.random_bytes(n), CKA.VALUE_LEN: n}


def _generic_gen(key: KeyLike | None,
                 params: object) -> GenericSecretGenerator:
    no_params(params)
    return GenericSecretGenerator()


def _spec(mech: int, name: str, kkt: int, general: bool) -> MechSpec:
    key_types = frozenset({CKK.GENERIC_SECRET, kkt})
    return with_message_macs(MechSpec(
        mech, CKF.SIGN | CKF.VERIFY, key_size=KEY_BYTES,
        key_types=key_types, approved=True,
        params=ParamKind.ULONG if general else ParamKind.NONE,
        ops={Op.SIGN: _factory(name, key_types, MacSign, general),
             Op.VERIFY: _factory(name, key_types, MacVerify, general)},
        multipart=frozenset({Op.SIGN, Op.VERIFY})))


SPECS: tuple[MechSpec, ...] = (
    MechSpec(CKM.GENERIC_SECRET_KEY_GEN, CKF.GENERATE, key_size=GEN_BITS,
             key_types=frozenset({CKK.GENERIC_SECRET}), approved=True,
             ops={Op.GENERATE: _generic_gen}),
    *(_spec(m, n, k, False) for m, _g, n, k in _HMACS),
    *(_spec(g, n, k, True) for _m, g, n, k in _HMACS),
)
