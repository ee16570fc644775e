"""Crash safety through the built module (issue 4, "Crash safety").

Child processes (tests/store/p11child.py, cffi ABI mode over
build/libcraton_hsm.so) are SIGKILLed at random moments while they write
to a token; a fresh process then judges what a later host would see.
tools/kill-test.py runs the same churn test for longer (``--cycles N``).
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from craton_hsm._generated_ck import CKR, CKU
from tests.store.killrun import (
    Proc,
    built_lib,
    child_env,
    expect_ok,
    expected_mac,
    init_token,
    integrity,
    kill_cycles,
    setpin_child,
    verify,
)

KILLS = 100
SETPIN_KILLS = 20
PINS = ("1111", "2222")


@pytest.fixture(scope="module")
def libpath() -> Path:
    return built_lib()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir(mode=0o700)
    return d


def test_sigkill_during_create_and_destroy_loses_nothing(
        libpath: Path, data_dir: Path) -> None:
    init_token(libpath, child_env(data_dir))
    stats = kill_cycles(libpath, data_dir, KILLS, seed=random.randrange(
        1 << 30), lanes=2, delay_ms=(20, 200))
    assert stats.self_exits == []
    assert stats.kills == KILLS

    verdict = verify(libpath, data_dir)
    print(f"{stats.kills} SIGKILLs in {stats.seconds:.1f} s; "
          f"{verdict.acknowledged} acknowledged objects, "
          f"{verdict.present} present, {verdict.destroyed} destroyed, "
          f"{verdict.unrecorded} created but killed before recording")
    # Lost, resurrected, half-written, phantom objects and a failed
    # PRAGMA integrity_check all land in problems.
    assert verdict.problems == []
    assert verdict.acknowledged > KILLS     # the children did real work
    assert integrity(data_dir) == []


def test_sigkill_during_c_setpin_leaves_old_or_new_pin_working(
        libpath: Path, data_dir: Path) -> None:
    env = child_env(data_dir)
    init_token(libpath, env, user_pin=PINS[0])
    key = bytes(range(32))
    p = Proc(libpath, env)
    try:
        expect_ok(p("initialize"), "C_Initialize")
        rv, h = p("open")
        expect_ok(rv, "C_OpenSession")
        expect_ok(p("login", h, int(CKU.USER), PINS[0]), "C_Login")
        rv, _ = p("create_hmac_key", h, "mk-check", key.hex())
        expect_ok(rv, "C_CreateObject(private secret key)")
        expect_ok(p("finalize"), "C_Finalize")
    finally:
        p.close()

    rng = random.Random()
    current = PINS[0]
    outcome: Counter[str] = Counter()
    setpin_s = 0.0
    for cycle in range(SETPIN_KILLS + 2):
        other = PINS[1] if current == PINS[0] else PINS[0]
        child = setpin_child(libpath, env, (current, other), "mk-check")
        assert child.stdout is not None
        line = child.stdout.readline()
        t0 = time.monotonic()
        report = json.loads(line) if line else None
        if report is None or report["pin"] is None:
            child.kill()
            _, err = child.communicate(timeout=30)
            pytest.fail(f"cycle {cycle}: neither PIN logs in: {report} "
                        f"{err[-2000:]}")
        if cycle > 1:
            outcome["new" if report["pin"] != current else "old"] += 1
        # The master key still unwraps and opens the sealed secret key.
        assert report["mac"] == [CKR.OK, expected_mac(key)], report
        current = report["pin"]
        if cycle == 0 or cycle == SETPIN_KILLS + 1:
            # Uncut runs: the first times C_SetPIN, the last checks the
            # token is still fully usable after all the kills.
            done = child.stdout.readline()
            setpin_s = setpin_s or time.monotonic() - t0
            _, err = child.communicate(timeout=60)
            assert json.loads(done) == {"set": CKR.OK}, err
            current = PINS[1] if current == PINS[0] else PINS[0]
            continue
        # Kill anywhere from the PBKDF2 runs inside C_SetPIN to just
        # after it returns (the commit comes at its very end).
        time.sleep(rng.uniform(0.3 * setpin_s, 1.3 * setpin_s))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=30)
        if out.strip():
            assert json.loads(out) == {"set": CKR.OK}
    print(f"C_SetPIN takes {setpin_s:.2f} s; after {SETPIN_KILLS} kills "
          f"the PIN was old/new: {dict(outcome)}")
    assert sum(outcome.values()) == SETPIN_KILLS
    assert integrity(data_dir) == []
