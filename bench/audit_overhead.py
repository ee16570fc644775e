"""Cost of the audit trail (issue 6): ECDSA P-256 signing (C_SignInit +
C_Sign, one record per pair) and token object creation (C_CreateObject,
one fsync'd record each), audit on vs off, CPU time of the process.

    .venv/bin/python bench/audit_overhead.py [--rounds 3] [--n 2000]

Each measurement runs in a fresh process with its own data dir; on and
off alternate so drift on a shared machine hits both.  Prints per-op
microseconds and the on/off ratio (docs/audit.md "Overhead").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "build" / "libcraton_hsm.so"


def child(n: int, objects: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from craton_hsm._generated_ck import CKA, CKK, CKM, CKO
    from tests.abi.test_hostile import NULL, TRUE, Token, expect, ffi, ulong
    lib = ffi.dlopen(str(LIB))
    expect(lib.C_Initialize(NULL), "OK")
    tk = Token(lib)
    h = tk.ready()
    _, priv = tk.ec_pair(h)
    mech = tk.mechanism(CKM.ECDSA)
    digest = bytes(32)
    sig, n_sig = ffi.new("CK_BYTE[128]"), ffi.new("CK_ULONG *")
    start = time.process_time()
    for _ in range(n):
        lib.C_SignInit(h, mech, priv)
        n_sig[0] = 128
        lib.C_Sign(h, digest, 32, sig, n_sig)
    sign = (time.process_time() - start) / n
    tmpl = tk.template((CKA.CLASS, ulong(CKO.SECRET_KEY)),
                       (CKA.KEY_TYPE, ulong(CKK.AES)),
                       (CKA.VALUE, bytes(32)), (CKA.TOKEN, TRUE))
    out = ffi.new("CK_OBJECT_HANDLE *")
    start, wall = time.process_time(), time.perf_counter()
    for _ in range(objects):
        expect(lib.C_CreateObject(h, tmpl, 4, out), "OK")
    create = (time.process_time() - start) / objects
    create_wall = (time.perf_counter() - wall) / objects
    expect(lib.C_Finalize(NULL), "OK")
    return {"sign_us": sign * 1e6, "create_us": create * 1e6,
            "create_wall_us": create_wall * 1e6}


def measure(audit: bool, n: int, objects: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "craton.toml"
        conf.write_text(f"[audit]\nenabled = {str(audit).lower()}\n")
        env = {**os.environ, "CRATON_HSM_DATA_DIR": f"{tmp}/data",
               "CRATON_HSM_CONFIG": str(conf)}
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(n), str(objects)],
            env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"child failed ({done.returncode}):\n{done.stderr}")
        return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--objects", type=int, default=200)
    ap.add_argument("--child", nargs=2, type=int)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(args.rounds):
        for audit in (False, True):
            runs[audit].append(measure(audit, args.n, args.objects))
    for key in ("sign_us", "create_us", "create_wall_us"):
        off = min(r[key] for r in runs[False])
        on = min(r[key] for r in runs[True])
        print(f"{key:15s} off {off:9.1f}  on {on:9.1f}  "
              f"overhead {100 * (on / off - 1):+.1f}%")


if __name__ == "__main__":
    main()
