"""C_GetOperationState / C_SetOperationState for digests (spec 5.6.8-9)
through the C ABI: a saved state resumes in another session and gives
the same digest as hashlib; anything else is refused by name."""
# ruff: noqa: F811 - fixtures imported by name are parameters

from __future__ import annotations

import hashlib

from craton_hsm._generated_ck import CKM
from tests.abi.test_hostile import (  # noqa: F401 - fixtures
    NULL,
    Token,
    expect,
    ffi,
    lib,
    tok,
)


def _save(tok: Token, h: int) -> bytes:
    n = ffi.new("CK_ULONG *")
    expect(tok.lib.C_GetOperationState(h, NULL, n), "OK")
    buf = ffi.new("CK_BYTE[]", int(n[0]))
    expect(tok.lib.C_GetOperationState(h, buf, n), "OK")
    return bytes(ffi.buffer(buf, int(n[0])))


def _finish(tok: Token, h: int) -> bytes:
    buf, n = ffi.new("CK_BYTE[]", 64), ffi.new("CK_ULONG *", 64)
    expect(tok.lib.C_DigestFinal(h, buf, n), "OK")
    return bytes(ffi.buffer(buf, int(n[0])))


def test_digest_state_resumes_in_another_session(tok: Token) -> None:
    tok.init_token()
    a, b = tok.open(), tok.open()
    lib = tok.lib
    expect(lib.C_DigestInit(a, tok.mechanism(CKM.SHA256)), "OK")
    expect(lib.C_DigestUpdate(a, b"first half, ", 12), "OK")
    blob = _save(tok, a)
    assert b"first half" not in blob          # opaque, carries no data
    for h in (a, b):                          # restorable more than once
        expect(lib.C_SetOperationState(h, blob, len(blob), 0, 0), "OK")
        expect(lib.C_DigestUpdate(h, b"second half", 11), "OK")
        assert _finish(tok, h) == \
            hashlib.sha256(b"first half, second half").digest()


def test_unsaveable_and_invalid_states(tok: Token) -> None:
    tok.init_token()
    h = tok.open()
    lib = tok.lib
    n = ffi.new("CK_ULONG *")
    expect(lib.C_GetOperationState(h, NULL, n), "STATE_UNSAVEABLE")
    bogus = b"CRATONST\x01" + bytes(16)
    expect(lib.C_SetOperationState(h, bogus, len(bogus), 0, 0),
           "SAVED_STATE_INVALID")
    expect(lib.C_SetOperationState(h, b"junk", 4, 0, 0),
           "SAVED_STATE_INVALID")
    expect(lib.C_DigestInit(h, tok.mechanism(CKM.SHA256)), "OK")
    blob = _save(tok, h)
    expect(lib.C_SetOperationState(h, blob, len(blob), 7, 0),
           "KEY_NOT_NEEDED")
