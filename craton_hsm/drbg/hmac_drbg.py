"""The HMAC_DRBG mechanism with SHA-256 (NIST SP 800-90A Rev. 1, section
10.1.2), exactly as specified: pure functions of its inputs, so the CAVP
vectors drive it directly.  Entropy, health tests and process policy
live in the sibling modules.

HMAC is computed from the two precomputed SHA-256 states of each key
(RFC 2104 / FIPS 198-1 section 4: ipad and opad blocks hashed once per
key, then ``copy()`` per message) instead of ``hmac.new`` per call: the
generate loop runs HMAC under one key many times, and a 32-byte
C_GenerateRandom costs a handful of HMACs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

OUTLEN = 32                 # SHA-256 output block (Table 2)
SECURITY_STRENGTH = 32      # 256 bits, the most SHA-256 supports
MAX_RESEED_INTERVAL = 1 << 48          # Table 2: reseed_interval <= 2^48
MAX_REQUEST_BYTES = (1 << 19) // 8     # Table 2: 2^19 bits per request
MAX_INPUT_BYTES = (1 << 35) // 8       # Table 2: 2^35 bits per input

_BLOCK = 64                 # SHA-256 input block (FIPS 198-1 B)
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


class ReseedRequired(Exception):
    """10.1.2.5 step 1: reseed_counter exceeds the reseed interval."""


def _keyed(key: bytes) -> Callable[[bytes], bytes]:
    """HMAC-SHA-256 under one fixed key (keys here are always 32 bytes,
    shorter than the block, so no pre-hash): a closure over the two
    precomputed states, the fastest call shape CPython offers."""
    padded = key.ljust(_BLOCK, b"\x00")
    inner = hashlib.sha256(padded.translate(_IPAD)).copy
    outer = hashlib.sha256(padded.translate(_OPAD)).copy

    def mac(data: bytes) -> bytes:
        h = inner()
        h.update(data)
        o = outer()
        o.update(h.digest())
        return o.digest()
    return mac


class HmacDrbg:
    """One HMAC_DRBG instantiation (10.1.2.1: working state V, Key,
    reseed_counter).  ``reseed_interval`` bounds generate requests
    between reseeds (10.1.2.5 step 1)."""

    def __init__(self, entropy: bytes, nonce: bytes,
                 personalization: bytes = b"",
                 reseed_interval: int = MAX_RESEED_INTERVAL) -> None:
        # 10.1.2.3 Instantiate: Key = 0x00..00, V = 0x01..01, then
        # Update(entropy_input || nonce || personalization_string).
        if not 1 <= reseed_interval <= MAX_RESEED_INTERVAL:
            raise ValueError("reseed interval outside 1..2^48")
        self.reseed_interval = reseed_interval
        self._hmac = _keyed(b"\x00" * OUTLEN)
        self._v = b"\x01" * OUTLEN
        self._update(entropy + nonce + personalization)
        self.reseed_counter = 1

    def _update(self, provided: bytes) -> None:
        # 10.1.2.2 HMAC_DRBG_Update.
        self._hmac = _keyed(self._hmac(self._v + b"\x00" + provided))
        self._v = self._hmac(self._v)
        if provided:
            self._hmac = _keyed(self._hmac(self._v + b"\x01" + provided))
            self._v = self._hmac(self._v)

    def reseed(self, entropy: bytes, additional: bytes = b"") -> None:
        """10.1.2.4: Update(entropy_input || additional_input)."""
        self._update(entropy + additional)
        self.reseed_counter = 1

    def generate(self, n: int, additional: bytes = b"") -> bytes:
        """10.1.2.5 without prediction resistance; the caller reseeds
        first when it wants it (9.3.1 step 7)."""
        return self.generate_blocks(n, additional)[:n]

    def generate_blocks(self, n: int, additional: bytes = b"") -> bytes:
        """:meth:`generate` before step 5's truncation: every whole
        OUTLEN-byte block (each a V), the unit the continuous test
        compares; the leftmost ``n`` bytes are the returned bits."""
        if not 0 <= n <= MAX_REQUEST_BYTES:
            raise ValueError("request outside 0..2^19 bits")
        if len(additional) > MAX_INPUT_BYTES:
            raise ValueError("additional input longer than 2^35 bits")
        if self.reseed_counter > self.reseed_interval:
            raise ReseedRequired
        if additional:
            self._update(additional)
        hmac = self._hmac
        if 0 < n <= OUTLEN:               # the common case: one block
            self._v = out = hmac(self._v)
        else:
            blocks = []
            v = self._v
            for _ in range(-(-n // OUTLEN)):
                v = hmac(v)
                blocks.append(v)
            self._v = v
            out = b"".join(blocks)
        self._update(additional)
        self.reseed_counter += 1
        return out
