"""Primitives of the audit trail (docs/audit.md): the chain hash
(SHA-256, FIPS 180-4; or keyed BLAKE3, the BLAKE3 specification section
2.3 "keyed_hash" mode) and the Ed25519 checkpoint signature (RFC 8032).

Kept apart from the token's own crypto so the offline verifier
(``craton-hsm audit verify``) needs only this module and ``blake3``.
"""

from __future__ import annotations

import hashlib
import os

import blake3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

CHAIN_KEY_BYTES = 32   # BLAKE3 keyed mode takes exactly 32 bytes
_RAW = serialization.Encoding.Raw


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blake3_keyed_hex(key: bytes, data: bytes) -> str:
    return blake3.blake3(data, key=key).hexdigest()


def new_chain_key() -> bytes:
    # A MAC key, not a DRBG output the token hands out: os.urandom
    # (getrandom) is the seed source the DRBG itself uses.
    return os.urandom(CHAIN_KEY_BYTES)


def new_signing_key() -> bytes:
    """A fresh Ed25519 private key as its 32 raw bytes."""
    return Ed25519PrivateKey.generate().private_bytes(
        _RAW, serialization.PrivateFormat.Raw,
        serialization.NoEncryption())


def sign(private_raw: bytes, message: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(private_raw).sign(message)


def public_raw(private_raw: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(
        private_raw).public_key().public_bytes(
        _RAW, serialization.PublicFormat.Raw)


def public_pem(public: bytes) -> bytes:
    return Ed25519PublicKey.from_public_bytes(public).public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo)


def public_from_pem(pem: bytes) -> bytes:
    """Raw 32-byte Ed25519 public key from PEM; ValueError otherwise."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 key")  # noqa: TRY004 (callers)
    return key.public_bytes(_RAW, serialization.PublicFormat.Raw)


def verify(public: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is valid.  A bool here because the
    verifier reports every outcome as a finding, not an exception."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature,
                                                          message)
    except (InvalidSignature, ValueError):
        return False
    return True
