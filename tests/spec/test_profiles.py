"""CKO_PROFILE objects (PKCS#11 v3.0 section 4.13) through the 3.0
function list: found by class, CKA_PROFILE_ID readable, and read-only
(not modifiable, copyable or destroyable: CKR_ACTION_PROHIBITED)."""

from __future__ import annotations

from craton_hsm._generated_ck import CKA, CKO, CKP
from tests.abi.test_hostile import Token, expect, ulong
from tests.spec.harness import NULL, ffi


def _find(tok: Token, h: int) -> list[int]:
    t = tok.template((CKA.CLASS, ulong(CKO.PROFILE)))
    expect(tok.lib.C_FindObjectsInit(h, t, 1), "OK")
    found = ffi.new("CK_OBJECT_HANDLE[]", 8)
    n = ffi.new("CK_ULONG *")
    expect(tok.lib.C_FindObjects(h, found, 8, n), "OK")
    expect(tok.lib.C_FindObjectsFinal(h), "OK")
    return [int(found[i]) for i in range(int(n[0]))]


def test_profiles_are_found_and_read_only(tok: Token) -> None:
    tok.init_token()
    h = tok.open()
    lib = tok.lib
    handles = _find(tok, h)
    assert len(handles) == 1
    obj = handles[0]
    value = ffi.new("CK_ULONG *")
    attr = ffi.new("CK_ATTRIBUTE *", {"type": CKA.PROFILE_ID,
                                      "pValue": value,
                                      "ulValueLen": ffi.sizeof("CK_ULONG")})
    expect(lib.C_GetAttributeValue(h, obj, attr, 1), "OK")
    assert value[0] == CKP.BASELINE_PROVIDER
    expect(lib.C_SetAttributeValue(h, obj, tok.template(
        (CKA.PROFILE_ID, ulong(CKP.EXTENDED_PROVIDER))), 1),
        "ACTION_PROHIBITED")
    out = ffi.new("CK_OBJECT_HANDLE *")
    expect(lib.C_CopyObject(h, obj, NULL, 0, out), "ACTION_PROHIBITED")
    expect(lib.C_DestroyObject(h, obj), "ACTION_PROHIBITED")
    # Still one profile object after another search.
    assert _find(tok, h) == [obj]


def test_profiles_are_not_in_an_empty_template_search(tok: Token) -> None:
    """Found only by class, like hardware feature objects (4.3.1): a
    client enumerating every object and reading CKA_LABEL must not meet
    an object that has none."""
    tok.init_token()
    h = tok.open()
    profile = _find(tok, h)
    expect(tok.lib.C_FindObjectsInit(h, NULL, 0), "OK")
    found = ffi.new("CK_OBJECT_HANDLE[]", 8)
    n = ffi.new("CK_ULONG *")
    expect(tok.lib.C_FindObjects(h, found, 8, n), "OK")
    expect(tok.lib.C_FindObjectsFinal(h), "OK")
    assert int(n[0]) == 0 and profile
