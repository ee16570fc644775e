"""Crypto profiles through build/libcraton_hsm.so (issue 5: "changing the
profile in config keeps old PINs working"): a token made under
governance (PBKDF2) keeps its PINs after the config moves to
leading-edge; a PIN set there is stored as Argon2id (read back from the
slot file) and still logs in after the config moves back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from craton_hsm._generated_ck import CKU
from craton_hsm.password_kdf import ARGON2ID, PBKDF2
from tests.abi.conftest import libpath  # noqa: F401  (fixture)
from tests.abi.test_hostile import SO_PIN, USER_PIN
from tests.core import p11kit as kit

NEW_PIN = b"leading-edge-pin"


def _profile(name: str) -> str:
    return f'[crypto]\nprofile = "{name}"\n'


def _kdfs(tmp: Path) -> tuple[str, int, str, int]:
    with sqlite3.connect(tmp / "data" / "slot-0.sqlite3") as db:
        row = db.execute("SELECT so_pin_kdf, so_pin_iterations, "
                         "user_pin_kdf, user_pin_iterations FROM token"
                         ).fetchone()
    return tuple(row)  # type: ignore[return-value]


def _login(tok: kit.Token, role: int, pin: bytes) -> str:
    h = tok.open()
    return kit.rv_name(tok.login(h, role, pin))


def test_profile_change_keeps_old_pins_both_ways(
        libpath: Path, tmp_path: Path) -> None:  # noqa: F811
    with kit.module(libpath, tmp_path, _profile("governance")):
        pass
    assert _kdfs(tmp_path) == (PBKDF2, 600_000, PBKDF2, 600_000)
    with kit.module(libpath, tmp_path, _profile("leading-edge"),
                    fresh=False) as tok:
        # fresh=False logged in with the governance-era user PIN.
        assert kit.rv_name(tok.lib.C_SetPIN(
            tok.h, USER_PIN, len(USER_PIN), NEW_PIN, len(NEW_PIN))) == "OK"
        assert kit.rv_name(tok.lib.C_Logout(tok.h)) == "OK"
        assert _login(tok, CKU.SO, SO_PIN) == "OK"
    assert _kdfs(tmp_path) == (PBKDF2, 600_000, ARGON2ID, 2)
    with kit.module(libpath, tmp_path, _profile("governance"),
                    fresh=False, pin=NEW_PIN) as tok:
        assert kit.rv_name(tok.lib.C_Logout(tok.h)) == "OK"
        assert _login(tok, CKU.USER, USER_PIN) == "PIN_INCORRECT"
        assert _login(tok, CKU.USER, NEW_PIN) == "OK"
    assert _kdfs(tmp_path)[2:] == (ARGON2ID, 2)


def test_leading_edge_token_from_scratch(
        libpath: Path, tmp_path: Path) -> None:  # noqa: F811
    with kit.module(libpath, tmp_path, _profile("leading-edge")):
        pass
    assert _kdfs(tmp_path) == (ARGON2ID, 2, ARGON2ID, 2)
