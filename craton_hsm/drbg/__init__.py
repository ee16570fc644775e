"""HMAC_DRBG with SHA-256 (NIST SP 800-90A Rev. 1, section 10.1.2).

The module's only source of random bytes: secret key values, salts, IVs,
nonces and C_GenerateRandom all come from here (seed 004, invariant 8).
Entropy comes from ``os.getrandom`` (getrandom(2)).  A fork makes a child
re-seed before its first output, so parent and child never share a stream.
Health tests and the CAVP known-answer tests extend this module later.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading

_SEEDLEN_BYTES = 32          # security strength 256 bits -> 32-byte entropy
_RESEED_INTERVAL = 1 << 20   # requests between reseeds (SP 800-90A: <= 2^48)
_MAX_REQUEST = 1 << 16       # bytes per generate call (SP 800-90A: 2^19 bits)


class HmacDrbg:
    """SP 800-90A HMAC_DRBG instance (SHA-256)."""

    def __init__(self, entropy: bytes, nonce: bytes,
                 personalization: bytes = b"") -> None:
        self._key = b"\x00" * 32
        self._v = b"\x01" * 32
        self._update(entropy + nonce + personalization)
        self.reseed_counter = 1

    def _hmac(self, data: bytes) -> bytes:
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def _update(self, provided: bytes) -> None:
        # HMAC_DRBG_Update (10.1.2.2).
        self._key = self._hmac(self._v + b"\x00" + provided)
        self._v = self._hmac(self._v)
        if provided:
            self._key = self._hmac(self._v + b"\x01" + provided)
            self._v = self._hmac(self._v)

    def reseed(self, entropy: bytes, additional: bytes = b"") -> None:
        self._update(entropy + additional)
        self.reseed_counter = 1

    def generate(self, n: int, additional: bytes = b"") -> bytes:
        if additional:
            self._update(additional)
        out = bytearray()
        while len(out) < n:
            self._v = self._hmac(self._v)
            out += self._v
        self._update(additional)
        self.reseed_counter += 1
        return bytes(out[:n])


class _ProcessDrbg:
    """The per-process instance, reseeded after fork and periodically."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = -1
        self._drbg: HmacDrbg | None = None

    def _ensure(self) -> HmacDrbg:
        pid = os.getpid()
        if self._drbg is None or pid != self._pid:
            self._drbg = HmacDrbg(
                os.getrandom(_SEEDLEN_BYTES),
                os.getrandom(_SEEDLEN_BYTES // 2),
                b"craton-hsm pid=%d" % pid,
            )
            self._pid = pid
        elif self._drbg.reseed_counter > _RESEED_INTERVAL:
            self._drbg.reseed(os.getrandom(_SEEDLEN_BYTES))
        return self._drbg

    def random_bytes(self, n: int, additional: bytes = b"") -> bytes:
        if n < 0:
            raise ValueError("negative length")
        parts = []
        with self._lock:
            drbg = self._ensure()
            while n > 0:
                take = min(n, _MAX_REQUEST)
                parts.append(drbg.generate(take, additional))
                n -= take
        return b"".join(parts)

    def add_seed(self, seed: bytes) -> None:
        """C_SeedRandom: mixed in as additional input, never replacing
        the entropy source (SP 800-90A 9.2)."""
        with self._lock:
            self._ensure().reseed(os.getrandom(_SEEDLEN_BYTES), seed)


_INSTANCE = _ProcessDrbg()
random_bytes = _INSTANCE.random_bytes
add_seed = _INSTANCE.add_seed
