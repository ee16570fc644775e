"""Many processes on one data directory, through the built module
(issue 4, "Many processes").

Every client here is a separate Python process (tests/store/p11child.py)
that loads build/libcraton_hsm.so with cffi in ABI mode; nothing calls
the package's Python internals.  Writes are ``BEGIN IMMEDIATE``
transactions; the only error a writer may see under contention is the
documented busy code, CKR_FUNCTION_FAILED (docs/configuration.md,
"Storage errors"), which the workers retry and count.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from craton_hsm._generated_ck import CKF, CKO, CKR, CKU
from tests.store.killrun import (
    CHILD,
    SO_PIN,
    Proc,
    built_lib,
    child_env,
    data_value,
    expect_ok,
    init_token,
)

USER_PIN = "1234"
WORKERS, PER_WORKER = 4, 250


@pytest.fixture(scope="module")
def libpath() -> Path:
    return built_lib()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir(mode=0o700)
    return d


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    return child_env(data_dir)


@pytest.fixture
def procs(libpath: Path, env: dict[str, str]) -> Iterator[list[Proc]]:
    """Two long-lived client processes, each initialised with a R/W
    session on slot 0 (handle in .h)."""
    init_token(libpath, env, user_pin=USER_PIN)
    ps = [Proc(libpath, env), Proc(libpath, env)]
    try:
        for p in ps:
            expect_ok(p("initialize"), "C_Initialize")
            rv, p.h = p("open")
            expect_ok(rv, "C_OpenSession")
        yield ps
    finally:
        for p in ps:
            p.close()


def test_four_processes_create_1000_token_objects_none_lost(
        libpath: Path, data_dir: Path, env: dict[str, str]) -> None:
    init_token(libpath, env)
    t0 = time.monotonic()
    workers = [subprocess.Popen(
        [sys.executable, str(CHILD), str(libpath), "bulk", f"w{i}",
         str(PER_WORKER)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for i in range(WORKERS)]
    reports = []
    for w in workers:
        out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
        reports.append(json.loads(out))
    elapsed = time.monotonic() - t0
    retries = [r["busy_retries"] for r in reports]
    print(f"{WORKERS}x{PER_WORKER} creates in {elapsed:.1f} s, "
          f"CKR_FUNCTION_FAILED retries per worker: {retries}")
    # Every create ended CKR_OK, possibly after busy retries.
    assert [(r["created"], r["bad"]) for r in reports] == \
        [(PER_WORKER, {})] * WORKERS

    fifth = Proc(libpath, env)
    try:
        expect_ok(fifth("initialize"), "C_Initialize")
        rv, h = fifth("open", 0, False)
        expect_ok(rv, "C_OpenSession")
        found = fifth("find", h, None, int(CKO.DATA))
        expect_ok(found[0], "C_FindObjects")
        seen = {}
        for obj in found[1:]:
            rv, label, value = fifth("read", h, obj)
            expect_ok(rv, f"C_GetAttributeValue({obj})")
            seen[label] = value
    finally:
        fifth.close()
    want = {f"w{i}-{n:04d}" for i in range(WORKERS)
            for n in range(PER_WORKER)}
    assert len(found) - 1 == WORKERS * PER_WORKER
    assert set(seen) == want
    assert all(bytes.fromhex(v) == data_value(lbl)
               for lbl, v in seen.items())


def test_create_change_destroy_seen_by_other_process_at_next_call(
        procs: list[Proc]) -> None:
    a, b = procs
    rv, ha = a("create", a.h, "shared-1")
    expect_ok(rv, "C_CreateObject in A")
    # B's very next call sees it: no C_Finalize/C_Initialize in between.
    found = b("find", b.h, "shared-1")
    assert found[0] == CKR.OK and len(found) == 2
    hb = found[1]
    rv, label, value = b("read", b.h, hb)
    assert (rv, label, bytes.fromhex(value)) == \
        (CKR.OK, "shared-1", data_value("shared-1"))

    expect_ok(a("set_label", a.h, ha, "renamed"),
              "C_SetAttributeValue in A")
    rv, label, _ = b("read", b.h, hb)
    assert (rv, label) == (CKR.OK, "renamed")
    assert b("find", b.h, "shared-1") == [CKR.OK]

    # And the other way round: B changes, A sees it.
    expect_ok(b("set_label", b.h, hb, "by-b"),
              "C_SetAttributeValue in B")
    assert a("read", a.h, ha)[:2] == [CKR.OK, "by-b"]

    expect_ok(a("destroy", a.h, ha), "C_DestroyObject in A")
    assert b("read", b.h, hb)[0] == CKR.OBJECT_HANDLE_INVALID
    assert b("find", b.h, None, int(CKO.DATA)) == [CKR.OK]
    assert b("destroy", b.h, hb) == CKR.OBJECT_HANDLE_INVALID


def test_pin_failures_and_lockout_are_shared_between_processes(
        procs: list[Proc], data_dir: Path) -> None:
    a, b = procs
    pin_flags = CKF.USER_PIN_COUNT_LOW | CKF.USER_PIN_FINAL_TRY | \
        CKF.USER_PIN_LOCKED
    rv, flags = b("token_flags", 0)
    assert (rv, flags & pin_flags) == (CKR.OK, 0)

    assert a("login", a.h, int(CKU.USER), "9999") == CKR.PIN_INCORRECT
    rv, flags = b("token_flags", 0)
    assert (rv, flags & pin_flags) == (CKR.OK, CKF.USER_PIN_COUNT_LOW)

    # B's failures add to A's: one counter in the token, not per process.
    for _ in range(8):
        assert b("login", b.h, int(CKU.USER), "9999") == CKR.PIN_INCORRECT
    rv, flags = a("token_flags", 0)
    assert flags & pin_flags == CKF.USER_PIN_COUNT_LOW | \
        CKF.USER_PIN_FINAL_TRY
    assert a("login", a.h, int(CKU.USER), "9999") == CKR.PIN_INCORRECT
    rv, flags = b("token_flags", 0)
    assert flags & pin_flags == CKF.USER_PIN_LOCKED
    # Locked for everyone, even with the right PIN.
    assert b("login", b.h, int(CKU.USER), USER_PIN) == CKR.PIN_LOCKED
    assert a("login", a.h, int(CKU.USER), USER_PIN) == CKR.PIN_LOCKED

    # The SO in A unlocks it with C_InitPIN; B can log in at once.
    expect_ok(a("login", a.h, int(CKU.SO), SO_PIN), "C_Login(SO)")
    expect_ok(a("init_pin", a.h, "5678"), "C_InitPIN")
    rv, flags = b("token_flags", 0)
    assert flags & pin_flags == 0
    assert b("login", b.h, int(CKU.USER), "5678") == CKR.OK


def test_own_write_does_not_hide_another_process_write(
        procs: list[Proc]) -> None:
    # B writes, then A writes without any call in between: A's write
    # must not make A adopt B's generation as if it had seen B's object
    # (the bug: A's find() kept missing "from-b" until a third write).
    a, b = procs
    expect_ok(b("create", b.h, "from-b")[0], "C_CreateObject in B")
    expect_ok(a("create", a.h, "from-a")[0], "C_CreateObject in A")
    found = a("find", a.h, "from-b")
    assert found[0] == CKR.OK and len(found) == 2
    assert a("read", a.h, found[1])[:2] == [CKR.OK, "from-b"]
    # Same for a destroy racing a change in the other process.
    expect_ok(b("set_label", b.h, b("find", b.h, "from-a")[1], "a-by-b"),
              "C_SetAttributeValue in B")
    expect_ok(a("destroy", a.h, found[1]), "C_DestroyObject in A")
    assert a("find", a.h, "from-a") == [CKR.OK]
    assert len(a("find", a.h, "a-by-b")) == 2
