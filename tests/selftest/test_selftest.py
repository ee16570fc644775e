"""Power-on self-tests, conditional tests and the error state, through
the built .so loaded by PyKCS11 in a child process (tests/selftest/
child.py), one process per injected failure (docs/selftests.md).

CRATON_HSM_SELFTEST_FAIL=<name> corrupts that test's expected value
(craton_hsm/selftest/faults.py), so each case below travels the real
failure path of its test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from craton_hsm.selftest import pct, power_on
from tests.audit.conftest import read_records

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "build" / "libcraton_hsm.so"
CHILD = Path(__file__).with_name("child.py")
SCRIPT = Path(sys.executable).parent / "craton-hsm"


def run(tmp_path: Path, *args: str, lib: Path = LIB, fail: str = "",
        ) -> tuple[dict[str, str], str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CRATON_HSM_")}
    env["CRATON_HSM_DATA_DIR"] = str(tmp_path / "data")
    if fail:
        env["CRATON_HSM_SELFTEST_FAIL"] = fail
    proc = subprocess.run([sys.executable, str(CHILD), str(lib), *args],
                          env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    steps = dict(line.split("=", 1) for line in proc.stdout.splitlines()
                 if "=" in line)
    return steps, proc.stderr


def test_power_on_passes(tmp_path: Path) -> None:
    steps, err = run(tmp_path, "init")
    assert steps == {"init": "OK"}, err
    passed = [r for r in read_records(tmp_path / "data" / "audit")
              if r["event"] == "selftest"]
    assert [(r["result"], r["tests"]) for r in passed] == \
        [("pass", len(power_on.TESTS))]


@pytest.mark.parametrize("name", power_on.NAMES)
def test_injected_failure_fails_initialize(tmp_path: Path,
                                           name: str) -> None:
    steps, err = run(tmp_path, "init", fail=name)
    assert steps == {"init": "GENERAL_ERROR"}
    assert f"self-test {name} failed" in err


@pytest.mark.parametrize("kind,name", [
    ("EC", "pct-ec"), ("RSA", "pct-rsa"), ("EDWARDS", "pct-eddsa"),
    ("MONTGOMERY", "pct-montgomery")])
def test_pct_failure_latches_until_reinitialised(
        tmp_path: Path, kind: str, name: str) -> None:
    steps, err = run(tmp_path, "keygen", kind, fail=name)
    assert f"self-test {name} failed" in err
    assert steps == {
        "init": "OK", "keygen": "GENERAL_ERROR", "random": "GENERAL_ERROR",
        "digest": "GENERAL_ERROR", "getinfo": "OK", "slotlist": "OK",
        "finalize": "OK", "reinit": "OK", "random_after": "OK"}
    # The failure and both power-on passes are in the audit trail.
    events = [(r["event"], r.get("test", r.get("result")))
              for r in read_records(tmp_path / "data" / "audit")
              if r["event"] in ("selftest", "error-state")]
    assert events == [("selftest", "pass"), ("error-state", name),
                      ("selftest", "pass")]


def test_keygen_without_injection_passes_pct(tmp_path: Path) -> None:
    steps, err = run(tmp_path, "keygen", "EC")
    assert steps["keygen"] == "OK" and steps["random"] == "OK", err


def test_every_pct_name_is_documented() -> None:
    text = (ROOT / "docs" / "selftests.md").read_text()
    for name in power_on.NAMES + pct.NAMES:
        assert f"`{name}`" in text, name


@pytest.fixture
def module_copy(tmp_path: Path) -> Path:
    """The module as installed elsewhere: the .so and its manifest."""
    where = tmp_path / "module"
    where.mkdir()
    shutil.copy2(LIB, where / LIB.name)
    shutil.copy2(LIB.with_name("craton_hsm.manifest.json"),
                 where / "craton_hsm.manifest.json")
    return where / LIB.name


def test_module_copy_with_manifest_initialises(tmp_path: Path,
                                               module_copy: Path) -> None:
    steps, err = run(tmp_path, "init", lib=module_copy)
    assert steps == {"init": "OK"}, err


def test_corrupted_library_fails_integrity(tmp_path: Path,
                                           module_copy: Path) -> None:
    # Trailing bytes leave the ELF loadable: only the integrity test
    # can notice the change.
    with module_copy.open("ab") as f:
        f.write(b"\0corrupted")
    steps, err = run(tmp_path, "init", lib=module_copy)
    assert steps == {"init": "GENERAL_ERROR"}
    assert "self-test integrity failed" in err
    assert "libcraton_hsm.so differs from the manifest" in err


def test_missing_manifest_fails_integrity(tmp_path: Path,
                                          module_copy: Path) -> None:
    module_copy.with_name("craton_hsm.manifest.json").unlink()
    steps, err = run(tmp_path, "init", lib=module_copy)
    assert steps == {"init": "GENERAL_ERROR"}
    assert "self-test integrity failed" in err


def test_manifest_listing_a_missing_file_fails(tmp_path: Path,
                                               module_copy: Path) -> None:
    manifest = module_copy.with_name("craton_hsm.manifest.json")
    doc = json.loads(manifest.read_text())
    doc["files"]["craton_hsm/removed.py"] = "00" * 32
    manifest.write_text(json.dumps(doc))
    steps, err = run(tmp_path, "init", lib=module_copy)
    assert steps == {"init": "GENERAL_ERROR"}
    assert "craton_hsm/removed.py is missing" in err


def _cli(tmp_path: Path, fail: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CRATON_HSM_")}
    env["CRATON_HSM_DATA_DIR"] = str(tmp_path / "data")
    if fail:
        env["CRATON_HSM_SELFTEST_FAIL"] = fail
    return subprocess.run([str(SCRIPT), "selftest", "--json"], env=env,
                          capture_output=True, text=True, timeout=120,
                          check=False)


def test_cli_selftest_reports_every_test(tmp_path: Path) -> None:
    proc = _cli(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["passed"] is True
    assert [t["name"] for t in doc["tests"]] == list(power_on.NAMES)
    assert {t["result"] for t in doc["tests"]} == {"pass"}


def test_cli_selftest_fails_on_injected_failure(tmp_path: Path) -> None:
    proc = _cli(tmp_path, fail="kat-ml-kem-768")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    failed = [t for t in doc["tests"] if t["result"] != "pass"]
    assert [t["name"] for t in failed] == ["kat-ml-kem-768"]
    assert "differs from the known answer" in failed[0]["detail"]


def test_vectors_match_their_sources() -> None:
    proc = subprocess.run([sys.executable,
                           str(ROOT / "tools" / "selftest_vectors.py"),
                           "--check"], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
