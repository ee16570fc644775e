"""Key-derivation primitives: HKDF (RFC 5869), PBKDF2 (RFC 8018 /
SP 800-132), the PRFs of SP 800-108 (HMAC, AES-CMAC) and raw AES block
encryption for the *_ENCRYPT_DATA derivations.

Hashes are named by the short strings of ``backend.hashes``; length and
parameter checks belong to the mechanisms layer, which calls these only
with values it has validated.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import cmac, hmac
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from craton_hsm.backend.hashes import algorithm, digest_size
from craton_hsm.backend.symmetric import cbc, ecb


def hash_len(name: str) -> int:
    return digest_size(name)


def hmac_once(name: str, key: bytes, data: bytes) -> bytes:
    ctx = hmac.HMAC(key, algorithm(name))
    ctx.update(data)
    return ctx.finalize()


def cmac_aes(key: bytes, data: bytes) -> bytes:
    ctx = cmac.CMAC(algorithms.AES(key))
    ctx.update(data)
    return ctx.finalize()


def hkdf_extract(name: str, salt: bytes, ikm: bytes) -> bytes:
    """PRK = HMAC-Hash(salt, IKM); an empty salt is HashLen zero bytes."""
    return hmac_once(name, salt or bytes(hash_len(name)), ikm)


def hkdf_expand(name: str, prk: bytes, info: bytes, length: int) -> bytes:
    return HKDFExpand(algorithm(name), length, info).derive(prk)


def pbkdf2(name: str, password: bytes, salt: bytes, iterations: int,
           length: int) -> bytes:
    return PBKDF2HMAC(algorithm(name), length, salt,
                      iterations).derive(password)


def aes_ecb_encrypt(key: bytes, data: bytes) -> bytes:
    ctx = ecb(key, True)
    return ctx.update(data) + ctx.finalize()


def aes_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    ctx = cbc(key, iv, True)
    return ctx.update(data) + ctx.finalize()
