"""bench/make_report.py turns a small, hand-made `make bench` output into
REPORT.md: ratios, the issue 9 targets with met / not met, the self-test
cost from the audit trail.  Nothing here is timed."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_report", ROOT / "bench" / "make_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve string annotations through sys.modules.
    sys.modules["make_report"] = module
    spec.loader.exec_module(module)
    return module


def _result(ops: float, per_cpu: float) -> dict[str, Any]:
    return {"status": "OK", "ops_per_s": ops, "ops_per_cpu_s": per_cpu}


def _run(results: dict[str, Any], cold: float, rss: int) -> dict[str, Any]:
    return {"started": "2026-12-04T00:00:00Z", "seconds_per_op": 0.5,
            "session_objects": 10000, "token_objects": 1000,
            "host": {"loadavg_start": "0.1 0.1 0.1"},
            "results": results, "memory_kb": {"peak_rss": rss},
            "cold_start_ms": {"total": cold, "initialize": cold / 2}}


def _write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


def _sample(tmp_path: Path) -> list[str]:
    ours = [_run({"getinfo": _result(1.5e6, 2e6),
                  "sha256_64": _result(80e3, 100e3),
                  "ecdsa_p256_sign": _result(20e3, 30e3)}, 50.0, 40000),
            _run({"getinfo": _result(1.4e6, 1.8e6),
                  "sha256_64": _result(70e3, 90e3),
                  "ecdsa_p256_sign": _result(20e3, 28e3)}, 70.0, 42000)]
    theirs = [_run({"sha256_64": _result(1e6, 1e6)}, 60.0, 50000)] * 2
    compare = {
        "rounds_a": 2,
        "ops": {
            "getinfo": {"a_median": 1.45e6, "b_median": 6e6,
                        "ratio_median": 0.24,
                        "ratio_per_cpu_s_median": 0.3, "note": ""},
            "sha256_64": {"a_median": 75e3, "b_median": 1e6,
                          "ratio_median": 0.075,
                          "ratio_per_cpu_s_median": 0.095, "note": ""},
        },
        "cold start ms": {"a_median": 60.0, "b_median": 60.0,
                          "ratio": 1.0},
        "peak RSS KiB": {"a_median": 41000, "b_median": 50000,
                         "ratio": 0.82},
    }
    openssl = {"openssl": "OpenSSL 3.0.x",
               "ops_per_s": {"sha256_64": 4e6, "ecdsa_p256_sign": 40e3}}
    audit = tmp_path / "audit.log"
    audit.write_text("\n".join(json.dumps(r) for r in (
        {"event": "genesis", "seq": 1},
        {"event": "selftest", "ms": 30.0, "seq": 2},
        {"event": "C_Initialize", "seq": 3},
        {"event": "selftest", "ms": 34.0, "seq": 4})) + "\n")
    selftest = {"passed": True, "tests": [
        {"name": "integrity", "ms": 12.5, "result": "pass"},
        {"name": "kat-sha256", "ms": 0.5, "result": "pass"}]}
    machine = {"cpu": "Test CPU", "cpus": 2, "kernel": "6.0",
               "python": "3.11", "cryptography": "50",
               "cryptography_openssl": "OpenSSL 4", "system_openssl": "3",
               "softhsm2": "2.6.1", "softhsm2_module": "libsofthsm2.so"}
    return [
        "report", "--out", str(tmp_path / "REPORT.md"),
        "--compare", str(_write(tmp_path / "c.json", compare)),
        "--openssl", str(_write(tmp_path / "o.json", openssl)),
        "--machine", str(_write(tmp_path / "m.json", machine)),
        "--selftest", str(_write(tmp_path / "s.json", selftest)),
        "--audit", str(audit),
        str(_write(tmp_path / "A-1.json", ours[0])),
        str(_write(tmp_path / "A-2.json", ours[1])), "--",
        str(_write(tmp_path / "B-1.json", theirs[0])),
        str(_write(tmp_path / "B-2.json", theirs[1])),
    ]


def _row(text: str, first_op: str) -> str:
    rows = [line for line in text.splitlines()
            if line.startswith(f"| {first_op}")]
    assert len(rows) >= 1, first_op
    return rows[0]


def test_report_states_ratios_targets_and_versions(tmp_path: Path) -> None:
    assert _module().main(_sample(tmp_path)) == 0
    text = (tmp_path / "REPORT.md").read_text()
    # getinfo: 1.9e6 calls per CPU-second (median of 2e6 and 1.8e6).
    assert "| getinfo | ≥ 1,000,000 calls/s | getinfo 1,900,000 " \
        "calls/CPU-s | **met** |" in text
    # sha256_64 per-CPU ratio 0.095 < 0.5: the row is not met.
    row = _row(text, "sha256_64, random_32")
    assert "sha256_64 0.095× ✗" in row and row.endswith("| not met |")
    # ecdsa sign vs OpenSSL: 29e3 / 40e3 = 0.725 >= 0.70, but the other
    # ops of that row were not measured, so the row is not met.
    row = _row(text, "ecdsa_p256_sign, ed25519_sign")
    assert "ecdsa_p256_sign 0.725;" in row and "ed25519_sign - ✗" in row
    assert row.endswith("| not met |")
    # Lower-is-better rows: equal cold start and smaller RSS are met.
    assert _row(text, "cold_start").endswith("| **met** |")
    assert _row(text, "peak RSS").endswith("| **met** |")
    assert "## Targets (issue 9): 3 of 11 met" in text
    # Per-op table: CPU ratio to SoftHSMv2 and to OpenSSL (95e3 / 4e6).
    assert "| sha256_64 | 75,000 | 95,000 | 1,000,000 | **0.095** | " \
        "0.075 | 4,000,000 | **0.0238** | 0.25 |" in text
    assert "Test CPU (2 CPUs), kernel 6.0" in text
    assert "cryptography 50 (OpenSSL 4)" in text and "SoftHSMv2 2.6.1" \
        in text
    # Self-tests: median of the two audit records, and the per-test list.
    assert "n = 2): median 32.000 ms" in text
    assert "| integrity | 12.500 | pass |" in text
    assert "| initialize | 30.000 | 30.000 |" in text


def test_machine_names_the_versions() -> None:
    found = _module().machine("/usr/lib/softhsm/libsofthsm2.so")
    assert set(found) >= {"cpu", "kernel", "python", "cryptography",
                          "cryptography_openssl", "system_openssl",
                          "softhsm2"}
    assert found["python"].count(".") == 2


def _profiled(calls: int) -> Any:
    """A real cProfile of `calls` iterations of a two-function op."""
    import cProfile

    def leaf() -> int:
        return sum(range(50))

    def per_call() -> int:
        return leaf() + leaf()

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        per_call()
    leaf()   # setup-like: once more, still under the per-call bound
    profiler.disable()
    return profiler


def test_report_splits_audit_share_and_names_hot_functions(
        tmp_path: Path) -> None:
    argv = _sample(tmp_path)
    off = _run({"sha256_64": _result(150e3, 200e3)}, 40.0, 40000)
    prof_dir = tmp_path / "profile"
    prof_dir.mkdir()
    _profiled(400).dump_stats(str(prof_dir / "sha256_64.prof"))
    _write(prof_dir / "sha256_64.json",
           {"results": {"sha256_64": {"status": "OK", "iterations": 400}}})
    argv[1:1] = ["--audit-off", str(_write(tmp_path / "off.json", off)),
                 "--profile", str(prof_dir)]
    assert _module().main(argv) == 0
    text = (tmp_path / "REPORT.md").read_text()
    assert "## Where the time goes" in text
    # Audit on: 95,000 ops per CPU-s (10.5 µs); off: 200,000 (5 µs);
    # SoftHSMv2 1e6 (1 µs); OpenSSL 4e6 (0.25 µs).
    assert "| sha256_64 | 10.526 | 5.000 | 52% | 1.000 | 0.25 |" in text
    # The profile: leaf runs twice per iteration, per_call once; the
    # profiler's own disable() ran once and is left out.
    leaf = _row(text, "`leaf (")
    assert "| 2.0 |" in leaf
    assert "| 1.0 |" in _row(text, "`per_call (")
    assert "disable" not in text.split("## Where the time goes")[1]
    # The same time by source file: this module's functions, and the
    # built-ins they call (sum, range) under "~ built-in".
    by_file = text.split("| source file | share |")[1]
    assert "| bench/test_make_report.py |" in by_file
    assert "| ~ built-in |" in by_file
