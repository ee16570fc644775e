"""The trail's guarantees through the built module: one chain from
concurrent processes, rotation that keeps the chain, no secret in any
log file, fail closed when the log cannot be written, and the start-up
check of the chain's tail (latch or warn)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from craton_hsm import audit, latch
from craton_hsm._generated_ck import CKA, CKK, CKM, CKO, CKU
from craton_hsm.audit import files
from craton_hsm.audit import record as rec
from craton_hsm.audit import trail as trail_module
from craton_hsm.audit.trail import Policy, Trail
from craton_hsm.config import load_config
from tests.abi.conftest import LIB
from tests.abi.test_hostile import (
    NULL,
    SO_PIN,
    TRUE,
    Token,
    expect,
    ffi,
    name,
    ulong,
)
from tests.audit.conftest import cli, read_records, write_config

CHILD = """
import sys
from tests.abi.test_hostile import ffi, NULL
lib = ffi.dlopen(sys.argv[1])
assert lib.C_Initialize(NULL) == 0
for _ in range(int(sys.argv[2])):
    lib.C_GenerateRandom(1, NULL, 0)
assert lib.C_Finalize(NULL) == 0
"""


def test_four_processes_append_one_chain(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "CRATON_HSM_DATA_DIR": str(data),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("CRATON_HSM_CONFIG", None)
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(LIB),
                                  "60"], env=env) for _ in range(4)]
    assert [c.wait(timeout=120) for c in children] == [0] * 4
    rc, out = cli("verify", "--path", str(data / "audit"), "--json")
    assert rc == 0, out
    records = read_records(data / "audit")
    calls = [r for r in records if r["event"] == "C_GenerateRandom"]
    assert len(calls) == 240
    assert len({r["pid"] for r in calls}) == 4
    assert sum(r["event"] == "genesis" for r in records) == 1


AUDIT_USER_PIN = b"user-pin-never-logged"


def _secret_scenario(lib: Any) -> list[bytes]:
    """Token, PINs, an imported key, an extractable generated key and a
    plaintext; returns every secret the test then searches for."""
    tk = Token(lib)
    # Not the harness's "1234": four digits turn up by chance inside the
    # records' hex hashes and signatures.  Every PIN that passes through
    # the module here is searched for.
    tk.init_token()
    h = tk.open()
    expect(tk.login(h, CKU.SO, SO_PIN), "OK")
    expect(lib.C_InitPIN(h, AUDIT_USER_PIN, len(AUDIT_USER_PIN)), "OK")
    expect(lib.C_Logout(h), "OK")
    expect(tk.login(h, CKU.USER, AUDIT_USER_PIN), "OK")
    aes = bytes(range(100, 132))
    plaintext = b"attack at dawn, bring the cheese"
    key = ffi.new("CK_OBJECT_HANDLE *")
    tmpl = tk.template((CKA.CLASS, ulong(CKO.SECRET_KEY)),
                       (CKA.KEY_TYPE, ulong(CKK.AES)), (CKA.VALUE, aes),
                       (CKA.ENCRYPT, TRUE), (CKA.TOKEN, TRUE))
    expect(lib.C_CreateObject(h, tmpl, 5, key), "OK")
    expect(lib.C_EncryptInit(h, tk.mechanism(CKM.AES_ECB), key[0]), "OK")
    out, n = ffi.new("CK_BYTE[64]"), ffi.new("CK_ULONG *", 64)
    expect(lib.C_Encrypt(h, plaintext, len(plaintext), out, n), "OK")
    gen = ffi.new("CK_OBJECT_HANDLE *")
    expect(lib.C_GenerateKey(h, tk.mechanism(CKM.AES_KEY_GEN), tk.template(
        (CKA.VALUE_LEN, ulong(32)), (CKA.EXTRACTABLE, TRUE),
        (CKA.SENSITIVE, b"\0")), 3, gen), "OK")
    value = ffi.new("CK_BYTE[32]")
    attr = ffi.new("CK_ATTRIBUTE *", {"type": CKA.VALUE, "pValue": value,
                                      "ulValueLen": 32})
    expect(lib.C_GetAttributeValue(h, gen[0], attr, 1), "OK")
    for _ in range(260):        # enough records to rotate at 64 KiB
        lib.C_GenerateRandom(h, ffi.new("CK_BYTE[8]"), 8)
    return [SO_PIN, AUDIT_USER_PIN, aes, plaintext, bytes(value)]


def test_no_secret_in_any_log_file_and_rotation_keeps_the_chain(
        lib, tmp_path, monkeypatch):
    monkeypatch.setenv("CRATON_HSM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRATON_HSM_CONFIG", str(write_config(
        tmp_path, max_file_bytes=65536)))
    expect(lib.C_Initialize(NULL), "OK")
    try:
        secrets = _secret_scenario(lib)
    finally:
        expect(lib.C_Finalize(NULL), "OK")
    audit = tmp_path / "data" / "audit"
    logs = sorted(audit.glob("*.log"))
    assert len(logs) >= 2                           # rotated
    text = b"".join(p.read_bytes() for p in logs)
    for secret in secrets:
        for form in (secret, secret.hex().encode(),
                     base64.b64encode(secret)):
            assert form not in text
    rc, out = cli("verify", "--path", str(audit), "--json")
    assert rc == 0, out
    assert len(out["files"]) == len(logs)
    first = json.loads((audit / "audit.log").read_text().splitlines()[0])
    assert first["event"] == "rotate"
    assert first["prev_file"] == logs[-2].name


def test_audit_path_that_cannot_be_a_directory_fails_initialize(
        lib, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("CRATON_HSM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRATON_HSM_CONFIG", str(write_config(
        tmp_path, path=str(blocker / "audit"))))
    expect(lib.C_Initialize(NULL), "DEVICE_ERROR")
    expect(lib.C_GetInfo(ffi.new("CK_INFO *")), "CRYPTOKI_NOT_INITIALIZED")


def test_unwritable_log_fails_closed(lib, tmp_path, monkeypatch):
    monkeypatch.setenv("CRATON_HSM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CRATON_HSM_CONFIG", raising=False)
    expect(lib.C_Initialize(NULL), "OK")
    try:
        tk = Token(lib)
        h = tk.ready()
        log = tmp_path / "data" / "audit" / "audit.log"
        log.unlink()
        log.symlink_to("/dev/full")     # every write: ENOSPC
        buf = ffi.new("CK_BYTE[8]")
        expect(lib.C_GenerateRandom(h, buf, 8), "DEVICE_ERROR")
        # From now on refused before acting, even key use.
        _, priv = (0, 0)
        expect(lib.C_SignInit(h, tk.mechanism(CKM.ECDSA), priv),
               "DEVICE_ERROR")
        expect(lib.C_CloseSession(h), "OK")
    finally:
        expect(lib.C_Finalize(NULL), "OK")


def _break_tail(audit: Path) -> None:
    log = audit / "audit.log"
    lines = log.read_text().splitlines(True)
    record = json.loads(lines[-3])
    record["rv"] = "CKR_FORGED"
    lines[-3] = json.dumps(record, sort_keys=True,
                           separators=(",", ":")) + "\n"
    log.write_text("".join(lines))


@pytest.mark.parametrize("policy", ["latch", "warn"])
def test_broken_chain_at_start_up(lib, tmp_path, monkeypatch, policy):
    monkeypatch.setenv("CRATON_HSM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRATON_HSM_CONFIG", str(write_config(
        tmp_path, on_broken_chain=policy)))
    expect(lib.C_Initialize(NULL), "OK")
    expect(lib.C_Finalize(NULL), "OK")
    _break_tail(tmp_path / "data" / "audit")
    expect(lib.C_Initialize(NULL), "OK")
    try:
        failure = latch.failure()
        if policy == "latch":
            assert failure is not None and failure.test == "audit-chain"
            expect(lib.C_GenerateRandom(0, NULL, 0), "GENERAL_ERROR")
        else:
            assert failure is None
        broken = [r for r in read_records(tmp_path / "data" / "audit")
                  if r["event"] == "chain-broken"]
        assert len(broken) == 1 and "hash does not match" in \
            broken[0]["detail"]
    finally:
        lib.C_Finalize(NULL)
        latch.reset()
    name  # noqa: B018


def _flock_waiters(path: Path) -> int:
    """flock(2) requests blocked on ``path`` ("->" lines of /proc/locks,
    whose device:inode field names the file)."""
    ino = str(os.stat(path).st_ino)
    with open("/proc/locks") as f:
        return sum(1 for line in f if " -> " in line and any(
            m.group(1) == ino for m in map(
                re.compile(r"^[0-9a-f]+:[0-9a-f]+:(\d+)$").match,
                line.split()) if m))


def test_start_up_check_waits_for_an_append_in_progress(data_env,
                                                         monkeypatch):
    # Another process (or a parent whose threads keep appending while
    # it forks this one) may be half way through its write(2) of a
    # record when C_Initialize reads the log's tail: the file grows page
    # by page, and an unlocked reader found a "truncated record",
    # recorded chain-broken and latched.  Here the other process's append is
    # stopped half way, deterministically, right after this process
    # opened its trail and before its start-up check reads the tail:
    # the check must wait for the append (the appenders' lock), then
    # find the chain whole.
    monkeypatch.setattr(trail_module, "_native", None)  # Python append
    directory = data_env / "audit"
    other = Trail(directory, Policy(rec.SHA256, "never", 64 << 20, 1000))
    for i in range(5):
        other.append("C_GenerateRandom", {"session": i}, False)
    half, checked = threading.Event(), threading.Event()

    def preempted(line: bytes, size: int) -> None:
        os.write(other._fd, line[:len(line) // 2])
        half.set()
        # The rest once the check waits for the lock (fixed code) or has
        # read the tail (old code); the deadline only ends a test that
        # would otherwise hang.
        deadline = time.monotonic() + 60
        while not checked.is_set() and time.monotonic() < deadline and \
                not _flock_waiters(directory / files.LOCK):
            time.sleep(0.005)
        os.write(other._fd, line[len(line) // 2:])

    monkeypatch.setattr(other, "_write_line", preempted)
    appender = threading.Thread(target=other.append, args=(
        "C_GenerateRandom", {"session": 99}, False))

    class OpenedThenPreempted(Trail):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)     # took and released the lock
            appender.start()
            assert half.wait(60)

    monkeypatch.setattr(audit, "Trail", OpenedThenPreempted)
    try:
        audit.start(load_config())      # C_Initialize's part
        checked.set()
        appender.join(60)
        assert not appender.is_alive()
        assert latch.failure() is None, latch.failure()
        audit.stop()
        records = read_records(directory)
        assert [r for r in records if r["event"] == "chain-broken"] == []
        assert [r["session"] for r in records
                if r["event"] == "C_GenerateRandom"] == [0, 1, 2, 3, 4, 99]
        rc, out = cli("verify", "--path", str(directory), "--json")
        assert rc == 0, out
    finally:
        checked.set()
        if appender.is_alive() or appender.ident is not None:
            appender.join(60)
        audit.stop_quietly()
        other.close()
        latch.reset()
