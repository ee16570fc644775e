"""Project-wide checks CI runs with the suite: generated constants and
docs/mechanisms.md are current, layering holds (import-linter), ruff and mypy strict are clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("command", [
    [sys.executable, "tools/gen_ck.py", "--check"],
    [sys.executable, "tools/gen_mechanisms_doc.py", "--check"],
    [str(BIN / "lint-imports")],
    [str(BIN / "ruff"), "check", "craton_hsm", "ffi", "tools"],
    [str(BIN / "mypy"), "craton_hsm"],
], ids=["gen_ck", "mechanisms-doc", "import-linter", "ruff", "mypy"])
def test_check_passes(command: list[str]) -> None:
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
