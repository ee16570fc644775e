"""Password-based key derivation by stored name (crypto profiles).

Issue 5 "Crypto profiles": ``governance`` derives PIN and backup keys
with PBKDF2-HMAC-SHA256 (SP 800-132, 600,000 iterations or more);
``leading-edge`` with Argon2id (RFC 9106; the OWASP minimum of 19 MiB,
t=2, p=1).  Every PIN record and backup header stores the KDF name and
work factor it was made with and is always checked with those, so a
later profile change never breaks an existing PIN or archive; the
profile only decides what new records use.

A record is (name, iterations): for PBKDF2 the iteration count, for
Argon2id the pass count t, with memory and lanes in the name
(``argon2id-m19456-p1``), so the stores' two columns suffice.
"""

from __future__ import annotations

import re

from craton_hsm.backend import storage_crypto

PBKDF2 = "pbkdf2-sha256"
# The backup container's historical spelling of the same function.
PBKDF2_ALIASES = frozenset({PBKDF2, "pbkdf2-hmac-sha256"})
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PASSES = 2
ARGON2_LANES = 1
ARGON2ID = f"argon2id-m{ARGON2_MEMORY_KIB}-p{ARGON2_LANES}"
_ARGON = re.compile(r"argon2id-m(\d{1,8})-p(\d{1,2})")
# Bounds on what a stored (possibly forged) record may ask of us.
_MAX_MEMORY_KIB = 1 << 20          # 1 GiB
_MAX_PASSES = 16
_MAX_LANES = 16


class UnknownKdf(ValueError):
    """A stored KDF name or work factor this build does not accept."""


def for_profile(profile: str, pbkdf2_iterations: int) -> tuple[str, int]:
    """(name, iterations) for a new record under ``profile``."""
    if profile == "leading-edge":
        return ARGON2ID, ARGON2_PASSES
    return PBKDF2, pbkdf2_iterations


def derive(password: bytes | bytearray, salt: bytes, name: str,
           iterations: int, length: int) -> bytes:
    """The ``length``-byte key of a record named ``name``."""
    out = bytearray(length)
    derive_into(password, salt, name, iterations, memoryview(out))
    return bytes(out)


def derive_into(password: bytes | bytearray, salt: bytes, name: str,
                iterations: int, out: memoryview) -> None:
    """``derive`` written into ``out`` (a key-material arena slice, so
    no immutable copy of the derived key is left behind)."""
    if iterations < 1:
        raise UnknownKdf("the KDF work factor must be positive")
    if name in PBKDF2_ALIASES:
        storage_crypto.pbkdf2_sha256_into(password, salt, iterations, out)
        return
    match = _ARGON.fullmatch(name)
    if match is None:
        raise UnknownKdf(f"unsupported password KDF {name!r}")
    memory, lanes = int(match[1]), int(match[2])
    if not (8 * lanes <= memory <= _MAX_MEMORY_KIB
            and 1 <= lanes <= _MAX_LANES and iterations <= _MAX_PASSES):
        raise UnknownKdf(f"Argon2id parameters out of range in {name!r}")
    storage_crypto.argon2id_into(password, salt, iterations, lanes,
                                 memory, out)
