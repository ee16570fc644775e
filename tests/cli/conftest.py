"""Fixtures for running the ``craton-hsm`` console script for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "build" / "libcraton_hsm.so"
SCRIPT = Path(sys.executable).parent / "craton-hsm"


@dataclass
class Result:
    rc: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Run = Callable[..., Result]
Populate = Callable[[str, str], None]


@pytest.fixture(scope="session")
def module() -> Path:
    """The built module; `make build` runs once if it is missing."""
    if not LIB.exists():
        subprocess.run(["make", "-C", str(ROOT), "build"], check=True)
    return LIB


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def run(module: Path, data_dir: Path) -> Run:
    """craton-hsm ARGS in a fresh process with its own data dir.

    start_new_session detaches from any controlling terminal so a PIN
    prompt reads the piped stdin instead of /dev/tty.
    """
    assert SCRIPT.exists(), (
        f"{SCRIPT} missing: run `pip install -e .` in the venv")

    def go(*args: str, stdin: str | None = None,
           **env_extra: str) -> Result:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CRATON_HSM_")}
        env["CRATON_HSM_DATA_DIR"] = str(data_dir)
        env.update(env_extra)
        proc = subprocess.run([str(SCRIPT), *args], check=False, input=stdin, env=env,
                              capture_output=True, text=True, timeout=120,
                              start_new_session=True)
        assert "Traceback" not in proc.stderr, proc.stderr
        return Result(proc.returncode, proc.stdout, proc.stderr)
    return go


PYKCS11_SETUP = """
import sys, PyKCS11 as P
lib = P.PyKCS11Lib(); lib.load(sys.argv[1])
s = lib.openSession(0, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)
s.login(sys.argv[2], P.CKU_SO); s.initPin(sys.argv[3]); s.logout()
s.login(sys.argv[3])
s.generateKey([(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES),
               (P.CKA_VALUE_LEN, 32), (P.CKA_TOKEN, True),
               (P.CKA_LABEL, "k1"), (P.CKA_ID, b"\\x01\\x02")])
s.createObject([(P.CKA_CLASS, P.CKO_DATA), (P.CKA_TOKEN, True),
                (P.CKA_PRIVATE, False), (P.CKA_LABEL, "d1"),
                (P.CKA_VALUE, b"public data")])
s.logout(); s.closeSession()
"""


@pytest.fixture
def populate(module: Path, data_dir: Path) -> Populate:
    """Set slot 0's user PIN and create a private AES key and a public
    data object, through PyKCS11 (an independent application)."""
    def go(so_pin: str, user_pin: str) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CRATON_HSM_")}
        env["CRATON_HSM_DATA_DIR"] = str(data_dir)
        proc = subprocess.run(
            [sys.executable, "-c", PYKCS11_SETUP, str(module), so_pin,
             user_pin], check=False, env=env, capture_output=True, text=True,
            timeout=120)
        assert proc.returncode == 0, proc.stderr
    return go
