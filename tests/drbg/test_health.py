"""SP 800-90B health tests, the continuous test, the KAT and the
process DRBG's policies, in-process (no latch: the unit under test is
the test object, not the module)."""

from __future__ import annotations

import os

import pytest

from craton_hsm.drbg import health, hmac_drbg, kat
from craton_hsm.drbg.entropy import EntropySource
from craton_hsm.drbg.health import (
    APT_CUTOFF,
    RCT_CUTOFF,
    ContinuousTest,
    HealthTestFailure,
    SourceTests,
)


def test_cutoffs_follow_sp800_90b_formulas() -> None:
    # 4.4.1 and 4.4.2 at H = 4, alpha = 2^-20; Table 2 of 90B lists 62
    # for W = 512, H = 4 (and 13 for H = 8, 410 for H = 0.5 -> checked
    # at H = 8 as an independent anchor).
    assert RCT_CUTOFF == health.rct_cutoff() == 6
    assert APT_CUTOFF == health.apt_cutoff() == 62
    assert health.apt_cutoff(h=8) == 13


def test_stuck_source_fails_the_repetition_count_test() -> None:
    tests = SourceTests()
    tests.feed(b"\x00\x01" + b"\x07" * (RCT_CUTOFF - 1))   # one short: ok
    with pytest.raises(HealthTestFailure) as err:
        tests.feed(b"\x07")                 # state carries across feeds
    assert err.value.test == "drbg-rct"


def test_biased_source_fails_the_adaptive_proportion_test() -> None:
    # Value 0 two times in three, never 6 in a row: only the APT sees it.
    biased = bytes(0 if i % 3 < 2 else 1 + i % 200 for i in range(512))
    with pytest.raises(HealthTestFailure) as err:
        SourceTests().feed(biased)
    assert err.value.test == "drbg-apt"


def test_good_source_passes_both_tests() -> None:
    tests = SourceTests()
    for _ in range(64):
        tests.feed(os.getrandom(4096))


def test_startup_test_runs_on_construction() -> None:
    with pytest.raises(HealthTestFailure) as err:
        EntropySource(lambda n: b"\x5a" * n)
    assert err.value.test == "drbg-rct"
    assert len(EntropySource().read(64)) == 64


def test_continuous_test_refuses_a_repeated_block() -> None:
    t = ContinuousTest(b"a" * 32)
    t.check(b"b" * 32 + b"c" * 32, 32)
    with pytest.raises(HealthTestFailure) as err:
        t.check(b"c" * 32, 32)               # equals the last block before
    assert err.value.test == "drbg-continuous"
    with pytest.raises(HealthTestFailure):
        ContinuousTest(b"x" * 32).check(b"y" * 32 + b"y" * 32, 32)


def test_known_answer_test_passes_and_detects_a_wrong_answer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    kat.known_answer_test()
    monkeypatch.setattr(kat, "RETURNED", bytes(len(kat.RETURNED)))
    with pytest.raises(HealthTestFailure) as err:
        kat.known_answer_test()
    assert err.value.test == "drbg-kat"


def test_reseed_interval_and_limits() -> None:
    d = hmac_drbg.HmacDrbg(b"e" * 32, b"n" * 16, reseed_interval=2)
    d.generate(16)
    d.generate(16)
    with pytest.raises(hmac_drbg.ReseedRequired):
        d.generate(16)
    d.reseed(b"f" * 32)
    assert len(d.generate(hmac_drbg.MAX_REQUEST_BYTES)) == 65536
    with pytest.raises(ValueError):
        d.generate(hmac_drbg.MAX_REQUEST_BYTES + 1)


def test_generate_blocks_are_whole_v_blocks() -> None:
    a = hmac_drbg.HmacDrbg(b"e" * 32, b"n" * 16)
    b = hmac_drbg.HmacDrbg(b"e" * 32, b"n" * 16)
    blocks = a.generate_blocks(40)
    assert len(blocks) == 64 and b.generate(40) == blocks[:40]
