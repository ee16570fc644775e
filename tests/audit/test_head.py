"""The shared head in audit.lock (craton_hsm/audit/trail.py): appenders
that find it unchanged skip re-reading the log, so it must never let one
of them chain from a stale head -- whatever other processes did in
between: appends, rotations, dying with the lock held halfway through an
append, or an audit.lock from before the head existed.  These run the
pure-Python append (no library); test_trail.py and the library-level
test at the end run the C one (ffi/audit.c)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from craton_hsm.audit import files, verify
from craton_hsm.audit import record as rec
from craton_hsm.audit.trail import HEAD_BYTES, HEAD_MAGIC, Policy, Trail
from tests.abi.test_hostile import NULL, expect
from tests.audit.conftest import cli, read_records

ROOT = Path(__file__).resolve().parents[2]


def _policy(max_bytes: int = 64 << 20, every: int = 1000,
            algorithm: str = rec.SHA256) -> Policy:
    return Policy(algorithm, "never", max_bytes, every)


def _verified(audit: Path) -> list[dict[str, Any]]:
    public, chain_key = verify.load_keys(audit, None, None)
    report = verify.verify_dir(audit, public, chain_key)
    assert report.ok, report.as_dict()
    records = read_records(audit)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    return records


def _append(trail: Trail, n: int, tag: str) -> None:
    for i in range(n):
        trail.append("C_GenerateRandom", {"session": i, "who": tag}, False)


def test_interleaved_trails_with_rotations_keep_one_chain(tmp_path):
    # Two handles in one process lock each other out like two processes
    # (flock is per open file); small files rotate every few records, so
    # each handle often finds audit.log replaced since its last append.
    a = Trail(tmp_path, _policy(max_bytes=2048, every=7,
                                algorithm=rec.BLAKE3_KEYED))
    b = Trail(tmp_path, _policy(max_bytes=2048, every=7,
                                algorithm=rec.BLAKE3_KEYED))
    try:
        for i in range(60):
            _append(a if i % 3 else b, 1 + i % 2, "ab"[i % 2])
        a.checkpoint()
    finally:
        a.close()
        b.close()
    records = _verified(tmp_path)
    assert len(list(tmp_path.glob("audit-*.log"))) >= 5
    assert sum(r["event"] == "genesis" for r in records) == 1
    assert {r["who"] for r in records if "who" in r} == {"a", "b"}


def test_a_rotation_on_a_checkpoint_seq_does_not_skip_the_checkpoint(
        tmp_path):
    # Files of ~3 records and a checkpoint every 4: rotate records land
    # on every residue of 4, multiples included.  However records fall,
    # signed seqs are at most checkpoint_every + 2 apart (a rotate record
    # and a checkpoint may take seqs in between; docs/audit.md).
    trail = Trail(tmp_path, _policy(max_bytes=1100, every=4))
    try:
        _append(trail, 80, "r")
    finally:
        trail.close()
    records = _verified(tmp_path)
    rotates = [r["seq"] for r in records if r["event"] == "rotate"]
    assert any(s % 4 == 0 for s in rotates), rotates
    signed = [r["signed_seq"] for r in records if r["event"] == "checkpoint"]
    last = 0
    for seq in signed:
        assert seq - last <= 4 + 2, (last, seq, signed)
        last = seq
    assert records[-1]["seq"] - last <= 4 + 2, (last, signed)


CHILD = """
import sys
from pathlib import Path
from craton_hsm.audit.trail import Policy, Trail
t = Trail(Path(sys.argv[1]), Policy("sha256", "never", 4096, 50))
for i in range(int(sys.argv[2])):
    t.append("C_GenerateRandom", {"session": i}, False)
t.close()
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_processes_appending_and_rotating_keep_one_chain(tmp_path):
    first = Trail(tmp_path, _policy(max_bytes=4096, every=50))
    _append(first, 3, "parent")
    children = [subprocess.Popen([sys.executable, "-c", CHILD,
                                  str(tmp_path), "150"], env=_env())
                for _ in range(3)]
    try:
        _append(first, 100, "parent")     # meanwhile, from a stale view
    finally:
        assert [c.wait(timeout=120) for c in children] == [0] * 3
    _append(first, 3, "parent")           # after all of them
    first.close()
    records = _verified(tmp_path)
    calls = [r for r in records if r["event"] == "C_GenerateRandom"]
    assert len(calls) == 3 * 150 + 106
    assert len({r["pid"] for r in calls}) == 4
    assert len(list(tmp_path.glob("audit-*.log"))) >= 5


KILLED = """
import os, signal, sys
from pathlib import Path
import fcntl
from craton_hsm.audit.trail import Policy, Trail
t = Trail(Path(sys.argv[1]), Policy("sha256", "never", 1 << 20, 1000))
t.append("C_GenerateRandom", {"session": 1}, False)
# Die in the middle of the next append: lock held, head marked as
# changing, the record (and, with "torn", half of another) in the log.
fcntl.flock(t._lock_fd, fcntl.LOCK_EX)
t._begin()
t._write("C_GenerateRandom", {"session": 2}, False)
if sys.argv[2] == "torn":
    os.write(t._fd, b'{"event":"C_Gen')
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_process_killed_mid_append_leaves_no_stale_head(tmp_path):
    survivor = Trail(tmp_path, _policy())
    _append(survivor, 2, "survivor")
    done = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path),
                           "whole"], env=_env(), timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL
    # The kernel dropped the dead process's flock; the head it left
    # says "changing", so the survivor re-reads the log instead of
    # chaining from its own last record.
    _append(survivor, 2, "survivor")
    survivor.close()
    records = _verified(tmp_path)
    assert [r["event"] for r in records].count("C_GenerateRandom") == 6


def test_a_torn_line_left_by_a_killed_process_fails_closed(tmp_path):
    survivor = Trail(tmp_path, _policy())
    _append(survivor, 1, "survivor")
    subprocess.run([sys.executable, "-c", KILLED, str(tmp_path), "torn"],
                   env=_env(), timeout=60, check=False)
    # Chaining after a half record would hide it; the append refuses.
    try:
        survivor.append("C_GenerateRandom", {"session": 9}, False)
    except (OSError, ValueError):
        pass
    else:
        raise AssertionError("appended after a torn record")
    finally:
        survivor.close()


def test_old_or_damaged_lock_file_is_rebuilt_from_the_log(tmp_path):
    old = Trail(tmp_path, _policy())
    _append(old, 5, "old")
    old.close()
    lock = tmp_path / files.LOCK
    # An audit.lock from before the head (empty) ...
    lock.write_bytes(b"")
    t = Trail(tmp_path, _policy())
    assert lock.stat().st_size == HEAD_BYTES
    assert lock.read_bytes()[:8] == HEAD_MAGIC
    _append(t, 1, "new")
    t.close()
    # ... or garbage that even claims to be complete: a new handle
    # never trusts a head it did not see being written.
    lock.write_bytes(HEAD_MAGIC + b"\xff" * (HEAD_BYTES - 8))
    t = Trail(tmp_path, _policy())
    _append(t, 1, "new")
    t.close()
    records = _verified(tmp_path)
    assert records[-1]["seq"] == 8


def test_library_resyncs_after_a_killed_python_appender(lib, hsm):
    # The C path (ffi/audit.c) sees the epoch the killed process bumped
    # and re-reads the log, like the Python one.
    buf = lib.C_GenerateRandom
    expect(buf(0, NULL, 0), "SESSION_HANDLE_INVALID")
    done = subprocess.run([sys.executable, "-c", KILLED, str(hsm.audit),
                           "whole"], env=_env(), timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL
    expect(buf(0, NULL, 0), "SESSION_HANDLE_INVALID")
    rc, out = cli("verify", "--path", str(hsm.audit), "--json")
    assert rc == 0, out
    events = [(r["event"], r.get("pid")) for r in read_records(hsm.audit)]
    assert events[-1] == ("C_GenerateRandom", os.getpid())
