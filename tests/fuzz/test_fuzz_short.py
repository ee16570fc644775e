"""The short fuzz run of `make test`: a few thousand executions of the C
ABI fuzz target (tests/fuzz/harness.py) over the built .so, seeded with
tests/fuzz/corpus; any finding (crash, timeout, escaped exception,
undefined CK_RV, sensitive value returned, C_GetInfo failing) fails it.
The long run is `make fuzz` (docs/fuzzing.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from abi.conftest import libpath  # noqa: F401  (the built .so fixture)

HERE = Path(__file__).resolve().parent
RUNS = 5000


def test_short_fuzz_run_has_no_findings(libpath: Path,  # noqa: F811
                                        tmp_path: Path) -> None:
    assert libpath.exists()
    done = subprocess.run(
        [sys.executable, str(HERE / "run.py"), "--runs", str(RUNS),
         "--work", str(tmp_path), "--timeout", "60"],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"executions: {RUNS} " in done.stdout, done.stdout
    assert "findings: 0" in done.stdout
    assert not list((tmp_path / "findings").iterdir())
