"""Login throttling through the built .so (issue 8; core/throttle.py):
wrong PINs slow the next attempt (times are lower bounds only), the
codes stay CKR_PIN_INCORRECT until exactly ``[pin] max_failures``, a
correct PIN resets, the delay follows the counter into another process,
and a sleeping C_Login holds no lock other sessions need."""
# ruff: noqa: F811 - fixtures imported by name are parameters

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from craton_hsm._generated_ck import CKF, CKU
from tests.abi.test_hostile import (  # noqa: F401 - fixtures
    NULL,
    ROOT,
    USER_PIN,
    Token,
    expect,
    ffi,
    lib,
    name,
)

WRONG = b"0000"
BASE, CAP = 0.1, 0.15


def _module(lib: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            base_ms: int, cap_ms: int) -> Iterator[Token]:
    config = tmp_path / "craton.toml"
    config.write_text(f"[pin]\nmax_failures = 4\nbackoff_ms = {base_ms}\n"
                      f"backoff_max_ms = {cap_ms}\n")
    monkeypatch.setenv("CRATON_HSM_CONFIG", str(config))
    expect(lib.C_Initialize(NULL), "OK")
    try:
        yield Token(lib)
    finally:
        expect(lib.C_Finalize(NULL), "OK")


@pytest.fixture
def tk(lib: Any, data_env: Path, tmp_path: Path,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[Token]:
    yield from _module(lib, tmp_path, monkeypatch, 100, 150)


@pytest.fixture
def slow(lib: Any, data_env: Path, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Token]:
    yield from _module(lib, tmp_path, monkeypatch, 2000, 2000)


def timed(tk: Token, h: int, pin: bytes, role: int = CKU.USER
          ) -> tuple[str, float]:
    start = time.monotonic()
    rv = name(tk.login(h, role, pin))
    return rv, time.monotonic() - start


def user_flags(lib: Any) -> int:
    info = ffi.new("CK_TOKEN_INFO *")
    expect(lib.C_GetTokenInfo(0, info), "OK")
    return int(info.flags) & (CKF.USER_PIN_COUNT_LOW | CKF.USER_PIN_FINAL_TRY
                              | CKF.USER_PIN_LOCKED)


def test_backoff_grows_and_lockout_is_exact(tk: Token) -> None:
    h = tk.ready()
    expect(tk.lib.C_Logout(h), "OK")
    # Failures 0, 1, 2, 3 before each attempt: waits 0, 0.1, 0.2->0.15
    # (the cap), 0.15; the 4th wrong PIN is still PIN_INCORRECT.
    waits = [0.0, BASE, CAP, CAP]
    for want in waits:
        rv, took = timed(tk, h, WRONG)
        assert rv == "PIN_INCORRECT"
        assert took >= want
    assert user_flags(tk.lib) & CKF.USER_PIN_LOCKED
    # Exactly at max_failures: locked, even for the right PIN.
    assert timed(tk, h, USER_PIN)[0] == "PIN_LOCKED"
    assert timed(tk, h, WRONG)[0] == "PIN_LOCKED"


def test_correct_pin_resets_the_counter(tk: Token) -> None:
    h = tk.ready()
    expect(tk.lib.C_Logout(h), "OK")
    for _ in range(3):
        assert timed(tk, h, WRONG)[0] == "PIN_INCORRECT"
    assert user_flags(tk.lib) == CKF.USER_PIN_COUNT_LOW | \
        CKF.USER_PIN_FINAL_TRY
    rv, took = timed(tk, h, USER_PIN)       # waits, then succeeds
    assert rv == "OK" and took >= CAP
    assert user_flags(tk.lib) == 0
    expect(tk.lib.C_Logout(h), "OK")
    # A fresh budget: three more wrong PINs are PIN_INCORRECT again.
    for _ in range(3):
        assert timed(tk, h, WRONG)[0] == "PIN_INCORRECT"
    assert not user_flags(tk.lib) & CKF.USER_PIN_LOCKED


def test_delay_follows_the_counter_into_another_process(
        tk: Token, libpath: Path, data_env: Path, tmp_path: Path) -> None:
    h = tk.ready()
    expect(tk.lib.C_Logout(h), "OK")
    for _ in range(2):
        assert timed(tk, h, WRONG)[0] == "PIN_INCORRECT"
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from tests.abi.test_hostile import Token, ffi, name
        lib = ffi.dlopen({str(libpath)!r})
        assert name(lib.C_Initialize(ffi.NULL)) == "OK"
        tk = Token(lib)
        h = tk.open()
        start = time.monotonic()
        rv = name(tk.login(h, 1, b"0000"))
        print(rv, time.monotonic() - start)
        lib.C_Finalize(ffi.NULL)
    """)
    done = subprocess.run([sys.executable, "-c", code], check=False,
                          capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rv, took = done.stdout.split()
    assert rv == "PIN_INCORRECT"
    assert float(took) >= CAP      # two failures seen by the child
    # The child's failure counted here too: the next one is the 4th.
    assert timed(tk, h, WRONG)[0] == "PIN_INCORRECT"
    assert timed(tk, h, USER_PIN)[0] == "PIN_LOCKED"


def test_sleeping_login_blocks_no_other_session(slow: Token) -> None:
    lib, h = slow.lib, slow.ready()
    other = slow.open(rw=False)
    expect(lib.C_Logout(h), "OK")
    assert timed(slow, h, WRONG)[0] == "PIN_INCORRECT"
    result: list[str] = []
    sleeper = threading.Thread(
        target=lambda: result.append(name(slow.login(h, CKU.USER, WRONG))))
    sleeper.start()
    time.sleep(0.2)
    assert sleeper.is_alive()           # inside its 2 s backoff
    # Meanwhile another session of the same token is served.
    buf = ffi.new("CK_BYTE[16]")
    expect(lib.C_GenerateRandom(other, buf, 16), "OK")
    info = ffi.new("CK_TOKEN_INFO *")
    expect(lib.C_GetTokenInfo(0, info), "OK")
    assert sleeper.is_alive()
    sleeper.join(30)
    assert result == ["PIN_INCORRECT"]
