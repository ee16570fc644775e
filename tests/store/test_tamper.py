"""Tampered, swapped, truncated and foreign token records, seen through the
built libcraton_hsm.so (cffi ABI mode, harness of tests/abi/test_hostile).

Issue 4 "Tamper and corruption": every sealed value is authenticated and
bound to its object, token and public attributes (core/vault.py); a bad
record is CKR_DEVICE_ERROR on that object only, logged with its
CKA_UNIQUE_ID (never a secret), and the other objects keep working in the
same session.  A foreign slot file is CKR_TOKEN_NOT_RECOGNIZED on that
slot, never a traceback, and the other slots work.

The token: an AES key (sensitive), an HMAC key (non-sensitive, so its
CKA_VALUE is read through C_GetAttributeValue), an EC P-256 private key
and a private data object -- four sealed records of 60-80 bytes -- plus a
public data object with no sealed part.

Exhaustive flips (every byte of every sealed record, and of one public
attribute record) run against a live session: the test edits the file
with the sqlite3 module, bumps the generation row and moves the change
signal (store/signal.py), so the module
reloads and re-opens the record exactly as after a login.  That costs a
few ms per flip instead of a 0.25 s PBKDF2 login.  The offline case the
issue names (edit while no process has the file open, then
C_Initialize + C_Login) is covered by a sample of every structural
region of each blob (version byte, nonce, ciphertext start and end, tag
end): GCM authenticates the whole blob, so interior ciphertext bytes
behave like the sampled ones, which the live test shows for all of them.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from craton_hsm._generated_ck import CKA, CKM, CKU
from craton_hsm.store.signal import ChangeSignal, signal_path

from .cabi import NULL, SO_PIN, USER_PIN, Client, db_rows, expect, ffi, name

AES_VALUE = bytes(range(32))
HMAC_VALUE = b"H" * 32
DATA_VALUE = b"private data value"
SEALED = ("aes", "hmac", "ec", "data")


class Live:
    """A logged-in session on the small token, with each object's use."""

    def __init__(self, c: Client, h: int, handles: dict[str, int]) -> None:
        self.c, self.h, self.handles = c, h, handles

    def use(self, label: str) -> str:
        """The CKR name of using one object in the way it is meant."""
        c, h, o = self.c, self.h, self.handles[label]
        if label == "aes":
            return name(c.encrypt(h, o)[0])
        if label == "hmac":
            rv, value = c.attr(h, o, CKA.VALUE)
            if rv == 0 and value != HMAC_VALUE:
                return "WRONG_VALUE"
            return name(rv) if rv else name(c.sign(h, o, CKM.SHA256_HMAC)[0])
        if label == "ec":
            return name(c.sign(h, o, CKM.ECDSA_SHA256)[0])
        rv, value = c.attr(h, o, CKA.VALUE)
        want = DATA_VALUE if label == "data" else b"public value"
        return "WRONG_VALUE" if rv == 0 and value != want else name(rv)

    def all(self) -> dict[str, str]:
        return {label: self.use(label) for label in self.handles}


def _build(c: Client) -> dict[str, str]:
    """Create the small token; return label -> CKA_UNIQUE_ID."""
    h = c.ready()
    made = {
        "aes": c.aes_key(h, AES_VALUE, b"aes"),
        "hmac": c.hmac_key(h, HMAC_VALUE, b"hmac"),
        "data": c.data(h, DATA_VALUE, b"data"),
        "pub": c.data(h, b"public value", b"pub", private=False),
    }
    for rv, _ in made.values():
        expect(rv, "OK")
    handles = {k: o for k, (_, o) in made.items()}
    handles["ec"] = c.token_ec_pair(h, b"ec")[1]
    return {k: c.uid(h, o) for k, o in handles.items()}


def _find(c: Client, h: int, label: str) -> int:
    tmpl = c.template((CKA.LABEL, label.encode()),
                      (CKA.PRIVATE, b"\x01" if label != "pub" else b"\x00"))
    expect(c.lib.C_FindObjectsInit(h, tmpl, 2), "OK")
    buf = ffi.new("CK_OBJECT_HANDLE[]", 4)
    n = ffi.new("CK_ULONG *")
    expect(c.lib.C_FindObjects(h, buf, 4, n), "OK")
    expect(c.lib.C_FindObjectsFinal(h), "OK")
    assert n[0] == 1, f"{label}: found {n[0]} objects"
    return int(buf[0])


def _login(c: Client) -> Live:
    h = c.open()
    expect(c.login(h, CKU.USER, USER_PIN), "OK")
    return Live(c, h, {k: _find(c, h, k)
                       for k in ("aes", "hmac", "ec", "data", "pub")})


@pytest.fixture
def token(lib: Any, data_env: Path) -> tuple[Client, dict[str, str], Path]:
    """The small token, built and then closed (C_Finalize)."""
    expect(lib.C_Initialize(NULL), "OK")
    try:
        uids = _build(Client(lib))
    finally:
        expect(lib.C_Finalize(NULL), "OK")
    return Client(lib), uids, data_env / "slot-0.sqlite3"


@pytest.fixture
def live(token: tuple[Client, dict[str, str], Path]
         ) -> Iterator[tuple[Live, dict[str, str], Editor]]:
    c, uids, path = token
    expect(c.lib.C_Initialize(NULL), "OK")
    editor = Editor(path)
    try:
        yield _login(c), uids, editor
    finally:
        editor.db.close()
        editor.signal.close()
        expect(c.lib.C_Finalize(NULL), "OK")


class Editor:
    """Writes into a slot file the way an attacker with file access can,
    bumping the generation and moving the change signal beside the file
    (store/signal.py, the same write protocol as the module's) so a live
    module reloads."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.signal = ChangeSignal(signal_path(path), writable=True)

    def put(self, uid: str, column: str, value: bytes | None) -> None:
        assert column in ("attrs", "secret")
        self.db.execute("BEGIN IMMEDIATE")
        self.signal.begin_write()
        try:
            self.db.execute(f"UPDATE objects SET {column} = ? WHERE uid = ?",
                            (value, uid))
            self.db.execute("UPDATE generation SET value = value + 1")
            self.db.execute("COMMIT")
        finally:
            self.signal.end_write()

    def row(self, uid: str) -> tuple[bytes, bytes | None]:
        attrs, secret = self.db.execute(
            "SELECT attrs, secret FROM objects WHERE uid = ?",
            (uid,)).fetchone()
        return attrs, secret


def flip(blob: bytes, i: int) -> bytes:
    b = bytearray(blob)
    b[i] ^= 0xFF
    return bytes(b)


OK_ALL = dict.fromkeys(("aes", "hmac", "ec", "data", "pub"), "OK")


def _expect_only_broken(live: Live, bad: set[str], what: str) -> None:
    got = live.all()
    want = {k: "DEVICE_ERROR" if k in bad else "OK" for k in OK_ALL}
    assert got == want, what


def _sweep(live: Live, editor: Editor, label: str, uid: str,
           column: str, caplog: pytest.LogCaptureFixture,
           check_log: Callable[..., None]) -> int:
    """Flip every byte of one record's column; return the count."""
    attrs, secret = editor.row(uid)
    original = attrs if column == "attrs" else secret
    assert original is not None
    for i in range(len(original)):
        caplog.clear()
        editor.put(uid, column, flip(original, i))
        _expect_only_broken(live, {label}, f"{label}.{column} byte {i}")
        check_log(uid, f"{label}.{column} byte {i}")
        # Back to the original: the object works again (no lasting harm),
        # and the next flip is a fresh change that must be logged.
        editor.put(uid, column, original)
        assert live.use(label) == "OK", f"{label} restored after byte {i}"
    assert live.all() == OK_ALL
    return len(original)


def _log_checker(caplog: pytest.LogCaptureFixture) -> Callable[..., None]:
    secrets = [v.hex() for v in (AES_VALUE, HMAC_VALUE, DATA_VALUE)]

    def check(uid: str, what: str = "") -> None:
        text = "\n".join(r.getMessage() for r in caplog.records
                         if r.name == "craton_hsm")
        assert f"object {uid}" in text, what
        for s in secrets:
            assert s not in text.lower()
        assert DATA_VALUE.decode() not in text
    return check


# --- sealed secrets: every byte of every record --------------------------

def test_every_byte_of_every_sealed_record_is_detected_live(
        live, caplog):
    session, uids, editor = live
    caplog.set_level(logging.WARNING, logger="craton_hsm")
    assert session.all() == OK_ALL
    flipped = {label: _sweep(session, editor, label, uids[label], "secret",
                             caplog, _log_checker(caplog))
               for label in SEALED}
    # Four records of 29 bytes of framing plus their sealed attributes.
    assert all(n >= 29 + 16 for n in flipped.values()), flipped
    assert sum(flipped.values()) >= 200


def test_offline_flip_detected_at_login_others_keep_working(
        token, caplog):
    c, uids, path = token
    caplog.set_level(logging.WARNING, logger="craton_hsm")
    rows = db_rows(path)
    check = _log_checker(caplog)
    rounds = 0
    for label in SEALED:
        blob = rows[uids[label]][1]
        assert blob is not None
        # version byte, a nonce byte, first ciphertext byte, last tag byte
        for i in (0, 5, 13, len(blob) - 1):
            with sqlite3.connect(path) as db:
                db.execute("UPDATE objects SET secret = ? WHERE uid = ?",
                           (flip(blob, i), uids[label]))
            db.close()
            caplog.clear()
            expect(c.lib.C_Initialize(NULL), "OK")
            try:
                _expect_only_broken(_login(c), {label}, f"{label} byte {i}")
            finally:
                expect(c.lib.C_Finalize(NULL), "OK")
            check(uids[label])
            with sqlite3.connect(path) as db:
                db.execute("UPDATE objects SET secret = ? WHERE uid = ?",
                           (blob, uids[label]))
            db.close()
            rounds += 1
    assert rounds == 16


def test_swapped_truncated_and_removed_secrets(live, caplog):
    session, uids, editor = live
    caplog.set_level(logging.WARNING, logger="craton_hsm")
    check = _log_checker(caplog)
    aes = editor.row(uids["aes"])[1]
    hmac = editor.row(uids["hmac"])[1]
    assert aes is not None and hmac is not None
    # Swapped between two objects: both fail (the AAD names the uid).
    editor.put(uids["aes"], "secret", hmac)
    editor.put(uids["hmac"], "secret", aes)
    _expect_only_broken(session, {"aes", "hmac"}, "swap")
    check(uids["aes"])
    check(uids["hmac"])
    editor.put(uids["aes"], "secret", aes)
    editor.put(uids["hmac"], "secret", hmac)
    assert session.all() == OK_ALL
    for cut in (aes[:-1], aes[:28], aes[:1], b"", aes + b"\x00"):
        caplog.clear()
        editor.put(uids["aes"], "secret", cut)
        _expect_only_broken(session, {"aes"}, f"length {len(cut)}")
        check(uids["aes"])
    editor.put(uids["aes"], "secret", aes)
    # The sealed column set to NULL: a key without its material.
    caplog.clear()
    editor.put(uids["ec"], "secret", None)
    _expect_only_broken(session, {"ec"}, "NULL secret")
    check(uids["ec"])
    editor.put(uids["ec"], "secret", editor.row(uids["ec"])[1])


# --- public attribute records (the codec) --------------------------------

def test_every_byte_of_a_public_attribute_record_live(live, caplog):
    """A flip either breaks decoding (damaged record) or changes an
    attribute the sealed blob is bound to: DEVICE_ERROR on that key only.
    Turning CKA_SENSITIVE off in the file no longer reveals the key."""
    session, uids, editor = live
    caplog.set_level(logging.WARNING, logger="craton_hsm")
    n = _sweep(session, editor, "aes", uids["aes"], "attrs", caplog,
               _log_checker(caplog))
    assert n > 100


def test_damaged_public_record_without_secret_is_isolated_and_destroyable(
        live, caplog):
    session, uids, editor = live
    caplog.set_level(logging.WARNING, logger="craton_hsm")
    attrs = editor.row(uids["pub"])[0]
    editor.put(uids["pub"], "attrs", attrs[:-3])       # codec: truncated
    _expect_only_broken(session, {"pub"}, "truncated public record")
    _log_checker(caplog)(uids["pub"])
    # The damaged object can be cleaned up, and is gone from the file.
    expect(session.c.lib.C_DestroyObject(session.h, session.handles["pub"]),
           "OK")
    assert uids["pub"] not in db_rows(editor_path(editor))
    del session.handles["pub"]
    assert session.all() == {k: "OK" for k in session.handles}


def editor_path(editor: Editor) -> Path:
    return Path(editor.db.execute("PRAGMA database_list").fetchone()[2])


# --- foreign or unreadable slot files ------------------------------------

def _foreign_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('not a token')")
    db.close()


@pytest.mark.parametrize("kind", ["garbage", "foreign-sqlite", "empty-header"])
def test_foreign_slot_file_fails_that_slot_only(lib, data_env, caplog, kind):
    caplog.set_level(logging.WARNING, logger="craton_hsm")
    data_env.mkdir(mode=0o700)
    path = data_env / "slot-0.sqlite3"
    if kind == "garbage":
        path.write_bytes(b"\x7fELF not a database " * 300)
    elif kind == "foreign-sqlite":
        _foreign_sqlite(path)
    else:
        path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4080)
    before = path.read_bytes()
    expect(lib.C_Initialize(NULL), "OK")
    try:
        c = Client(lib)
        info = ffi.new("CK_TOKEN_INFO *")
        h = ffi.new("CK_SESSION_HANDLE *")
        count = ffi.new("CK_ULONG *")
        expect(lib.C_GetSlotList(0, NULL, count), "OK")
        assert count[0] >= 4
        expect(lib.C_GetTokenInfo(0, info), "TOKEN_NOT_RECOGNIZED")
        expect(lib.C_OpenSession(0, 6, NULL, NULL, h), "TOKEN_NOT_RECOGNIZED")
        # Re-initialising must not overwrite a file that is not ours.
        expect(lib.C_InitToken(0, SO_PIN, len(SO_PIN), b"x".ljust(32)),
               "TOKEN_NOT_RECOGNIZED")
        # Slot 1 is unaffected.
        s1 = c.ready(1)
        rv, key = c.aes_key(s1, AES_VALUE)
        expect(rv, "OK")
        expect(c.encrypt(s1, key)[0], "OK")
    finally:
        expect(lib.C_Finalize(NULL), "OK")
    assert path.read_bytes() == before
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"{path} is not a Craton HSM token file" in text or \
        f"{path} is an SQLite database of another application" in text
    assert "Traceback" not in text
