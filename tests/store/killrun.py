"""Drivers shared by tests/store/test_crash.py and tools/kill-test.py.

Everything here talks to the built module through separate processes
(tests/store/p11child.py), SIGKILLs them, and then judges the token
files the way a later host would see them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "build" / "libcraton_hsm.so"
CHILD = Path(__file__).with_name("p11child.py")
SO_PIN = "12345678"
CKR_OK = 0
CKO_DATA = 0x0
CKU_SO, CKU_USER = 0, 1
HMAC_MESSAGE = b"craton crash test"


def built_lib() -> Path:
    """The built module; `make build` runs once if it is missing."""
    if not LIB.exists():
        subprocess.run(["make", "-C", str(ROOT), "build"], check=True)
    return LIB


def child_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CRATON_HSM_CONFIG", "CRATON_HSM_DATA_DIR")}
    env["CRATON_HSM_DATA_DIR"] = str(data_dir)
    return env


def data_value(label: str) -> bytes:
    return hashlib.shake_256(label.encode()).digest(256)


class Proc:
    """A long-lived ``p11child.py serve`` process, one call per line."""

    def __init__(self, lib: Path, env: dict[str, str]) -> None:
        self.h = 0              # a session handle, for the caller
        self.p = subprocess.Popen(
            [sys.executable, str(CHILD), str(lib), "serve"], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)

    def __call__(self, op: str, *args: Any) -> Any:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise AssertionError(f"child died during {op}: "
                                 f"{self.stderr()}")
        reply = json.loads(line)
        if "error" in reply:
            raise AssertionError(f"{op}{args}: {reply['error']}")
        return reply["ok"]

    def stderr(self) -> str:
        self.p.kill()
        _, err = self.p.communicate(timeout=10)
        return err

    def close(self) -> None:
        if self.p.poll() is None:
            assert self.p.stdin is not None
            self.p.stdin.close()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def expect_ok(rv: int, what: str) -> None:
    assert rv == CKR_OK, f"{what}: CK_RV {rv:#x}"


def init_token(lib: Path, env: dict[str, str],
               user_pin: str | None = None) -> None:
    """Initialise slot 0 (and set a user PIN) in a throw-away process."""
    p = Proc(lib, env)
    try:
        expect_ok(p("initialize"), "C_Initialize")
        expect_ok(p("init_token", 0, SO_PIN, "crash"), "C_InitToken")
        if user_pin is not None:
            rv, h = p("open")
            expect_ok(rv, "C_OpenSession")
            expect_ok(p("login", h, CKU_SO, SO_PIN), "C_Login(SO)")
            expect_ok(p("init_pin", h, user_pin), "C_InitPIN")
        expect_ok(p("finalize"), "C_Finalize")
    finally:
        p.close()


# -- the churn kill test ---------------------------------------------------

@dataclass
class KillStats:
    kills: int = 0
    self_exits: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _lane(lib: Path, env: dict[str, str], record: Path, lane: int,
          cycles: int, rng: random.Random, stats: KillStats,
          lock: threading.Lock, delay_ms: tuple[int, int],
          run_base: int) -> None:
    for i in range(run_base, run_base + cycles):
        run_id = f"{lane}.{i}"
        p = subprocess.Popen(
            [sys.executable, str(CHILD), str(lib), "churn", str(record),
             run_id, str(rng.randrange(1 << 30))],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert p.stdout is not None
        ready = p.stdout.readline()
        if ready == b"ready\n":
            time.sleep(rng.uniform(*delay_ms) / 1000)
            p.send_signal(signal.SIGKILL)
        _, err = p.communicate(timeout=60)
        with lock:
            if p.returncode == -signal.SIGKILL and ready == b"ready\n":
                stats.kills += 1
            else:
                stats.self_exits.append(
                    f"run {run_id}: exit {p.returncode}: "
                    f"{err.decode(errors='replace')[-2000:]}")


def kill_cycles(lib: Path, data_dir: Path, cycles: int, seed: int,
                lanes: int = 2,
                delay_ms: tuple[int, int] = (20, 200),
                run_base: int = 0) -> KillStats:
    """``cycles`` SIGKILLs of churn children, ``lanes`` of them running
    at once on the same token; records go to data_dir/../records-*.
    Runs are numbered from ``run_base`` (labels must never repeat)."""
    env = child_env(data_dir)
    stats = KillStats()
    lock = threading.Lock()
    t0 = time.monotonic()
    per_lane = [cycles // lanes + (1 if i < cycles % lanes else 0)
                for i in range(lanes)]
    threads = [threading.Thread(
        target=_lane,
        args=(lib, env, record_path(data_dir, lane), lane, n,
              random.Random(seed * 1000 + lane), stats, lock, delay_ms,
              run_base))
        for lane, n in enumerate(per_lane)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats.seconds = time.monotonic() - t0
    return stats


def record_path(data_dir: Path, lane: int) -> Path:
    return data_dir.parent / f"records-{lane}.txt"


@dataclass
class Verdict:
    acknowledged: int        # create OK and no destroy started
    present: int             # data objects the token shows
    destroyed: int           # destroy acknowledged
    unrecorded: int          # created, killed before the record line
    problems: list[str]


def integrity(data_dir: Path) -> list[str]:
    """``PRAGMA integrity_check`` of every slot file: [] when all ok."""
    bad = []
    files = sorted(data_dir.glob("slot-*.sqlite3"))
    if not files:
        bad.append(f"no slot files in {data_dir}")
    for f in files:
        conn = sqlite3.connect(f)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
        if rows != [("ok",)]:
            bad.append(f"{f.name}: {rows}")
    return bad


def _records(data_dir: Path) -> tuple[set[str], set[str], set[str],
                                      list[str]]:
    created, started, destroyed, errors = set(), set(), set(), []
    for f in sorted(data_dir.parent.glob("records-*.txt")):
        for line in f.read_text().splitlines():
            kind, _, rest = line.partition(" ")
            # A line cut short by the kill itself is not a record.
            if kind == "C":
                created.add(rest)
            elif kind == "d":
                started.add(rest)
            elif kind == "D":
                destroyed.add(rest)
            elif kind == "E":
                errors.append(rest)
    return created, started, destroyed, errors


def verify(lib: Path, data_dir: Path) -> Verdict:
    """Judge the token after the kills, through a fresh process."""
    problems = [f"integrity: {b}" for b in integrity(data_dir)]
    created, started, destroyed, errors = _records(data_dir)
    problems += [f"child reported {e}" for e in errors]
    p = Proc(lib, child_env(data_dir))
    try:
        expect_ok(p("initialize"), "C_Initialize")
        rv, h = p("open", 0, False)
        expect_ok(rv, "C_OpenSession")
        found = p("find", h, None, CKO_DATA)
        expect_ok(found[0], "C_FindObjects")
        present: dict[str, int] = {}
        for obj in found[1:]:
            rv, label, value = p("read", h, obj)
            if rv != CKR_OK:
                problems.append(f"object {obj} unreadable: {rv:#x}")
                continue
            if label in present:
                problems.append(f"label {label} stored twice")
            present[label] = obj
            if bytes.fromhex(value) != data_value(label):
                problems.append(f"{label}: value is not what was written "
                                f"({len(value) // 2} bytes)")
        p("finalize")
    finally:
        p.close()
    must_exist = created - started
    for label in sorted(must_exist - present.keys()):
        problems.append(f"LOST {label}: create returned CKR_OK")
    for label in sorted(destroyed & present.keys()):
        problems.append(f"RESURRECTED {label}: destroy returned CKR_OK")
    unrecorded = sorted(present.keys() - created)
    problems += _phantoms(unrecorded, created)
    return Verdict(len(must_exist), len(present), len(destroyed),
                   len(unrecorded), problems)


def _phantoms(unrecorded: list[str], created: set[str]) -> list[str]:
    """An object nobody recorded may only be the last create of a run
    (killed after C_CreateObject returned, before the record line)."""
    last: dict[str, int] = {}
    for label in created:
        _, run, n = label.split("-")
        last[run] = max(last.get(run, -1), int(n))
    seen: set[str] = set()
    problems = []
    for label in unrecorded:
        parts = label.split("-")
        if len(parts) != 3 or parts[0] != "k":
            problems.append(f"unknown object {label!r}")
            continue
        _, run, n = parts
        if run in seen or int(n) != last.get(run, -1) + 1:
            problems.append(f"phantom object {label}: never acknowledged")
        seen.add(run)
    return problems


# -- the C_SetPIN kill test -------------------------------------------------

def setpin_child(lib: Path, env: dict[str, str], pins: tuple[str, str],
                 key_label: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(lib), "setpin", *pins, key_label],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def expected_mac(key: bytes) -> str:
    return hmac.new(key, HMAC_MESSAGE, hashlib.sha256).hexdigest()
