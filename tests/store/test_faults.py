"""Resource faults and limits through the built libcraton_hsm.so (cffi ABI).

Issue 4 "Resource faults" and docs/configuration.md "Storage errors":
a full disk is CKR_DEVICE_MEMORY, a read-only data dir CKR_DEVICE_ERROR
for writes while reads (and login) keep working, and nothing stored
before is lost.  [limits] max_objects_per_token is CKR_DEVICE_MEMORY and
max_sessions CKR_SESSION_COUNT.

Disk full and read-only use a real filesystem: an 8 MiB tmpfs mounted on
the test's tmp_path (the suite runs as root in CI; without the right to
mount the test fails and says so -- it never skips).  chmod cannot make
a directory read-only for root, so the read-only case remounts the
tmpfs ``ro``.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from craton_hsm._generated_ck import CKA, CKF, CKU

from .cabi import NULL, USER_PIN, Client, expect, ffi, name

AES_VALUE = bytes(range(32))


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, (
        f"mount {' '.join(args)} failed ({done.stderr.strip()}): the "
        "disk-full and read-only tests need root and mount(8), as in CI")


@pytest.fixture
def small_fs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[Path]:
    """An 8 MiB tmpfs; CRATON_HSM_DATA_DIR is <mount>/data and the audit
    trail lives elsewhere, so these tests see the store's behaviour (the
    trail's own full disk is the last test here)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    _mount("-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mnt))
    monkeypatch.setenv("CRATON_HSM_DATA_DIR", str(mnt / "data"))
    cfg = tmp_path / "audit-elsewhere.toml"
    cfg.write_text(f'[audit]\npath = "{tmp_path / "audit"}"\n')
    monkeypatch.setenv("CRATON_HSM_CONFIG", str(cfg))
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path: Path) -> None:
    """Write until the filesystem is full (it may be full already: the
    token's WAL can take the last blocks, then even the open fails)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    except OSError as e:
        assert e.errno == errno.ENOSPC
        return
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)


def _stored(c: Client, h: int) -> dict[str, Any]:
    """Label -> proof of use for the objects made by _populate."""
    out: dict[str, Any] = {}
    for label in ("aes", "d0", "d1", "d2"):
        tmpl = c.template((CKA.LABEL, label.encode()))
        expect(c.lib.C_FindObjectsInit(h, tmpl, 1), "OK")
        buf = ffi.new("CK_OBJECT_HANDLE[]", 2)
        n = ffi.new("CK_ULONG *")
        expect(c.lib.C_FindObjects(h, buf, 2, n), "OK")
        expect(c.lib.C_FindObjectsFinal(h), "OK")
        assert n[0] == 1, f"{label} missing"
        if label == "aes":
            rv, ct = c.encrypt(h, int(buf[0]))
            expect(rv, "OK")
            out[label] = ct
        else:
            rv, value = c.attr(h, int(buf[0]), CKA.VALUE)
            expect(rv, "OK")
            out[label] = value
    return out


def _populate(c: Client, h: int) -> None:
    expect(c.aes_key(h, AES_VALUE, b"aes")[0], "OK")
    for i in range(3):
        expect(c.data(h, bytes([i]) * 1000, f"d{i}".encode())[0], "OK")


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as db:
        result = db.execute("PRAGMA integrity_check").fetchone()[0]
    db.close()
    return str(result)


def test_disk_full_is_device_memory_and_loses_nothing(lib, small_fs):
    c = Client(lib)
    expect(lib.C_Initialize(NULL), "OK")
    try:
        h = c.ready()
        _populate(c, h)
        before = _stored(c, h)
        filler = small_fs / "filler"
        _fill(filler)
        # Big objects until the store itself hits ENOSPC.
        results = [name(c.data(h, os.urandom(64 * 1024),
                               f"big{i}".encode())[0]) for i in range(40)]
        assert "DEVICE_MEMORY" in results, results
        assert set(results) <= {"OK", "DEVICE_MEMORY"}, results
        assert name(c.gen_aes(h, b"gen")[0]) == "DEVICE_MEMORY"
        # Everything stored before still works in the same session.
        assert _stored(c, h) == before
        filler.unlink(missing_ok=True)
        expect(c.gen_aes(h, b"gen")[0], "OK")
        expect(c.data(h, b"after", b"after")[0], "OK")
    finally:
        expect(lib.C_Finalize(NULL), "OK")
    # ... and after a restart.
    expect(lib.C_Initialize(NULL), "OK")
    try:
        h = c.open()
        expect(c.login(h, CKU.USER, USER_PIN), "OK")
        assert _stored(c, h) == before
    finally:
        expect(lib.C_Finalize(NULL), "OK")
    assert _integrity(small_fs / "data" / "slot-0.sqlite3") == "ok"


def test_read_only_data_dir_reads_work_writes_device_error(lib, small_fs):
    c = Client(lib)
    expect(lib.C_Initialize(NULL), "OK")
    try:
        h = c.ready()
        _populate(c, h)
        before = _stored(c, h)
    finally:
        expect(lib.C_Finalize(NULL), "OK")
    _mount("-o", "remount,ro", str(small_fs))
    expect(lib.C_Initialize(NULL), "OK")
    try:
        h = c.open()
        expect(c.login(h, CKU.USER, USER_PIN), "OK")
        assert _stored(c, h) == before
        expect(c.data(h, b"x", b"new")[0], "DEVICE_ERROR")
        expect(c.gen_aes(h)[0], "DEVICE_ERROR")
        tmpl = c.template((CKA.LABEL, b"d0"))
        expect(lib.C_FindObjectsInit(h, tmpl, 1), "OK")
        buf = ffi.new("CK_OBJECT_HANDLE[]", 1)
        n = ffi.new("CK_ULONG *")
        expect(lib.C_FindObjects(h, buf, 1, n), "OK")
        expect(lib.C_FindObjectsFinal(h), "OK")
        expect(lib.C_DestroyObject(h, buf[0]), "DEVICE_ERROR")
        expect(lib.C_SetPIN(h, USER_PIN, len(USER_PIN), b"5678", 4),
               "DEVICE_ERROR")
        assert _stored(c, h) == before
    finally:
        expect(lib.C_Finalize(NULL), "OK")
    _mount("-o", "remount,rw", str(small_fs))
    expect(lib.C_Initialize(NULL), "OK")
    try:
        h = c.open()
        expect(c.login(h, CKU.USER, USER_PIN), "OK")
        assert _stored(c, h) == before
        expect(c.data(h, b"x", b"new")[0], "OK")
    finally:
        expect(lib.C_Finalize(NULL), "OK")


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            body: str) -> None:
    cfg = tmp_path / "craton.toml"
    cfg.write_text(body)
    monkeypatch.setenv("CRATON_HSM_CONFIG", str(cfg))
    monkeypatch.setenv("CRATON_HSM_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.parametrize("mode", ["persistent", "memory"])
def test_max_objects_per_token_is_device_memory(lib, tmp_path, monkeypatch,
                                                mode):
    _config(tmp_path, monkeypatch,
            f'[storage]\nmode = "{mode}"\n'
            "[limits]\nmax_objects_per_token = 3\n")
    c = Client(lib)
    expect(lib.C_Initialize(NULL), "OK")
    try:
        h = c.ready()
        made = [c.data(h, b"v", f"o{i}".encode()) for i in range(3)]
        assert [name(rv) for rv, _ in made] == ["OK"] * 3
        expect(c.data(h, b"v", b"o3")[0], "DEVICE_MEMORY")
        expect(c.gen_aes(h)[0], "DEVICE_MEMORY")
        # Session objects are not token objects: not limited.
        expect(c.create(h, (CKA.CLASS, b"\0" * ffi.sizeof("CK_ULONG")),
                        (CKA.VALUE, b"s"))[0], "OK")
        # Replacing an existing object is always allowed.
        arr = c.template((CKA.LABEL, b"renamed"))
        expect(lib.C_SetAttributeValue(h, made[0][1], arr, 1), "OK")
        expect(lib.C_DestroyObject(h, made[1][1]), "OK")
        expect(c.gen_aes(h)[0], "OK")
        assert c.count(h) == 4          # 3 token objects + 1 session
    finally:
        expect(lib.C_Finalize(NULL), "OK")


def test_max_sessions_is_session_count(lib, tmp_path, monkeypatch):
    _config(tmp_path, monkeypatch, "[limits]\nmax_sessions = 2\n")
    expect(lib.C_Initialize(NULL), "OK")
    try:
        c = Client(lib)
        c.init_token(0)
        flags = CKF.SERIAL_SESSION
        hs = [ffi.new("CK_SESSION_HANDLE *") for _ in range(3)]
        expect(lib.C_OpenSession(0, flags, NULL, NULL, hs[0]), "OK")
        expect(lib.C_OpenSession(0, flags, NULL, NULL, hs[1]), "OK")
        expect(lib.C_OpenSession(0, flags | CKF.RW_SESSION, NULL, NULL,
                                 hs[2]), "SESSION_COUNT")
        info = ffi.new("CK_TOKEN_INFO *")
        expect(lib.C_GetTokenInfo(0, info), "OK")
        assert info.ulMaxSessionCount == 2
        expect(lib.C_CloseSession(hs[0][0]), "OK")
        expect(lib.C_OpenSession(0, flags, NULL, NULL, hs[2]), "OK")
    finally:
        expect(lib.C_Finalize(NULL), "OK")


def test_full_audit_disk_fails_closed_then_recovers(lib, small_fs, tmp_path,
                                                    monkeypatch):
    """Only the audit trail on the small file system: once a record does
    not fit, audited calls fail with CKR_DEVICE_MEMORY (fail closed, no
    torn line left); when space returns, one audit-gap record names what
    was lost and the chain still verifies."""
    audit_dir = small_fs / "audit"
    cfg = tmp_path / "audit-on-small.toml"
    cfg.write_text(f'[audit]\npath = "{audit_dir}"\n')
    monkeypatch.setenv("CRATON_HSM_CONFIG", str(cfg))
    monkeypatch.setenv("CRATON_HSM_DATA_DIR", str(tmp_path / "data"))
    c = Client(lib)
    expect(lib.C_Initialize(NULL), "OK")
    try:
        h = c.ready()
        filler = small_fs / "filler"
        _fill(filler)
        results = [name(c.gen_aes(h, b"g")[0]) for _ in range(100)]
        assert "DEVICE_MEMORY" in results, results
        first = results.index("DEVICE_MEMORY")
        assert set(results[first:]) == {"DEVICE_MEMORY"}, results
        filler.unlink()
        expect(c.gen_aes(h, b"after")[0], "OK")
    finally:
        expect(lib.C_Finalize(NULL), "OK")
    lines = (audit_dir / "audit.log").read_bytes().splitlines()
    gaps = [json.loads(x) for x in lines if b'"audit-gap"' in x]
    # Near the end of the disk a short gap record may fit where a longer
    # record did not, so there can be several gaps; each names only
    # calls that got CKR_DEVICE_MEMORY.
    lost = [name for g in gaps for name in g["lost"]]
    assert gaps and set(lost) == {"C_GenerateKey"}
    assert len(lost) <= results.count("DEVICE_MEMORY")
    verify = subprocess.run(
        [str(Path(sys.executable).parent / "craton-hsm"), "audit", "verify",
         "--path", str(audit_dir), "--json"],
        capture_output=True, text=True, check=False, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
