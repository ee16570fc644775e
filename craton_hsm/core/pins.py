"""PIN records: password-KDF verifier plus key-encryption key.

Seed 004 "Authentication": PINs are never stored; a PBKDF2-HMAC-SHA256
hash with a per-PIN 32-byte random salt is (SP 800-132; 600,000
iterations by default, configurable upward).  One derivation of 64 bytes
per call: the first 32 bytes are the stored verifier, the last 32 the
key-encryption key (KEK) that wraps the token master key (core/vault.py).
Because the KEK is never stored, reading the token file reveals neither
the PIN nor the master key.  The KDF name and iteration count are stored
with each record, so a later config change never breaks an old PIN: the
crypto profile (password_kdf.py) picks PBKDF2 (governance) or Argon2id
(leading-edge) for new records only.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from craton_hsm import password_kdf, secmem
from craton_hsm.drbg import random_bytes

KDF_PBKDF2_SHA256 = password_kdf.PBKDF2
SALT_BYTES = 32
VERIFIER_BYTES = 32
KEK_BYTES = 32


@dataclass(frozen=True)
class PinRecord:
    kdf: str
    iterations: int
    salt: bytes = field(repr=False)
    verifier: bytes = field(repr=False)


def _derive(pin: bytes, kdf: str, iterations: int,
            salt: bytes) -> tuple[bytes, secmem.Secret]:
    """(verifier, KEK): derived straight into the key-material arena
    (secmem.py), so the KEK never exists as immutable bytes; the
    verifier is public (it is stored) and is copied out."""
    out = secmem.alloc(VERIFIER_BYTES + KEK_BYTES)
    try:
        password_kdf.derive_into(pin, salt, kdf, iterations,
                                 out.writable())
        verifier = bytes(out.view[:VERIFIER_BYTES])
        kek = secmem.secret(out.view[VERIFIER_BYTES:])
    finally:
        out.free()
    return verifier, kek


def make_pin_record(pin: bytes, iterations: int,
                    profile: str = "governance"
                    ) -> tuple[PinRecord, secmem.Secret]:
    """A new record with a fresh salt, and the KEK it yields (the
    caller frees it); ``iterations`` is the PBKDF2 count the governance
    profile uses."""
    kdf, work = password_kdf.for_profile(profile, iterations)
    salt = random_bytes(SALT_BYTES)
    verifier, kek = _derive(pin, kdf, work, salt)
    return PinRecord(kdf, work, salt, verifier), kek


def check_pin(pin: bytes, record: PinRecord) -> secmem.Secret | None:
    """The KEK if ``pin`` matches ``record`` (the caller frees it),
    else None.

    The comparison is constant-time (seed 004 "Authentication") so the
    time taken says nothing about how many verifier bytes matched.
    """
    verifier, kek = _derive(pin, record.kdf, record.iterations,
                            record.salt)
    if hmac.compare_digest(verifier, record.verifier):
        return kek
    kek.free()
    return None
