"""Approved-only mode and keys made before it was switched on, through
build/libcraton_hsm.so (SP 800-131A Rev.2 "legacy use"): an RSA-1024
token key stored with the mode off may still verify once the mode is
on, but not sign (CKR_KEY_SIZE_RANGE).  Its own module: it initialises
the library twice on one data dir."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from craton_hsm._generated_ck import CKA, CKM, CKO
from tests.abi.conftest import libpath  # noqa: F401  (fixture)
from tests.abi.test_hostile import ffi
from tests.core import p11kit as kit
from tests.core.p11kit import TRUE, ulong

APPROVED = "[algorithms]\nfips_approved_only = true\n"


def _find(tok: kit.Token, cls: int) -> int:
    lib, h = tok.lib, tok.h
    t = tok.template((CKA.CLASS, ulong(cls)))
    assert kit.rv_name(lib.C_FindObjectsInit(h, t, 1)) == "OK"
    found, n = ffi.new("CK_OBJECT_HANDLE[1]"), ffi.new("CK_ULONG *")
    assert kit.rv_name(lib.C_FindObjects(h, found, 1, n)) == "OK"
    assert kit.rv_name(lib.C_FindObjectsFinal(h)) == "OK"
    assert int(n[0]) == 1
    return int(found[0])


def test_legacy_key_may_verify_but_not_sign(
        libpath: Path, tmp_path: Path) -> None:  # noqa: F811
    small = rsa.generate_private_key(65537, 1024)
    with kit.module(libpath, tmp_path) as tok:
        kit.rsa_pair(tok, small, (CKA.TOKEN, TRUE))
    sig = small.sign(kit.DATA, padding.PKCS1v15(), hashes.SHA256())
    with kit.module(libpath, tmp_path, APPROVED, fresh=False) as tok:
        m = tok.mechanism(CKM.SHA256_RSA_PKCS)
        assert kit.rv_name(tok.lib.C_SignInit(
            tok.h, m, _find(tok, CKO.PRIVATE_KEY))) == "KEY_SIZE_RANGE"
        assert kit.rv_name(tok.lib.C_VerifyInit(
            tok.h, m, _find(tok, CKO.PUBLIC_KEY))) == "OK"
        assert kit.verify(tok, kit.DATA, sig) == "OK"
