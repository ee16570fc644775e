"""C_FindObjects through the handle table's CKA_LABEL / CKA_ID /
CKA_CLASS index (issue 9): the answer stays exact when objects are
relabelled in place (session objects) or replaced (token objects),
destroyed, or searched by an attribute nothing carries."""

from __future__ import annotations

from typing import Any

from craton_hsm._generated_ck import CKA, CKK, CKO
from tests.abi.test_hostile import Token, expect, ulong
from tests.spec.harness import NULL, ffi

TRUE, FALSE = b"\x01", b"\x00"


def _create(tok: Token, h: int, label: bytes, ident: bytes,
            token: bool = False) -> int:
    t = tok.template((CKA.CLASS, ulong(CKO.SECRET_KEY)),
                     (CKA.KEY_TYPE, ulong(CKK.AES)),
                     (CKA.TOKEN, TRUE if token else FALSE),
                     (CKA.LABEL, label), (CKA.ID, ident),
                     (CKA.VALUE, b"0123456789abcdef"))
    out = ffi.new("CK_OBJECT_HANDLE *")
    expect(tok.lib.C_CreateObject(h, t, 6, out), "OK")
    return int(out[0])


def _find(tok: Token, h: int, *pairs: tuple[int, bytes]) -> list[int]:
    t: Any = tok.template(*pairs) if pairs else NULL
    expect(tok.lib.C_FindObjectsInit(h, t, len(pairs)), "OK")
    found = ffi.new("CK_OBJECT_HANDLE[]", 64)
    n = ffi.new("CK_ULONG *")
    expect(tok.lib.C_FindObjects(h, found, 64, n), "OK")
    expect(tok.lib.C_FindObjectsFinal(h), "OK")
    return sorted(int(found[i]) for i in range(int(n[0])))


def _relabel(tok: Token, h: int, obj: int, label: bytes) -> None:
    expect(tok.lib.C_SetAttributeValue(
        h, obj, tok.template((CKA.LABEL, label)), 1), "OK")


def test_find_by_indexed_attributes_stays_exact(tok: Token) -> None:
    h = tok.ready()
    a1 = _create(tok, h, b"alpha", b"\x01")
    a2 = _create(tok, h, b"alpha", b"\x02")
    b1 = _create(tok, h, b"beta", b"\x01")
    t1 = _create(tok, h, b"alpha", b"\x03", token=True)
    label = (CKA.LABEL, b"alpha")
    assert _find(tok, h, label) == sorted([a1, a2, t1])
    assert _find(tok, h, (CKA.ID, b"\x01")) == sorted([a1, b1])
    assert _find(tok, h, label, (CKA.ID, b"\x02")) == [a2]
    assert _find(tok, h, (CKA.CLASS, ulong(CKO.SECRET_KEY)), label) == \
        sorted([a1, a2, t1])
    assert _find(tok, h, (CKA.LABEL, b"gamma")) == []
    # In-place change of a session object, replacement of a token one.
    _relabel(tok, h, a2, b"gamma")
    _relabel(tok, h, t1, b"gamma")
    assert _find(tok, h, label) == [a1]
    assert _find(tok, h, (CKA.LABEL, b"gamma")) == sorted([a2, t1])
    expect(tok.lib.C_DestroyObject(h, a1), "OK")
    assert _find(tok, h, label) == []
    # Not indexed (CKA_KEY_TYPE): every object is still considered.
    assert _find(tok, h, (CKA.KEY_TYPE, ulong(CKK.AES))) == \
        sorted([a2, b1, t1])


def test_closing_a_session_destroys_only_its_objects(tok: Token) -> None:
    h = tok.ready()
    h2 = tok.open()
    mine = _create(tok, h, b"same", b"\x01")
    theirs = _create(tok, h2, b"same", b"\x02")
    kept = _create(tok, h2, b"same", b"\x03", token=True)
    assert _find(tok, h, (CKA.LABEL, b"same")) == sorted([mine, theirs,
                                                          kept])
    expect(tok.lib.C_CloseSession(h2), "OK")
    assert _find(tok, h, (CKA.LABEL, b"same")) == sorted([mine, kept])
    expect(tok.lib.C_DestroyObject(h, theirs), "OBJECT_HANDLE_INVALID")
