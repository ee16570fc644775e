"""Health tests: SP 800-90B section 4.4 on the entropy input and the
continuous test on the DRBG's output (FIPS 140-3 IG 9.x / SP 800-90A
section 11.3 "the DRBG shall not output two equal consecutive blocks").

Samples are bytes of ``getrandom(2)`` output.  Assumed min-entropy
H = 4 bits per byte: deliberately below the 8 bits a byte of the
kernel CRNG's output carries, so that a healthy source essentially never
trips a test (false-alarm probability far below alpha) while a stuck or
strongly biased one does.  The DRBG draws its entropy input to match
(64 bytes = 256 bits of claimed entropy for the 256-bit strength).

With alpha = 2^-20 (section 4.4's recommended false-positive rate):

* Repetition Count Test (4.4.1): cutoff C = 1 + ceil(-log2(alpha) / H)
  = 1 + ceil(20 / 4) = **6**: six identical consecutive bytes fail.
* Adaptive Proportion Test (4.4.2): window W = 512 (non-binary samples),
  cutoff C = 1 + CRITBINOM(W, 2^-H, 1 - alpha) = **62** (section 4.4.2
  Table 2, column H = 4): the window's first byte recurring 62 times in
  the window fails.

Both keep their state across entropy draws (the tests are continuous);
:func:`startup_test` runs them over 1024 samples before the first use
(4.3 requirement 3).  A failure raises :class:`HealthTestFailure`
naming the test; the caller latches the module.
"""

from __future__ import annotations

from math import ceil, comb

from craton_hsm.selftest import faults

ALPHA_LOG2 = 20             # alpha = 2^-20
MIN_ENTROPY_BITS = 4        # assumed H per byte sample
APT_WINDOW = 512
STARTUP_SAMPLES = 1024      # 4.3 requirement 3


def rct_cutoff(h: int = MIN_ENTROPY_BITS, alpha_log2: int = ALPHA_LOG2) -> int:
    """4.4.1: C = 1 + ceil(-log2(alpha) / H)."""
    return 1 + ceil(alpha_log2 / h)


def apt_cutoff(h: int = MIN_ENTROPY_BITS, window: int = APT_WINDOW,
               alpha_log2: int = ALPHA_LOG2) -> int:
    """4.4.2: C = 1 + CRITBINOM(W, 2^-H, 1 - alpha), in exact
    arithmetic (CRITBINOM: the least k with P(X <= k) >= 1 - alpha).
    Only tests call it (APT_CUTOFF below is its value), so fractions and
    decimal are imported here, not at C_Initialize (issue 9, RSS)."""
    from fractions import Fraction
    p = Fraction(1, 1 << h)
    target = 1 - Fraction(1, 1 << alpha_log2)
    total = Fraction(0)
    for k in range(window + 1):
        total += comb(window, k) * p ** k * (1 - p) ** (window - k)
        if total >= target:
            return 1 + k
    return 1 + window


RCT_CUTOFF = 6              # rct_cutoff(), checked by tests/drbg
APT_CUTOFF = 62             # apt_cutoff(), checked by tests/drbg


class HealthTestFailure(Exception):
    """A health test failed; ``test`` is its self-test name."""

    def __init__(self, test: str, detail: str) -> None:
        super().__init__(f"{test}: {detail}")
        self.test = test
        self.detail = detail


class SourceTests:
    """RCT and APT over one noise source's byte samples (4.4.1/4.4.2)."""

    def __init__(self) -> None:
        self._rct_value = -1
        self._rct_count = 0
        self._apt_value = -1
        self._apt_count = 0
        self._apt_seen = APT_WINDOW     # start a window on the next byte

    def feed(self, samples: bytes) -> None:
        rct_value, rct_count = self._rct_value, self._rct_count
        apt_value, apt_count, seen = (self._apt_value, self._apt_count,
                                      self._apt_seen)
        try:
            for x in samples:
                # 4.4.1 Repetition Count Test.
                if x == rct_value:
                    rct_count += 1
                    if rct_count >= RCT_CUTOFF:
                        raise HealthTestFailure(
                            "drbg-rct", f"{rct_count} consecutive equal "
                            f"entropy samples (cutoff {RCT_CUTOFF})")
                else:
                    rct_value, rct_count = x, 1
                # 4.4.2 Adaptive Proportion Test.
                if seen == APT_WINDOW:
                    apt_value, apt_count, seen = x, 1, 1
                    continue
                seen += 1
                if x == apt_value:
                    apt_count += 1
                    if apt_count >= APT_CUTOFF:
                        raise HealthTestFailure(
                            "drbg-apt", f"one entropy sample value "
                            f"{apt_count} times in a {APT_WINDOW}-sample "
                            f"window (cutoff {APT_CUTOFF})")
        finally:
            self._rct_value, self._rct_count = rct_value, rct_count
            self._apt_value, self._apt_count, self._apt_seen = (
                apt_value, apt_count, seen)


_stuck_output = faults.injected("drbg-continuous")


class ContinuousTest:
    """No output block equals the one before it (SP 800-90A 11.3; FIPS
    140-3 IG 9.x continuous random number generator test).  Blocks are
    the DRBG's OUTLEN-byte V values, compared across calls too."""

    def __init__(self, first: bytes) -> None:
        self._last = first

    def check(self, blocks: bytes, size: int) -> None:
        global _stuck_output
        last = self._last
        if _stuck_output:
            # Test-only (CRATON_HSM_SELFTEST_FAIL=drbg-continuous): once
            # per process the generator "repeats" its previous block.
            _stuck_output = False
            blocks = last + blocks[size:]
        for i in range(0, len(blocks), size):
            block = blocks[i:i + size]
            if block == last:
                raise HealthTestFailure(
                    "drbg-continuous", "two consecutive DRBG output "
                    "blocks are equal")
            last = block
        self._last = last
