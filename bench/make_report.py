"""Write bench/REPORT.md from one `make bench` run (issue 9).

The report is generated, never edited by hand.  Inputs (all written by
bench/run.sh into build/bench-run/):

* ``compare.json``: shared/bench/compare.py's side-by-side result of
  Craton HSM (A) against SoftHSMv2 (B): median of paired per-round
  ratios, by wall clock and by process CPU time;
* the p11bench JSON of every round of A and B (absolute ops/s, ops per
  CPU-second, cold-start breakdown, memory);
* ``openssl-limit.json``: shared/bench/openssl_limit.sh (raw OpenSSL);
* ``machine.json``: ``make_report.py machine`` (CPU, kernel, versions);
* ``selftest.json``: ``craton-hsm selftest --json`` (per-test cost);
* the audit directory of the benchmarked data dir: its ``selftest`` records
  hold the power-on self-tests' time inside each real C_Initialize;
* ``audit-off.json``: one p11bench run of Craton HSM with ``[audit]
  enabled = false``, so the report can say what share of each op the
  audit record takes (the shipped default, audit on, is what the targets
  are measured with);
* ``profile/<op>.prof`` + ``profile/<op>.json``: a cProfile of one op
  through the C host (``CRATON_HSM_PROFILE``) and that run's p11bench
  JSON (its iteration count picks the functions that run per call).

Ratios are "ours / reference" with > 1 = Craton faster, except the
lower-is-better rows (cold start, memory), where the ratio is
ours / SoftHSMv2 time or KiB.

    make_report.py machine [--softhsm LIB] > machine.json
    make_report.py report --out REPORT.md --compare C.json --openssl O.json
        --machine M.json [--selftest S.json] [--audit audit.log]
        [--audit-off OFF.json] [--profile DIR]
        A1.json A2.json ... -- B1.json B2.json ...
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """One row of issue 9's targets table.

    ``basis``: "openssl" (ours per CPU-second / raw OpenSSL ops/s),
    "softhsm" (paired per-CPU ratio ours/SoftHSMv2), "softhsm_wall"
    (paired wall ratio: multi-threaded ops, where per-CPU is
    meaningless), "calls" (our absolute ops per CPU-second), or a
    lower-is-better resource key of compare.json ("cold start ms",
    "peak RSS KiB") compared as ours/SoftHSMv2 <= bound."""

    ops: tuple[str, ...]
    text: str
    basis: str
    bound: float
    lower_is_better: bool = False


TARGETS: tuple[Target, ...] = (
    Target(("rsa2048_sign_pkcs1_sha256", "rsa2048_sign_pss_sha256",
            "rsa2048_oaep_decrypt", "keygen_rsa2048", "sha256_1m",
            "aes256_gcm_enc_1m"), "≥ 0.90 of raw OpenSSL", "openssl", 0.90),
    Target(("ecdsa_p256_sign", "ed25519_sign", "keygen_ec_p256"),
           "≥ 0.70 of raw OpenSSL", "openssl", 0.70),
    Target(("ecdsa_p256_verify", "ed25519_verify",
            "rsa2048_verify_pkcs1_sha256"),
           "≥ 0.85 of raw OpenSSL", "openssl", 0.85),
    Target(("hmac_sha256_64", "aes256_gcm_enc_1k", "aes256_cbcpad_enc_1k",
            "keygen_aes256"), "≥ 1.0 × SoftHSMv2", "softhsm", 1.0),
    Target(("sha256_64", "random_32", "session_open_close"),
           "≥ 0.5 × SoftHSMv2", "softhsm", 0.5),
    Target(("getinfo",), "≥ 1,000,000 calls/s", "calls", 1e6),
    Target(("obj_find_label_session", "obj_find_label_token"),
           "≥ 100 × SoftHSMv2", "softhsm", 100.0),
    Target(("obj_create_token_aes", "obj_destroy_token_aes"),
           "≥ 10 × SoftHSMv2", "softhsm", 10.0),
    Target(("cold_start",), "≤ 1.0 × SoftHSMv2's time (1,000 token "
           "objects, self-tests included)", "cold start ms", 1.0, True),
    Target(("mt_ecdsa_p256_sign_x2",), "≥ 1.0 × SoftHSMv2's x2",
           "softhsm_wall", 1.0),
    Target(("peak RSS",), "peak RSS with 10,000 session objects ≤ 1.0 × "
           "SoftHSMv2", "peak RSS KiB", 1.0, True),
)


# -- inputs -------------------------------------------------------------

def load(path: Path) -> Json:
    doc: Json = json.loads(path.read_text())
    return doc


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def run_median(runs: list[Json], op: str, key: str) -> float | None:
    """Median of ``key`` over the rounds in which ``op`` was OK."""
    found = []
    for run in runs:
        res = run.get("results", {}).get(op)
        if res and res.get("status") == "OK" and res.get(key):
            found.append(float(res[key]))
    return median(found)


def breakdown_median(runs: list[Json], key: str) -> Json:
    parts: dict[str, list[float]] = {}
    for run in runs:
        for part, value in (run.get(key) or {}).items():
            if value:
                parts.setdefault(part, []).append(float(value))
    return {part: statistics.median(v) for part, v in parts.items()}


def selftest_in_initialize(audit_log: Path | None) -> list[float]:
    """Milliseconds of every power-on self-test run recorded in the
    benchmarked module's audit trail (one per C_Initialize); ``audit_log``
    is the trail's directory or one of its files."""
    if audit_log is None or not audit_log.exists():
        return []
    # A directory: the active file and the rotated ones before it.
    paths = sorted(audit_log.glob("audit*.log")) if audit_log.is_dir() \
        else [audit_log]
    found = []
    for line in (ln for p in paths for ln in p.read_text().splitlines()):
        if '"selftest"' not in line:
            continue
        record = json.loads(line)
        if record.get("event") == "selftest" and "ms" in record:
            found.append(float(record["ms"]))
    return found


# -- machine ------------------------------------------------------------

def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _command(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True,
                              check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return done.stdout.strip() or "unavailable"


def machine(softhsm: str) -> Json:
    """What the report states about the host and the software measured."""
    import cryptography
    from cryptography.hazmat.backends.openssl.backend import backend
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "cryptography_openssl": backend.openssl_version_text(),
        "system_openssl": _command("openssl", "version"),
        "softhsm2": _command("dpkg-query", "-W", "-f=${Version}",
                             "softhsm2"),
        "softhsm2_module": softhsm,
    }


# -- the report ---------------------------------------------------------

@dataclass
class Inputs:
    compare: Json
    ours: list[Json]
    softhsm: list[Json]
    openssl: Json
    machine: Json
    selftest: Json | None
    selftest_ms: list[float]
    audit_off: Json | None = None
    profiles: dict[str, Profile] | None = None


@dataclass(frozen=True)
class Hot:
    """One function of a profile that runs on every call of the op."""

    name: str
    calls_per_op: float
    share: float        # of the per-call profiled time, 0..1


@dataclass(frozen=True)
class Profile:
    iterations: int
    ops: tuple[str, ...]
    hot: tuple[Hot, ...]
    by_file: tuple[tuple[str, float], ...]   # (source file, share)


# A function counts as per-call when it ran at least this often per
# iteration of the op (setup such as C_Login's PBKDF2 runs a few times).
_PER_CALL = 0.5


def load_profile(prof: Path, run: Json, top: int = 8) -> Profile | None:
    """The functions of ``prof`` that run per iteration (by their call
    count against the iterations of every op in ``run``: p11bench's
    ``--only`` matches substrings, so a run may hold more than one op),
    costliest own time first, each with its share of the per-call
    total."""
    done = {op: int(res.get("iterations") or 0)
            for op, res in run.get("results", {}).items()
            if res.get("status") == "OK" and res.get("iterations")}
    iterations = sum(done.values())
    if not iterations or not prof.exists():
        return None
    stats: dict[Any, Any] = pstats.Stats(str(prof)).stats  # type: ignore[attr-defined]
    rows = []
    files: dict[str, float] = {}
    for (path, line, func), (_cc, ncalls, tottime, _ct, _cl) in \
            stats.items():
        if ncalls >= _PER_CALL * iterations:
            where = f"{Path(path).name}:{line}" if line else "built-in"
            rows.append((tottime, f"{func} ({where})", ncalls / iterations))
            # Built-ins (syscalls, OpenSSL via cryptography) under "~".
            key = "/".join(Path(path).parts[-2:]) if line else "~ built-in"
            files[key] = files.get(key, 0.0) + tottime
    total = sum(r[0] for r in rows)
    if not total:
        return None
    rows.sort(reverse=True)
    by_file = sorted(files.items(), key=lambda kv: -kv[1])[:top]
    return Profile(iterations, tuple(sorted(done)),
                   tuple(Hot(name, per, t / total)
                         for t, name, per in rows[:top]),
                   tuple((f, t / total) for f, t in by_file))


def _f(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.{digits}f}"


def measure(inputs: Inputs, target: Target, op: str) -> float | None:
    """The measured quantity a target row compares with its bound."""
    cmp = inputs.compare
    if target.lower_is_better:
        row = cmp.get(target.basis) or {}
        value = row.get("ratio")
        return float(value) if value is not None else None
    if target.basis == "calls":
        return run_median(inputs.ours, op, "ops_per_cpu_s")
    if target.basis == "openssl":
        limit = inputs.openssl.get("ops_per_s", {}).get(op)
        ours = run_median(inputs.ours, op, "ops_per_cpu_s")
        return ours / float(limit) if ours and limit else None
    row = cmp.get("ops", {}).get(op) or {}
    key = "ratio_median" if target.basis == "softhsm_wall" \
        else "ratio_per_cpu_s_median"
    value = row.get(key)
    return float(value) if value is not None else None


def met(target: Target, value: float | None) -> bool:
    if value is None:
        return False
    return value <= target.bound if target.lower_is_better \
        else value >= target.bound


def targets_table(inputs: Inputs) -> tuple[list[str], int, int]:
    lines = ["| op ids (p11bench) | target | measured | result |",
             "|---|---|---|---|"]
    n_met = 0
    for target in TARGETS:
        values = [(op, measure(inputs, target, op)) for op in target.ops]
        ok = all(met(target, v) for _op, v in values)
        n_met += ok
        unit = {"calls": " calls/CPU-s", "openssl": "", "softhsm": "×",
                "softhsm_wall": "× (wall)"}.get(target.basis, "×")
        shown = "; ".join(
            f"{op} {_f(v)}{unit}" + ("" if met(target, v) else " ✗")
            for op, v in values)
        lines.append(f"| {', '.join(target.ops)} | {target.text} | {shown} "
                     f"| {'**met**' if ok else 'not met'} |")
    return lines, n_met, len(TARGETS)


def ops_table(inputs: Inputs) -> list[str]:
    lines = [("| op | craton ops/s | craton ops/CPU-s | SoftHSMv2 ops/s | "
             "craton/SoftHSMv2 CPU | craton/SoftHSMv2 wall | OpenSSL ops/s "
             "| craton/OpenSSL CPU | SoftHSMv2/OpenSSL |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    limits = inputs.openssl.get("ops_per_s", {})
    for op, row in inputs.compare.get("ops", {}).items():
        ours_cpu = run_median(inputs.ours, op, "ops_per_cpu_s")
        theirs = row.get("b_median")
        limit = limits.get(op)
        vs_ossl = ours_cpu / limit if ours_cpu and limit else None
        sh_ossl = theirs / limit if theirs and limit else None
        note = f" ({row['note']})" if row.get("note") else ""
        lines.append(
            f"| {op}{note} | {_f(row.get('a_median'))} | {_f(ours_cpu)} | "
            f"{_f(theirs)} | **{_f(row.get('ratio_per_cpu_s_median'))}** | "
            f"{_f(row.get('ratio_median'))} | {_f(limit)} | "
            f"**{_f(vs_ossl)}** | {_f(sh_ossl)} |")
    return lines


def resources(inputs: Inputs) -> list[str]:
    lines = [("| resource (lower is better) | craton | SoftHSMv2 | "
             "craton/SoftHSMv2 |"), "|---|---:|---:|---:|"]
    for key in ("cold start ms", "peak RSS KiB",
                "RSS after session objs KiB"):
        row = inputs.compare.get(key)
        if row:
            lines.append(f"| {key} | {_f(row['a_median'])} | "
                         f"{_f(row['b_median'])} | {_f(row['ratio'])} |")
    ours = breakdown_median(inputs.ours, "cold_start_ms")
    theirs = breakdown_median(inputs.softhsm, "cold_start_ms")
    if ours or theirs:
        lines += ["", ("Cold start, median per part (ms; p11bench: "
                  "C_Finalize, C_Initialize, slot + C_OpenSession + "
                  "C_Login, first find, first use):"), "",
                  "| part | craton | SoftHSMv2 |", "|---|---:|---:|"]
        for part in ("finalize", "initialize", "open_login", "find",
                     "first_use", "total"):
            lines.append(f"| {part} | {_f(ours.get(part))} | "
                         f"{_f(theirs.get(part))} |")
    return lines


def selftests(inputs: Inputs) -> list[str]:
    lines = []
    if inputs.selftest_ms:
        ms = inputs.selftest_ms
        lines.append(
            f"Power-on self-tests inside C_Initialize (the module's own "
            f"`selftest` audit records of this run, n = {len(ms)}): median "
            f"{_f(statistics.median(ms))} ms, min {_f(min(ms))} ms, max "
            f"{_f(max(ms))} ms.")
    if inputs.selftest:
        tests = inputs.selftest.get("tests", [])
        total = sum(float(t["ms"]) for t in tests)
        lines += ["", (f"`craton-hsm selftest --json` (same tests, one "
                  f"process): {len(tests)} tests, {_f(total)} ms; the "
                  f"costliest:"), "", "| test | ms | result |",
                  "|---|---:|---|"]
        for t in sorted(tests, key=lambda t: -float(t["ms"]))[:8]:
            lines.append(f"| {t['name']} | {_f(float(t['ms']))} | "
                         f"{t['result']} |")
    return lines


def _us(ops_per_s: float | None) -> float | None:
    return 1e6 / ops_per_s if ops_per_s else None


def time_split(inputs: Inputs) -> list[str]:
    """Per op: CPU microseconds with the audit trail on (the targets)
    and off, the audit record's share, and SoftHSMv2 / OpenSSL beside."""
    off = (inputs.audit_off or {}).get("results", {})
    if not off:
        return []
    limits = inputs.openssl.get("ops_per_s", {})
    lines = [("CPU µs per op (median of the rounds); *audit off* is one "
              "run with `[audit] enabled = false`, so *audit share* is "
              "what the record written per audited call costs:"), "",
             ("| op | craton µs | craton audit off µs | audit share | "
              "SoftHSMv2 µs | OpenSSL µs |"), "|---|---:|---:|---:|---:|---:|"]
    for op, res in off.items():
        if res.get("status") != "OK" or not res.get("ops_per_cpu_s"):
            continue
        on = _us(run_median(inputs.ours, op, "ops_per_cpu_s"))
        quiet = _us(float(res["ops_per_cpu_s"]))
        share = (on - quiet) / on if on and quiet is not None else None
        lines.append(
            f"| {op} | {_f(on)} | {_f(quiet)} | "
            f"{'-' if share is None else f'{share:.0%}'} | "
            f"{_f(_us(run_median(inputs.softhsm, op, 'ops_per_cpu_s')))} | "
            f"{_f(_us(limits.get(op)))} |")
    return lines


def profiles(inputs: Inputs) -> list[str]:
    lines: list[str] = []
    for op, prof in sorted((inputs.profiles or {}).items()):
        ran = ", ".join(prof.ops)
        lines += ["", (f"`{op}` profiled ({prof.iterations:,} iterations "
                       f"of {ran} under cProfile); own time of the "
                       "functions that run on every call, as a share of "
                       "their total:"), "",
                  "| function | calls per op | share |", "|---|---:|---:|"]
        lines += [f"| `{h.name}` | {h.calls_per_op:.1f} | {h.share:.0%} |"
                  for h in prof.hot]
        lines += ["", "| source file | share |", "|---|---:|"]
        lines += [f"| {name} | {share:.0%} |" for name, share in prof.by_file]
    return lines


def render(inputs: Inputs) -> str:
    m = inputs.machine
    first = inputs.ours[0] if inputs.ours else {}
    table, n_met, n_all = targets_table(inputs)
    out = [
        "# Craton HSM benchmark report",
        "",
        ("Generated by `bench/make_report.py` from one `make bench` run; "
        "do not edit by hand (rerun `make bench`)."),
        "",
        (f"- Run started {first.get('started', '?')}; "
        f"{inputs.compare.get('rounds_a', '?')} rounds alternating "
        f"craton / SoftHSMv2 (shared/bench/compare.sh), "
        f"{first.get('seconds_per_op', '?')} s per op, "
        f"{first.get('session_objects', '?')} session objects, "
        f"{first.get('token_objects', '?')} token objects."),
        (f"- Machine: {m.get('cpu')} ({m.get('cpus')} CPUs), kernel "
        f"{m.get('kernel')}; load average at start "
        f"{first.get('host', {}).get('loadavg_start', '?')}."),
        (f"- Versions: Python {m.get('python')}, cryptography "
        f"{m.get('cryptography')} ({m.get('cryptography_openssl')}), "
        f"system {m.get('system_openssl')}, SoftHSMv2 "
        f"{m.get('softhsm2')} ({m.get('softhsm2_module')})."),
        (f"- Raw OpenSSL: {inputs.openssl.get('openssl', '?')} "
        "(shared/bench/openssl_limit.sh, wall clock, one thread)."),
        "",
        ("Ratios: craton/SoftHSMv2 is the median of the paired per-round "
        "ratios of ops per process-CPU-second (robust to the other load "
        "on this shared machine); craton/OpenSSL is craton's median ops "
        "per CPU-second over the raw OpenSSL figure.  > 1 = craton "
        "faster."),
        "",
        f"## Targets (issue 9): {n_met} of {n_all} met",
        "",
        *table,
        "",
        "## Per operation",
        "",
        *ops_table(inputs),
        "",
        "## Cold start and memory",
        "",
        *resources(inputs),
        "",
        "## Self-tests",
        "",
        *selftests(inputs),
        "",
    ]
    split, hot = time_split(inputs), profiles(inputs)
    if split or hot:
        out += ["## Where the time goes", "", *split, *hot, ""]
    return "\n".join(out)


def _profiles(directory: Path | None) -> dict[str, Profile]:
    found: dict[str, Profile] = {}
    for prof in sorted(directory.glob("*.prof")) if directory else ():
        run = prof.with_suffix(".json")
        if run.exists():
            loaded = load_profile(prof, load(run))
            if loaded:
                found[prof.stem] = loaded
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    mach = sub.add_parser("machine")
    mach.add_argument("--softhsm", default="/usr/lib/softhsm/libsofthsm2.so")
    rep = sub.add_parser("report")
    rep.add_argument("--out", type=Path, required=True)
    rep.add_argument("--compare", type=Path, required=True)
    rep.add_argument("--openssl", type=Path, required=True)
    rep.add_argument("--machine", type=Path, required=True)
    rep.add_argument("--selftest", type=Path)
    rep.add_argument("--audit", type=Path)
    rep.add_argument("--audit-off", type=Path)
    rep.add_argument("--profile", type=Path)
    rep.add_argument("ours", nargs="+", type=Path)
    if argv[:1] == ["report"] and "--" in argv:
        cut = argv.index("--")
        args = parser.parse_args(argv[:cut])
        theirs = [Path(p) for p in argv[cut + 1:]]
    else:
        args = parser.parse_args(argv)
        theirs = []
    if args.command == "machine":
        print(json.dumps(machine(args.softhsm), indent=2))
        return 0
    inputs = Inputs(
        compare=load(args.compare),
        ours=[load(p) for p in args.ours],
        softhsm=[load(p) for p in theirs],
        openssl=load(args.openssl),
        machine=load(args.machine),
        selftest=load(args.selftest) if args.selftest else None,
        selftest_ms=selftest_in_initialize(args.audit),
        audit_off=load(args.audit_off) if args.audit_off else None,
        profiles=_profiles(args.profile),
    )
    args.out.write_text(render(inputs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
