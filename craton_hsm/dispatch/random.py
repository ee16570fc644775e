"""Random number generation functions (PKCS#11 v3.0 section 5.16).
Every byte comes from the module's HMAC_DRBG (seed 004, invariant 8)."""

from __future__ import annotations

from craton_hsm import drbg
from craton_hsm.core.limits import MAX_DATA
from craton_hsm.dispatch.common import session
from craton_hsm.errors import ArgumentsBad


def seed_random(h: int, seed: bytes) -> None:
    session(h)
    drbg.add_seed(seed)


def generate_random(h: int, length: int) -> bytes:
    session(h)
    if length > MAX_DATA:
        # One output buffer is bounded like an input (core/limits.py);
        # section 5.16 names no length code, so CKR_ARGUMENTS_BAD.
        raise ArgumentsBad(f"{length} random bytes requested")
    return drbg.random_bytes(length)
