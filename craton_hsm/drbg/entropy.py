"""The entropy input: ``getrandom(2)`` behind the SP 800-90B health
tests (:mod:`craton_hsm.drbg.health`).

Test-only faults (``CRATON_HSM_SELFTEST_FAIL``, craton_hsm.selftest.
faults): ``drbg-rct`` makes the source stick at one value, ``drbg-apt``
makes two bytes in three zero (biased, yet never six equal in a row).  The
faulty source replaces getrandom after the start-up test and until a
health test has caught it, once per process, so the real tests catch it
in operation and a re-initialised module recovers.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from craton_hsm.drbg.health import (
    STARTUP_SAMPLES,
    HealthTestFailure,
    SourceTests,
)
from craton_hsm.selftest import faults

Source = Callable[[int], bytes]


def _stuck(n: int) -> bytes:
    return b"\xa5" * n


def _biased(n: int) -> bytes:
    noise = os.getrandom(n).replace(b"\x00", b"\x01")
    return bytes(noise[i] if i % 3 == 2 else 0 for i in range(n))


def _injected_fault() -> Source | None:
    if faults.injected("drbg-rct"):
        return _stuck
    if faults.injected("drbg-apt"):
        return _biased
    return None


_fault = _injected_fault()


class EntropySource:
    """Health-tested entropy input.  ``source`` defaults to getrandom;
    the unit tests pass stuck, biased and good sources."""

    def __init__(self, source: Source = os.getrandom) -> None:
        self._source = source
        self._tests = SourceTests()
        # 4.3 requirement 3: start-up tests over 1024 samples, which are
        # then discarded (never used as entropy input).
        self._tests.feed(self._source(STARTUP_SAMPLES))

    def read(self, n: int) -> bytes:
        """``n`` health-tested bytes; raises HealthTestFailure."""
        global _fault
        data = (_fault or self._source)(n)
        try:
            self._tests.feed(data)
        except HealthTestFailure:
            _fault = None       # caught: the injected fault is spent
            raise
        return data
