"""Fixtures for the audit trail tests: the built module in-process (cffi
ABI mode, tests/abi/test_hostile.py harness), a data dir and an optional
[audit] config per test, and readers of the log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.abi.conftest import libpath  # noqa: F401  (fixture)
from tests.abi.test_hostile import NULL, Token, expect, ffi

SCRIPT = Path(sys.executable).parent / "craton-hsm"


@dataclass
class Hsm:
    tok: Token
    data: Path
    audit: Path

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.audit)


def read_records(audit: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(audit.glob("audit-*.log")) + [audit / "audit.log"]:
        out += [json.loads(line) for line in path.read_text().splitlines()]
    return out


def write_config(tmp_path: Path, **audit: Any) -> Path:
    lines = ["[audit]"]
    for key, value in audit.items():
        text = json.dumps(value) if not isinstance(value, bool) \
            else str(value).lower()
        lines.append(f"{key} = {text}")
    path = tmp_path / "craton.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def lib(libpath: Path) -> Any:  # noqa: F811
    return ffi.dlopen(str(libpath))


@pytest.fixture
def env(data_env: Path) -> Path:
    return data_env


@pytest.fixture
def hsm(lib: Any, env: Path) -> Iterator[Hsm]:
    expect(lib.C_Initialize(NULL), "OK")
    try:
        yield Hsm(Token(lib), env, env / "audit")
    finally:
        lib.C_Finalize(NULL)


def cli(*args: str) -> tuple[int, Any]:
    """``craton-hsm audit ARGS --json`` in a fresh process."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CRATON_HSM")}
    done = subprocess.run([str(SCRIPT), "audit", *args], check=False, env=env,
                          capture_output=True, text=True, timeout=120)
    try:
        out = json.loads(done.stdout) if "--json" in args else done.stdout
    except json.JSONDecodeError:
        out = done.stdout + done.stderr
    return done.returncode, out
