"""HMAC signing and verification and generic secret key generation
(PKCS#11 v3.0 sections 2.25 ff. "SHA-n-HMAC" and 2.27 "Generic secret
key"; FIPS 198-1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from craton_hsm import drbg
from craton_hsm._generated_ck import CKA, CKF, CKK, CKM
from craton_hsm.backend.hashes import Hmac, digest_size
from craton_hsm.errors import SignatureLenRange
from craton_hsm.mechanisms.checks import (
    attr_bytes,
    in_range,
    keyed,
    no_params,
    template_int,
)
from craton_hsm.mechanisms.registry import Factory, KeyLike, MechSpec, Op

# Key sizes in bytes.  112 bits is the SP 800-131A Rev.2 minimum for HMAC
# keys; 512 bytes bounds what a token will hold.
KEY_BYTES = (14, 512)


class HmacSign:
    def __init__(self, name: str, key: bytes) -> None:
        self.size = digest_size(name)
        self._ctx = Hmac(name, key)

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def final(self) -> bytes:
        return self._ctx.finalize()

    def sign(self, data: bytes) -> bytes:
        self._ctx.update(data)
        return self._ctx.finalize()


class HmacVerify:
    def __init__(self, name: str, key: bytes) -> None:
        self.size = digest_size(name)
        self._ctx = Hmac(name, key)

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def final(self, signature: bytes) -> None:
        # A full-length MAC only: truncated MACs are the *_HMAC_GENERAL
        # mechanisms, which we do not offer (section 2.25.4).
        if len(signature) != self.size:
            raise SignatureLenRange("MAC length wrong for mechanism")
        self._ctx.verify(signature)

    def verify(self, data: bytes, signature: bytes) -> None:
        self._ctx.update(data)
        self.final(signature)


def _factory(name: str, key_types: frozenset[int],
             cls: type[HmacSign | HmacVerify]) -> Factory:
    def make(key: KeyLike | None, params: object) -> HmacSign | HmacVerify:
        no_params(params)
        value = attr_bytes(keyed(key, key_types), CKA.VALUE)
        in_range(len(value), KEY_BYTES, "HMAC key bytes")
        return cls(name, value)
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


_HMACS = (
    (CKM.SHA_1_HMAC, "sha1", CKK.SHA_1_HMAC),
    (CKM.SHA224_HMAC, "sha224", CKK.SHA224_HMAC),
    (CKM.SHA256_HMAC, "sha256", CKK.SHA256_HMAC),
    (CKM.SHA384_HMAC, "sha384", CKK.SHA384_HMAC),
    (CKM.SHA512_HMAC, "sha512", CKK.SHA512_HMAC),
)


def _spec(mech: int, name: str, kkt: int) -> MechSpec:
    key_types = frozenset({CKK.GENERIC_SECRET, kkt})
    return MechSpec(
        mech, CKF.SIGN | CKF.VERIFY, key_size=KEY_BYTES,
        key_types=key_types, approved=True,
        ops={Op.SIGN: _factory(name, key_types, HmacSign),
             Op.VERIFY: _factory(name, key_types, HmacVerify)},
        multipart=frozenset({Op.SIGN, Op.VERIFY}))


SPECS: tuple[MechSpec, ...] = (
    MechSpec(CKM.GENERIC_SECRET_KEY_GEN, CKF.GENERATE, key_size=KEY_BYTES,
             key_types=frozenset({CKK.GENERIC_SECRET}), approved=True,
             ops={Op.GENERATE: _generic_gen}),
    *(_spec(m, n, k) for m, n, k in _HMACS),
)
