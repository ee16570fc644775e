"""The audit directory's keys (docs/audit.md "Keys").

``audit-signing.key``  Ed25519 private key, 32 raw bytes, mode 0600.
``audit-pubkey.pem``   its public half (SubjectPublicKeyInfo PEM), for
                       offline verification; copy it off the host early.
``audit-chain.key``    the 32-byte BLAKE3 key of a ``blake3-keyed``
                       chain, mode 0600.  A verifier needs it too.
All are created on first use, next to the logs they protect.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from craton_hsm.backend import audit_primitives as prim

SIGNING_KEY = "audit-signing.key"
PUBKEY = "audit-pubkey.pem"
CHAIN_KEY = "audit-chain.key"


def _create_secret(path: Path, value: bytes) -> None:
    """Write a new 0600 file; O_EXCL so two processes never both win."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, value)
        os.fsync(fd)
    finally:
        os.close(fd)


def _secret(path: Path, make: bytes) -> bytes:
    try:
        _create_secret(path, make)
    except FileExistsError:
        pass
    value = path.read_bytes()
    if len(value) != 32:
        raise OSError(f"{path} is not a 32-byte key")
    return value


@dataclass(frozen=True)
class SigningKey:
    private: bytes
    public: bytes

    @property
    def key_id(self) -> str:
        return key_id(self.public)


def key_id(public: bytes) -> str:
    """Names the key in each checkpoint (SHA-256 of the raw key)."""
    return prim.sha256_hex(public)[:32]


def signing_key(directory: Path) -> SigningKey:
    """Load, or create on first use, the audit signing key; the PEM is
    rewritten if missing so an operator can always export it."""
    private = _secret(directory / SIGNING_KEY, prim.new_signing_key())
    public = prim.public_raw(private)
    pem = directory / PUBKEY
    if not pem.exists():
        # 0600 like every file in the data dir (docs/storage.md); it is
        # public, and `craton-hsm audit pubkey` prints it for export.
        try:
            _create_secret(pem, prim.public_pem(public))
        except FileExistsError:
            pass
    return SigningKey(private, public)


def chain_key(directory: Path) -> bytes:
    return _secret(directory / CHAIN_KEY, prim.new_chain_key())


def read_pubkey(path: Path) -> bytes:
    """Raw Ed25519 public key from a PEM file; ValueError if not one."""
    return prim.public_from_pem(path.read_bytes())
