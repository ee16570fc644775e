"""The process's one HMAC_DRBG: locking, entropy, reseeding policy,
prediction resistance, health tests, fork safety and the error state.

* Instantiation (SP 800-90A 9.1) is lazy, at the first request after
  load, fork or a failure: 90B start-up tests on 1024 samples, then
  64 bytes of entropy input (256 bits at the assumed 4 bits per byte,
  health.py), a 32-byte nonce from the same source (8.6.7: at least
  half the security strength), and a personalisation string naming the
  process and time (8.7.1).  The first output block is kept, not
  returned, to seed the continuous test.
* Generate (9.3.1): with prediction resistance every request reseeds
  first; without it a reseed happens when the counter passes the
  configured interval (``[drbg] reseed_interval``).  Longer requests are
  split at the 2^19-bit maximum.
* Any health-test failure latches the module (craton_hsm.latch) and
  drops the working state; while latched nothing is returned, and the
  first request after C_Initialize cleared the latch instantiates anew.
* A forked child drops the inherited state in ``after_in_child`` (and a
  pid check backs that up for a fork the hook did not see), so parent
  and child never produce the same bytes.
"""

from __future__ import annotations

import os
import time

from craton_hsm import forksafe, latch
from craton_hsm.drbg.entropy import EntropySource
from craton_hsm.drbg.health import ContinuousTest, HealthTestFailure
from craton_hsm.drbg.hmac_drbg import (
    MAX_REQUEST_BYTES,
    MAX_RESEED_INTERVAL,
    OUTLEN,
    HmacDrbg,
    ReseedRequired,
)

ENTROPY_BYTES = 64      # 256 bits at H = 4 bits per byte
NONCE_BYTES = 32        # 128 bits at H = 4


class _Instance:
    """A working DRBG with its entropy source and continuous test."""

    def __init__(self, reseed_interval: int) -> None:
        self.source = EntropySource()
        self.drbg = HmacDrbg(
            self.source.read(ENTROPY_BYTES), self.source.read(NONCE_BYTES),
            b"craton-hsm pid=%d t=%d" % (os.getpid(), time.time_ns()),
            reseed_interval)
        self.continuous = ContinuousTest(self.drbg.generate_blocks(OUTLEN))

    def reseed(self, additional: bytes = b"") -> None:
        self.drbg.reseed(self.source.read(ENTROPY_BYTES), additional)

    def generate(self, n: int, prediction_resistance: bool) -> bytes:
        if prediction_resistance:
            self.reseed()
        try:
            blocks = self.drbg.generate_blocks(n)
        except ReseedRequired:
            self.reseed()
            blocks = self.drbg.generate_blocks(n)
        self.continuous.check(blocks, OUTLEN)
        return blocks[:n]


class ProcessDrbg:
    def __init__(self) -> None:
        self._lock = forksafe.lock()   # released in a forked child
        self._pid = os.getpid()
        self._instance: _Instance | None = None
        self.reseed_interval = 1 << 20
        self.prediction_resistance = False
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # Forget the parent's state: the child never repeats its output.
        self._instance = None
        self._pid = os.getpid()

    def configure(self, reseed_interval: int,
                  prediction_resistance: bool) -> None:
        """C_Initialize's settings ([drbg] in the config file)."""
        if not 1 <= reseed_interval <= MAX_RESEED_INTERVAL:
            raise ValueError("drbg reseed interval outside 1..2^48")
        with self._lock:
            self.reseed_interval = reseed_interval
            self.prediction_resistance = prediction_resistance
            if self._instance is not None:
                self._instance.drbg.reseed_interval = reseed_interval

    def _working(self) -> _Instance:
        """The instance (caller holds the lock): instantiated after
        load, fork or a failure."""
        if self._instance is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._instance = _Instance(self.reseed_interval)
        return self._instance

    def _failed(self, exc: HealthTestFailure) -> latch.ModuleErrorState:
        """Drop the working state and latch the module (caller raises)."""
        self._instance = None
        return latch.latch(exc.test, exc.detail)

    def random_bytes(self, n: int) -> bytes:
        """``n`` bytes from the DRBG (raises CKR_GENERAL_ERROR when the
        module is in its error state)."""
        if n < 0:
            raise ValueError("negative length")
        latch.check()                     # no output in the error state
        with self._lock:
            try:
                instance = self._working()
                if n <= MAX_REQUEST_BYTES:
                    return instance.generate(n, self.prediction_resistance)
                parts = []
                for i in range(0, n, MAX_REQUEST_BYTES):
                    parts.append(instance.generate(
                        min(n - i, MAX_REQUEST_BYTES),
                        self.prediction_resistance))
                return b"".join(parts)
            except HealthTestFailure as exc:
                raise self._failed(exc) from None

    def add_seed(self, seed: bytes) -> None:
        """C_SeedRandom: a reseed with fresh entropy and ``seed`` as the
        additional input (SP 800-90A 9.2): mixed in, never replacing the
        entropy source, so a caller's seed cannot make output predictable."""
        latch.check()
        with self._lock:
            try:
                self._working().reseed(seed)
            except HealthTestFailure as exc:
                raise self._failed(exc) from None
