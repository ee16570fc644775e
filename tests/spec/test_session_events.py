"""C_SessionCancel (PKCS#11 v3.0 5.6) and C_WaitForSlotEvent (5.5, and
5.4 C_Finalize: a wait blocked in another thread returns
CKR_CRYPTOKI_NOT_INITIALIZED) through the 3.0 function list."""

from __future__ import annotations

import threading
import time
from typing import Any

from craton_hsm._generated_ck import CKA, CKF, CKM, CKO
from tests.abi.test_hostile import SO_PIN, Token, expect, name, ulong
from tests.spec.harness import NULL, ffi


def test_session_cancel_ends_only_the_named_operations(tok: Token) -> None:
    tok.init_token()
    h = tok.open()
    lib = tok.lib
    expect(lib.C_DigestInit(h, tok.mechanism(CKM.SHA256)), "OK")
    t = tok.template((CKA.CLASS, ulong(CKO.DATA)))
    expect(lib.C_FindObjectsInit(h, t, 1), "OK")
    expect(lib.C_SessionCancel(h, CKF.DIGEST | CKF.FIND_OBJECTS), "OK")
    expect(lib.C_DigestUpdate(h, b"x", 1), "OPERATION_NOT_INITIALIZED")
    found, n = ffi.new("CK_OBJECT_HANDLE[]", 1), ffi.new("CK_ULONG *")
    expect(lib.C_FindObjects(h, found, 1, n), "OPERATION_NOT_INITIALIZED")
    # Cancelling what is not active is not an error; other work goes on.
    expect(lib.C_DigestInit(h, tok.mechanism(CKM.SHA256)), "OK")
    expect(lib.C_SessionCancel(h, CKF.SIGN | CKF.GENERATE), "OK")
    expect(lib.C_DigestUpdate(h, b"x", 1), "OK")
    expect(lib.C_SessionCancel(h, 0x80000000), "ARGUMENTS_BAD")
    expect(lib.C_SessionCancel(h + 100, CKF.DIGEST),
           "SESSION_HANDLE_INVALID")


def test_wait_dont_block_reports_token_init_and_new_slot(tok: Token) -> None:
    lib = tok.lib
    slot = ffi.new("CK_SLOT_ID *")
    expect(lib.C_WaitForSlotEvent(CKF.DONT_BLOCK, slot, NULL), "NO_EVENT")
    expect(lib.C_WaitForSlotEvent(CKF.DONT_BLOCK, slot, slot),
           "ARGUMENTS_BAD")
    expect(lib.C_WaitForSlotEvent(CKF.DONT_BLOCK, NULL, NULL),
           "ARGUMENTS_BAD")
    tok.init_token(0)
    expect(lib.C_WaitForSlotEvent(CKF.DONT_BLOCK, slot, NULL), "OK")
    assert slot[0] == 0
    # Reported once.
    expect(lib.C_WaitForSlotEvent(CKF.DONT_BLOCK, slot, NULL), "NO_EVENT")


def _waiter(lib: Any) -> tuple[threading.Thread, dict[str, Any]]:
    got: dict[str, Any] = {}

    def run() -> None:
        slot = ffi.new("CK_SLOT_ID *")
        got["rv"] = name(lib.C_WaitForSlotEvent(0, slot, NULL))
        got["slot"] = int(slot[0])
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, got


def test_blocking_wait_returns_on_a_real_event(tok: Token) -> None:
    lib = tok.lib
    t, got = _waiter(lib)
    time.sleep(0.2)
    assert t.is_alive()        # nothing happened yet: still waiting
    expect(lib.C_InitToken(0, SO_PIN, len(SO_PIN), b"ev".ljust(32)), "OK")
    t.join(5)
    assert got == {"rv": "OK", "slot": 0}


def test_blocking_wait_ends_with_finalize(mod, data_env) -> None:
    expect(mod.C_Initialize(NULL), "OK")
    t, got = _waiter(mod)
    time.sleep(0.2)
    assert t.is_alive()
    expect(mod.C_Finalize(NULL), "OK")
    t.join(5)
    assert got["rv"] == "CRYPTOKI_NOT_INITIALIZED"
    slot = ffi.new("CK_SLOT_ID *")
    expect(mod.C_WaitForSlotEvent(CKF.DONT_BLOCK, slot, NULL),
           "CRYPTOKI_NOT_INITIALIZED")
