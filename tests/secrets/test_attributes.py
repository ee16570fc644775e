"""Secrets never leave through C_GetAttributeValue (seed 004 invariant 3,
issue 8 "Secrets never leave"): every key type the module supports x
every attribute type (all CKA_* of the 3.0 headers, our vendor one and
unknown ones) x every session state x {sensitive, unextractable, both}.

Spec v3.0 section 5.7 (C_GetAttributeValue): for an attribute that "is
sensitive or unextractable" the module sets ulValueLen to
CK_UNAVAILABLE_INFORMATION and returns CKR_ATTRIBUTE_SENSITIVE; other
attributes of the same template are still processed.  Keys are token
objects with CKA_PRIVATE false, so all five states (section 2.6.1) see
them: the protection must come from SENSITIVE/EXTRACTABLE, not from
visibility.  One token serves the module (logins cost ~0.1 s each)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from craton_hsm._generated_ck import (
    CK_UNAVAILABLE_INFORMATION,
    CKA,
    CKF,
    CKS,
    CKU,
)
from craton_hsm.vendor_ck import CKA_CRATON_COMPROMISED
from tests.abi.test_hostile import (
    NULL,
    SO_PIN,
    USER_PIN,
    Token,
    expect,
    ffi,
    name,
)
from tests.secrets.keys import (
    PROTECTIONS,
    SECRET_ATTRS,
    KeyCase,
    key_cases,
    leaked,
)

ARRAY = int(CKF.ARRAY_ATTRIBUTE)
UNKNOWN = (0x0FFF0001, 0x7FFF0001, int(CKA.VENDOR_DEFINED) | 0x1234)
ALL_TYPES = sorted({int(t) for t in CKA} | {CKA_CRATON_COMPROMISED}
                   | set(UNKNOWN))
BUF = 16384          # larger than any value (ML-DSA-87 private: 4896)
PATTERN = 0xA5


@dataclass
class Key:
    case: KeyCase
    protection: str
    handle: int


@dataclass
class World:
    tok: Token
    keys: list[Key]


@pytest.fixture(scope="module")
def world(libpath: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    lib = ffi.dlopen(str(libpath))
    data = tmp_path_factory.mktemp("secrets") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRATON_HSM_DATA_DIR", str(data))
        mp.delenv("CRATON_HSM_CONFIG", raising=False)
        expect(lib.C_Initialize(NULL), "OK")
        try:
            tok = Token(lib)
            h = tok.ready()
            keys = []
            for case in key_cases():
                for label, sensitive, extractable in PROTECTIONS:
                    tmpl = case.template(sensitive, extractable)
                    out = ffi.new("CK_OBJECT_HANDLE *")
                    rv = lib.C_CreateObject(h, tok.template(*tmpl),
                                            len(tmpl), out)
                    assert name(rv) == "OK", (case.name, label)
                    keys.append(Key(case, label, int(out[0])))
            yield World(tok, keys)
        finally:
            expect(lib.C_Finalize(NULL), "OK")


def enter(tok: Token, state: int) -> int:
    """A session in ``state``, starting from no sessions at all."""
    expect(tok.lib.C_CloseAllSessions(0), "OK")
    rw = tok.open(rw=True)
    ro = tok.open(rw=False)
    h = ro if state in (CKS.RO_PUBLIC_SESSION, CKS.RO_USER_FUNCTIONS) \
        else rw
    if state in (CKS.RO_USER_FUNCTIONS, CKS.RW_USER_FUNCTIONS):
        expect(tok.login(rw, CKU.USER, USER_PIN), "OK")
    if state == CKS.RW_SO_FUNCTIONS:
        expect(tok.lib.C_CloseSession(ro), "OK")
        expect(tok.login(rw, CKU.SO, SO_PIN), "OK")
    assert tok.session_state(h) == state
    return h


def read_one(lib: Any, h: int, obj: int, t: int
             ) -> tuple[str, int, str, int, bytes]:
    """Length query, then a read into a patterned buffer: both rvs, both
    lengths, and the buffer afterwards."""
    a = ffi.new("CK_ATTRIBUTE *")
    a.type, a.pValue, a.ulValueLen = t, NULL, 0
    rv1 = name(lib.C_GetAttributeValue(h, obj, a, 1))
    len1 = int(a.ulValueLen)
    if t & ARRAY:
        # A nested CK_ATTRIBUTE array: the length query is enough here
        # (a real read needs an array of attributes, tests/abi does it).
        return rv1, len1, rv1, len1, b""
    buf = ffi.new("CK_BYTE[]", bytes([PATTERN]) * BUF)
    a.pValue, a.ulValueLen = buf, BUF
    rv2 = name(lib.C_GetAttributeValue(h, obj, a, 1))
    return rv1, len1, rv2, int(a.ulValueLen), bytes(ffi.buffer(buf, BUF))


STATES = (CKS.RO_PUBLIC_SESSION, CKS.RW_PUBLIC_SESSION,
          CKS.RO_USER_FUNCTIONS, CKS.RW_USER_FUNCTIONS, CKS.RW_SO_FUNCTIONS)


@pytest.mark.parametrize("state", STATES, ids=lambda s: CKS(s).name)
def test_every_attribute_of_every_key_in_every_state(world: World,
                                                     state: int) -> None:
    lib = world.tok.lib
    h = enter(world.tok, state)
    checked = 0
    for key in world.keys:
        secrets = key.case.secrets
        for t in ALL_TYPES:
            rv1, len1, rv2, len2, buf = read_one(lib, h, key.handle, t)
            where = (key.case.name, key.protection, hex(t))
            given = any(a == t for a, _ in key.case.attrs)
            if t in SECRET_ATTRS and (given or rv1 != "ATTRIBUTE_TYPE_INVALID"):
                # Material the key holds, given or computed (e.g. an
                # expanded PQC private key): never readable.
                assert (rv1, len1) == ("ATTRIBUTE_SENSITIVE",
                                       CK_UNAVAILABLE_INFORMATION), where
                assert (rv2, len2) == ("ATTRIBUTE_SENSITIVE",
                                       CK_UNAVAILABLE_INFORMATION), where
                assert buf in (b"", bytes([PATTERN]) * BUF), where
                checked += 1
                continue
            # Every other attribute: any defined outcome, but never the
            # material, raw or hex.
            assert rv1 in ("OK", "ATTRIBUTE_TYPE_INVALID",
                           "ATTRIBUTE_SENSITIVE"), where
            assert rv2 == rv1, where
            if rv2 == "OK":
                assert len2 == len1 <= BUF, where
                assert not leaked(buf[:len2], secrets), where
            else:
                assert len2 == CK_UNAVAILABLE_INFORMATION, where
                assert buf in (b"", bytes([PATTERN]) * BUF), where
    # 21 key types x 3 protections, each at least one secret attribute.
    assert checked >= 63


@pytest.mark.parametrize("state", (CKS.RO_PUBLIC_SESSION,
                                   CKS.RW_USER_FUNCTIONS),
                         ids=lambda s: CKS(s).name)
def test_whole_template_at_once(world: World, state: int) -> None:
    """All attribute types in one call: the call reports a failure, the
    secret entries are unavailable, the others are filled -- and no
    buffer holds the material."""
    lib = world.tok.lib
    h = enter(world.tok, state)
    plain = [t for t in ALL_TYPES if not t & ARRAY]
    for key in world.keys:
        attrs = ffi.new("CK_ATTRIBUTE[]", len(plain))
        bufs = []
        for i, t in enumerate(plain):
            b = ffi.new("CK_BYTE[]", bytes([PATTERN]) * 8192)
            bufs.append(b)
            attrs[i].type, attrs[i].pValue, attrs[i].ulValueLen = t, b, 8192
        rv = name(lib.C_GetAttributeValue(h, key.handle, attrs, len(plain)))
        assert rv in ("ATTRIBUTE_SENSITIVE", "ATTRIBUTE_TYPE_INVALID")
        filled = 0
        for i, t in enumerate(plain):
            n = int(attrs[i].ulValueLen)
            if t in SECRET_ATTRS and any(a == t for a, _ in key.case.attrs):
                assert n == CK_UNAVAILABLE_INFORMATION
            if n != CK_UNAVAILABLE_INFORMATION:
                filled += 1
                assert not leaked(bytes(ffi.buffer(bufs[i], n)),
                                  key.case.secrets), (key.case.name, hex(t))
        assert filled >= 10, key.case.name
