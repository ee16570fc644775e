"""The DRBG through the built .so (cffi ABI mode, a fresh process per
scenario because CRATON_HSM_SELFTEST_FAIL is read once at load):
each injected health-test failure latches the module, fork safety,
C_SeedRandom."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.abi.conftest import ROOT, libpath  # noqa: F401  (fixture)

CHILD = Path(__file__).with_name("so_child.py")


def _run(lib: Path, mode: str, data: Path, fault: str = "") -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CRATON_HSM_")}
    env["CRATON_HSM_DATA_DIR"] = str(data)
    if fault:
        env["CRATON_HSM_SELFTEST_FAIL"] = fault
    done = subprocess.run([sys.executable, str(CHILD), str(lib), mode],
                          capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    out["stderr"] = done.stderr
    return out


@pytest.fixture(scope="module")
def token_dir(libpath: Path,  # noqa: F811
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with an initialised token (C_InitToken draws from the
    DRBG, so it is done once, without a fault, and copied)."""
    data = tmp_path_factory.mktemp("drbg-token")
    out = _run(libpath, "init", data)
    assert (out["init"], out["token"]) == ("OK", "OK")
    return data


@pytest.mark.parametrize("fault", ["drbg-rct", "drbg-apt",
                                   "drbg-continuous"])
def test_health_test_failure_latches_until_reinitialised(
        libpath: Path, token_dir: Path, tmp_path: Path,  # noqa: F811
        fault: str) -> None:
    data = tmp_path / "data"
    shutil.copytree(token_dir, data)
    out = _run(libpath, "fault", data, fault)
    assert out["init"] == "OK" and out["open"] == "OK"
    # The failing draw and every later cryptographic call: error state.
    assert out["random"] == "GENERAL_ERROR"
    assert out["random_again"] == "GENERAL_ERROR"
    assert out["genkey"] == "GENERAL_ERROR"
    assert f"self-test {fault} failed" in out["stderr"]
    # C_Finalize + C_Initialize: power-on tests pass, latch cleared, a
    # fresh instantiation (the injected fault fires once per process).
    assert out["finalize"] == "OK" and out["reinit"] == "OK"
    assert out["random_after"] == "OK" and out["genkey_after"] == "OK"


def test_drbg_kat_failure_fails_c_initialize(
        libpath: Path, token_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    data = tmp_path / "data"
    shutil.copytree(token_dir, data)
    out = _run(libpath, "fault", data, "drbg-kat")
    assert out["init"] == "GENERAL_ERROR"
    assert "self-test drbg-kat failed" in out["stderr"]
    # No service without a passed power-on test; the switch persists, so
    # a second C_Initialize fails the same way.
    assert out["random"] == "CRYPTOKI_NOT_INITIALIZED"
    assert out["reinit"] == "GENERAL_ERROR"


def test_forked_child_never_repeats_the_parent(
        libpath: Path, token_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    data = tmp_path / "data"
    shutil.copytree(token_dir, data)
    out = _run(libpath, "fork", data)
    child = out["child"]
    assert out["parent_first"][0] == "OK" and out["parent_next"][0] == "OK"
    # Spec 5.4: the child must initialise its own copy first.
    assert child["stale"] == "CRYPTOKI_NOT_INITIALIZED"
    assert (child["init"], child["open"], child["random"][0]) == (
        "OK", "OK", "OK")
    assert child["random"][1] != out["parent_next"][1]
    assert len({out["parent_first"][1], out["parent_next"][1],
                child["random"][1]}) == 3


def test_seed_random_mixes_in_and_never_replaces_entropy(
        libpath: Path, token_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    a = tmp_path / "a"
    b = tmp_path / "b"
    shutil.copytree(token_dir, a)
    shutil.copytree(token_dir, b)
    one, two = _run(libpath, "seed", a), _run(libpath, "seed", b)
    for out in (one, two):
        assert out["seed"] == "OK" and out["seed2"] == "OK"
        assert out["a"][0] == "OK" and out["b"][0] == "OK"
        assert out["a"][1] != out["b"][1]
    # The same seed in two processes: different output (entropy kept).
    assert one["a"][1] != two["a"][1]
