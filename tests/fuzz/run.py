"""Run the C ABI fuzzer and report: ``make fuzz`` and the short test.

    python tests/fuzz/run.py --runs N [--time SECONDS] [--work DIR]

One libFuzzer process (atheris), new corpus entries in DIR/corpus, the
checked-in seeds of tests/fuzz/corpus read too, crashes, timeouts and
invariant failures written as DIR/findings/<kind>-<sha1>.  Prints the
executions, executions per second and findings; exits non-zero on any
finding or a fuzzer failure.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--time", type=int, default=0)
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "fuzz")
    ap.add_argument("--timeout", type=int, default=30)
    args = ap.parse_args(argv)
    corpus, findings = args.work / "corpus", args.work / "findings"
    corpus.mkdir(parents=True, exist_ok=True)
    findings.mkdir(parents=True, exist_ok=True)
    before = set(findings.iterdir())
    cmd = [sys.executable, str(HERE / "fuzz_abi.py"), str(corpus),
           str(HERE / "corpus"), f"-runs={args.runs}",
           f"-artifact_prefix={findings}/", f"-timeout={args.timeout}",
           "-print_final_stats=1", "-max_len=4096"]
    if args.time:
        cmd.append(f"-max_total_time={args.time}")
    log = args.work / "fuzz.log"
    start = time.monotonic()
    with log.open("w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT,
                            check=False, cwd=ROOT).returncode
    elapsed = time.monotonic() - start
    text = log.read_text(errors="replace")
    execs = _stat(text, "number_of_executed_units")
    rate = _stat(text, "average_exec_per_sec")
    new = sorted(set(findings.iterdir()) - before)
    print(f"executions: {execs}  exec/s: {rate}  "
          f"wall: {elapsed:.0f} s  findings: {len(new)}  (log: {log})")
    for f in new:
        print(f"  finding: {f}")
    if rc != 0 or new:
        print(text[-4000:], file=sys.stderr)
        return 1
    return 0


def _stat(text: str, name: str) -> int:
    m = re.search(rf"stat::{name}:\s*(\d+)", text)
    return int(m.group(1)) if m else 0


if __name__ == "__main__":
    sys.exit(main())
