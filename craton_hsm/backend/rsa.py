"""RSA adapters (RFC 8017; FIPS 186-5 section 5): key generation and
loading, PKCS#1 v1.5 and PSS signatures, PKCS#1 v1.5 and OAEP encryption.

Digests arrive already computed (the mechanisms layer hashes multi-part
input) and are signed as ``Prehashed``; ``hash_name=None`` signs the
caller's bytes without a DigestInfo (CKM_RSA_PKCS).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.bindings._rust import openssl as rust_openssl
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from craton_hsm.backend.hashes import algorithm
from craton_hsm.errors import (
    EncryptedDataInvalid,
    KeyTypeInconsistent,
    SignatureInvalid,
)

PrivateKey = rsa.RSAPrivateKey
PublicKey = rsa.RSAPublicKey


@dataclass(frozen=True, repr=False)
class Numbers:
    """Every RSA component as an int (repr hidden: private values)."""

    n: int
    e: int
    d: int
    p: int
    q: int
    dmp1: int
    dmq1: int
    iqmp: int


def generate(bits: int, e: int) -> Numbers:
    """A fresh key with public exponent ``e`` (odd, 3 <= e < 2**32).

    pyca's public ``generate_private_key`` refuses every exponent but 3
    and 65537 as a policy choice; PKCS#11 lets the caller choose
    (section 2.1.5), so other exponents go straight to the OpenSSL
    binding pyca itself calls after that check (RSA_generate_key_ex
    takes any odd e >= 3; the binding takes a 32-bit one)."""
    if e in (3, 65537):
        key = rsa.generate_private_key(public_exponent=e, key_size=bits)
    else:
        key = rust_openssl.rsa.generate_private_key(e, bits)
    pn = key.private_numbers()
    return Numbers(pn.public_numbers.n, pn.public_numbers.e, pn.d, pn.p,
                   pn.q, pn.dmp1, pn.dmq1, pn.iqmp)


def load_private(n: int, e: int, d: int, p: int | None = None,
                 q: int | None = None, validate: bool = True) -> PrivateKey:
    """A private key; the CRT values are recomputed from (n, e, d) and
    the primes rather than trusted, as the primes may be absent."""
    try:
        if not p or not q:
            p, q = rsa.rsa_recover_prime_factors(n, e, d)
        numbers = rsa.RSAPrivateNumbers(
            p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
            rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, n))
        return numbers.private_key(
            unsafe_skip_rsa_key_validation=not validate)
    except (ValueError, TypeError):
        raise KeyTypeInconsistent("inconsistent RSA private key") from None


def load_public(n: int, e: int) -> PublicKey:
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except (ValueError, TypeError):
        raise KeyTypeInconsistent("invalid RSA public key") from None


# Padding and hash parameter objects are immutable: made once per
# distinct set of arguments instead of per call (issue 9).
_PKCS1 = padding.PKCS1v15()


@cache
def _hash_arg(hash_name: str | None) -> utils.Prehashed | utils.NoDigestInfo:
    if hash_name is None:
        return utils.NoDigestInfo()
    return _prehashed(hash_name)


@cache
def _prehashed(hash_name: str) -> utils.Prehashed:
    return utils.Prehashed(algorithm(hash_name))


@lru_cache(maxsize=64)
def _pss(mgf_name: str, salt_len: int) -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(algorithm(mgf_name)),
                       salt_length=salt_len)


def sign_pkcs1(key: PrivateKey, data: bytes, hash_name: str | None) -> bytes:
    return key.sign(data, _PKCS1, _hash_arg(hash_name))


def verify_pkcs1(key: PublicKey, signature: bytes, data: bytes,
                 hash_name: str | None) -> None:
    # NoDigestInfo works for verify at runtime (cryptography 47+); the
    # type stubs list it only for sign.
    try:
        key.verify(signature, data, _PKCS1,
                   _hash_arg(hash_name))  # type: ignore[arg-type]
    except InvalidSignature:
        raise SignatureInvalid("RSA signature invalid") from None


def recover_pkcs1(key: PublicKey, signature: bytes) -> bytes:
    """The data inside an EMSA-PKCS1-v1_5 type-1 block (C_VerifyRecover
    with CKM_RSA_PKCS); a bad block is CKR_SIGNATURE_INVALID."""
    try:
        return key.recover_data_from_signature(signature, _PKCS1,
                                               None)
    except InvalidSignature:
        raise SignatureInvalid("RSA signature invalid") from None


def sign_pss(key: PrivateKey, digest: bytes, hash_name: str, mgf_name: str,
             salt_len: int) -> bytes:
    return key.sign(digest, _pss(mgf_name, salt_len), _prehashed(hash_name))


def verify_pss(key: PublicKey, signature: bytes, digest: bytes,
               hash_name: str, mgf_name: str, salt_len: int) -> None:
    try:
        key.verify(signature, digest, _pss(mgf_name, salt_len),
                   _prehashed(hash_name))
    except InvalidSignature:
        raise SignatureInvalid("RSA signature invalid") from None


def encrypt_pkcs1(key: PublicKey, data: bytes) -> bytes:
    return key.encrypt(data, _PKCS1)


def decrypt_pkcs1(key: PrivateKey, data: bytes) -> bytes:
    # OpenSSL 3.2+ applies implicit rejection (RFC 8017 section 7.2.2
    # note; draft-irtf-cfrg-rsa-guidance), so a bad padding usually yields
    # a pseudo-random message rather than an error: no padding oracle.
    try:
        return key.decrypt(data, _PKCS1)
    except ValueError:
        raise EncryptedDataInvalid("decryption failed") from None


@lru_cache(maxsize=64)
def _oaep(hash_name: str, mgf_name: str, label: bytes) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(algorithm(mgf_name)),
                        algorithm=algorithm(hash_name), label=label or None)


def encrypt_oaep(key: PublicKey, data: bytes, hash_name: str,
                 mgf_name: str, label: bytes) -> bytes:
    return key.encrypt(data, _oaep(hash_name, mgf_name, label))


def decrypt_oaep(key: PrivateKey, data: bytes, hash_name: str,
                 mgf_name: str, label: bytes) -> bytes:
    try:
        return key.decrypt(data, _oaep(hash_name, mgf_name, label))
    except ValueError:
        raise EncryptedDataInvalid("decryption failed") from None
