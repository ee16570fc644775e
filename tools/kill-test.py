#!/usr/bin/env python3
"""Long SIGKILL run against the built module (the CI test does 100).

    .venv/bin/python tools/kill-test.py --cycles 2000 [--lanes 2]
        [--seed N] [--verify-every 250] [--keep DIR]

Children (tests/store/p11child.py, cffi ABI mode) create and destroy
public token data objects on one token and are SIGKILLed after a random
20-200 ms; ``--lanes`` of them run at once.  Every ``--verify-every``
kills, and at the end, a fresh process checks that every acknowledged
object is present with the value written, nothing destroyed came back,
nothing unacknowledged appeared, and PRAGMA integrity_check is ok.
Exit status 0 when all checks pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.store.killrun import (
    built_lib,
    child_env,
    init_token,
    kill_cycles,
    verify,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--lanes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    ap.add_argument("--verify-every", type=int, default=250)
    ap.add_argument("--min-ms", type=int, default=20)
    ap.add_argument("--max-ms", type=int, default=200)
    ap.add_argument("--keep", type=Path,
                    help="work in this directory and keep it")
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="craton-kill-"))
    data = work / "data"
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    lib = built_lib()
    print(f"seed {args.seed}, data dir {data}")
    init_token(lib, child_env(data))
    t0 = time.monotonic()
    done, failed = 0, False
    while done < args.cycles and not failed:
        n = min(args.verify_every, args.cycles - done)
        stats = kill_cycles(lib, data, n, args.seed + done, args.lanes,
                            (args.min_ms, args.max_ms), done)
        done += stats.kills
        verdict = verify(lib, data)
        print(f"{done} kills, {time.monotonic() - t0:.0f} s: "
              f"{verdict.acknowledged} acknowledged, {verdict.present} "
              f"present, {verdict.destroyed} destroyed, "
              f"{verdict.unrecorded} unrecorded", flush=True)
        for line in stats.self_exits + verdict.problems:
            print("  PROBLEM", line)
        failed = bool(stats.self_exits or verdict.problems) or \
            stats.kills < n
    if not args.keep and not failed:
        shutil.rmtree(work)
    print("FAILED (kept " + str(work) + ")" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
