"""The C face of libcraton_hsm.so, driven by real hosts (PKCS#11 v3.0
sections 5.4-5.5): a C program that dlopen()s it RTLD_LOCAL, pkcs11-tool,
python-pkcs11 and PyKCS11 inside an already running Python.

The boot sequence under test is described in ffi/build_hsm.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from craton_hsm._generated_ck import CKR

from .conftest import ROOT, function_names

MANUFACTURER = "Craton HSM"


def run(cmd: list[str], env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


def parse(stdout: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in stdout.splitlines()
             if "=" in line)
    return {key: value for key, value in pairs}


def rv(text: str) -> int:
    return int(text, 16)


@pytest.fixture
def hostile_env(tmp_path: Path) -> dict[str, str]:
    """PYTHON* variables pointing at a decoy tree that breaks any import
    from it: the isolated interpreter must ignore them all."""
    decoy = tmp_path / "decoy"
    for pkg in ("craton_hsm", "_cffi_backend", "cffi", "encodings"):
        (decoy / pkg).mkdir(parents=True)
        (decoy / pkg / "__init__.py").write_text(
            "raise ImportError('decoy imported')\n")
    env = dict(os.environ)
    env.update(PYTHONHOME=str(decoy), PYTHONPATH=str(decoy),
               PYTHONSTARTUP=str(decoy / "x.py"), PYTHONNOUSERSITE="",
               PYTHONSAFEPATH="")
    env.pop("CRATON_HSM_VENV", None)
    return env


def placements(libpath: Path, tmp_path: Path) -> dict[str, Path]:
    link = tmp_path / "links" / "libpkcs11-via-link.so"
    link.parent.mkdir()
    link.symlink_to(libpath)
    # A copy has no ../.venv beside it: the build-time venv path is used.
    # The module is the .so and its integrity manifest (docs/selftests.md).
    copy = tmp_path / "copy" / "libcraton_hsm.so"
    copy.parent.mkdir()
    shutil.copy2(libpath, copy)
    shutil.copy2(libpath.with_name("craton_hsm.manifest.json"),
                 copy.with_name("craton_hsm.manifest.json"))
    return {"direct": libpath, "symlink": link, "copy": copy}


SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"   # installed by `make test`


@pytest.mark.parametrize("where", ["direct", "symlink", "copy",
                                   "after-softhsm"])
def test_c_host_sequence(host: Path, libpath: Path, tmp_path: Path,
                         hostile_env: dict[str, str], where: str) -> None:
    if where == "after-softhsm":
        # SoftHSMv2 loaded RTLD_GLOBAL first exports the same C_* names.
        lib, env = libpath, {**hostile_env, "HOST_PRELOAD": SOFTHSM}
    else:
        lib, env = placements(libpath, tmp_path)[where], hostile_env
    proc = run([str(host), str(lib), "info"], env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = parse(proc.stdout)

    not_init = CKR.CRYPTOKI_NOT_INITIALIZED
    assert rv(out["preinit_getinfo_rv"]) == not_init
    assert rv(out["preinit_finalize_rv"]) == not_init
    assert out["interfaces"] == "checked"
    assert int(out["table_entries"]) == 104
    assert rv(out["init1_rv"]) == CKR.OK, proc.stderr
    assert rv(out["init_again_rv"]) == CKR.CRYPTOKI_ALREADY_INITIALIZED
    for tag in ("info1", "info2"):
        assert rv(out[f"{tag}_rv"]) == CKR.OK
        assert out[f"{tag}_cryptoki"] == "3.0"
        assert out[f"{tag}_manufacturer"] == MANUFACTURER.ljust(32) + "|"
    assert rv(out["finalize1_rv"]) == CKR.OK
    assert rv(out["after_finalize_getinfo_rv"]) == not_init
    assert rv(out["init2_rv"]) == CKR.OK
    assert rv(out["finalize2_rv"]) == CKR.OK
    assert "decoy" not in proc.stderr


def test_unimplemented_is_not_supported(host: Path, libpath: Path) -> None:
    """finish() stubs every function nobody exported: never CKR_OK."""
    proc = run([str(host), str(libpath), "info"])
    out = parse(proc.stdout)
    for key in ("verify_signature_final_rv", "async_get_id_rv"):
        assert rv(out[key]) == CKR.FUNCTION_NOT_SUPPORTED, key
    # The message-based API is implemented now: session 1 is not open.
    for key in ("message_encrypt_final_rv", "verify_message_next_rv"):
        assert rv(out[key]) == CKR.SESSION_HANDLE_INVALID, key


def test_fork_children_do_not_hang(host: Path, libpath: Path) -> None:
    proc = run([str(host), str(libpath), "fork"], timeout=300)
    out = parse(proc.stdout)
    assert out.get("children_hung") == "0", proc.stdout + proc.stderr
    assert out.get("children_ok") == "20", proc.stdout + proc.stderr
    assert proc.returncode == 0
    assert rv(out["parent_rv"]) == CKR.OK


def test_only_c_symbols_exported(libpath: Path) -> None:
    proc = run(["nm", "-D", "--defined-only", str(libpath)])
    assert proc.returncode == 0, proc.stderr
    names = {line.split()[-1] for line in proc.stdout.splitlines()}
    assert names == set(function_names())


def test_needs_no_global_python_symbols(libpath: Path) -> None:
    """Linked -z nodelete, and libpython found through the build rpath."""
    proc = run(["readelf", "-d", str(libpath)])
    assert "NODELETE" in proc.stdout
    assert "libpython3" in proc.stdout


def test_pkcs11_tool_show_info(libpath: Path) -> None:
    assert shutil.which("pkcs11-tool"), "install opensc (make test does)"
    proc = run(["pkcs11-tool", "--module", str(libpath), "--show-info"])
    output = proc.stdout + proc.stderr
    assert "Cryptoki version 3.0" in output
    assert MANUFACTURER in output
    assert proc.returncode == 0, output


PYTHON_PKCS11 = """
import sys, pkcs11
lib = pkcs11.lib(sys.argv[1])
print("manufacturer=" + lib.manufacturer_id)
print("cryptoki=%d.%d" % lib.cryptoki_version)
"""

PYKCS11 = """
import sys, PyKCS11
lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
info = lib.getInfo()
print("manufacturer=" + info.manufacturerID.strip())
print("cryptoki=%d.%d" % tuple(info.cryptokiVersion))
"""


@pytest.mark.parametrize("client", ["python-pkcs11", "PyKCS11"])
def test_python_host(libpath: Path, client: str) -> None:
    """Python already runs: the module joins it instead of starting one."""
    script = PYTHON_PKCS11 if client == "python-pkcs11" else PYKCS11
    proc = run([sys.executable, "-c", textwrap.dedent(script),
                str(libpath)])
    assert proc.returncode == 0, proc.stderr
    out = parse(proc.stdout)
    assert out["manufacturer"].strip() == MANUFACTURER
    assert out["cryptoki"] == "3.0"


def test_makefile_and_ci_entry_exist() -> None:
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
    assert "build:" in (ROOT / "Makefile").read_text()


GUARD = """
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
assert lib.C_Initialize(None) == 0
from craton_hsm.abi.exports import FUNCTIONS, guarded
from craton_hsm.errors import CKRError

def raises(exc):
    def fn():
        raise exc
    return fn

cases = {
    "ckr": raises(CKRError(0xA0)),
    "value_error": raises(ValueError("boom")),
    "memory": raises(MemoryError()),
    "none": lambda: None,
    "bool": lambda: True,
    "huge": lambda: 2 ** 70,
    "negative": lambda: -1,
    "ok": lambda: 0,
}
for name, fn in cases.items():
    print("%s=%d" % (name, guarded(fn)()))
print("functions=%d" % len(FUNCTIONS))
"""


def test_guard_maps_every_outcome_to_a_ck_rv(libpath: Path) -> None:
    """R1: an exception or a bogus return value never becomes CKR_OK."""
    proc = run([sys.executable, "-c", GUARD, str(libpath)])
    assert proc.returncode == 0, proc.stderr
    out = {k: int(v) for k, v in parse(proc.stdout).items()}
    general = int(CKR.GENERAL_ERROR)
    assert out == {
        "ckr": 0xA0, "value_error": general, "memory": CKR.HOST_MEMORY,
        "none": general, "bool": general, "huge": general,
        "negative": general, "ok": 0, "functions": 101,
    }
