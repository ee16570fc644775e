"""Measure the memory footprint of a process that loads the module
(docs/edge.md).

For each N: a fresh data dir gets a token with N AES-256 token keys
(generated in the token; made with `[audit] fsync = "never"` to be quick),
then a NEW process, the measured host, reports its VmRSS/VmHWM
(/proc/self/status) at four points:

  python    Python + PyKCS11 imported, module not loaded
  init      after dlopen + C_Initialize (self-tests included)
  login     after C_OpenSession + C_Login
  objects   after C_FindObjects over every object and one AES-GCM
            encryption with the last key

The host is PyKCS11, the client every `craton-hsm` command uses; the
module's share is the difference to the `python` row.

Run: .venv/bin/python tools/footprint.py [N ...] [--json]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIB = Path(os.environ.get("CRATON_HSM_MODULE_COPY",
                          ROOT / "build" / "libcraton_hsm.so"))
SO_PIN, USER_PIN = "12345678", "1234"
FIELDS = ("VmRSS", "VmHWM")


def status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in KiB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in FIELDS:
            out[key] = int(value.split()[0])
    return out


def populate(n: int) -> None:
    import PyKCS11
    p11 = PyKCS11.PyKCS11Lib()
    p11.load(str(LIB))
    slot = p11.getSlotList()[0]
    p11.initToken(slot, SO_PIN, "edge")
    s = p11.openSession(slot, PyKCS11.CKF_RW_SESSION)
    s.login(SO_PIN, PyKCS11.CKU_SO)
    s.initPin(USER_PIN)
    s.logout()
    s.login(USER_PIN)
    mech = PyKCS11.Mechanism(PyKCS11.CKM_AES_KEY_GEN)
    for i in range(n):
        s.generateKey([(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
                       (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
                       (PyKCS11.CKA_VALUE_LEN, 32),
                       (PyKCS11.CKA_TOKEN, True),
                       (PyKCS11.CKA_ENCRYPT, True),
                       (PyKCS11.CKA_LABEL, f"k{i}")], mech)
    s.logout()
    s.closeSession()


def host() -> dict[str, dict[str, int]]:
    import PyKCS11
    points = {"python": status()}
    p11 = PyKCS11.PyKCS11Lib()
    p11.load(str(LIB))
    points["init"] = status()
    slot = p11.getSlotList(tokenPresent=True)[0]
    s = p11.openSession(slot, PyKCS11.CKF_RW_SESSION)
    s.login(USER_PIN)
    points["login"] = status()
    keys = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY)])
    if keys:
        params = PyKCS11.AES_GCM_Mechanism(bytes(12), b"", 128)
        s.encrypt(keys[-1], b"x" * 64, params)
    points["objects"] = status()
    points["found"] = {"objects": len(keys)}
    s.logout()
    s.closeSession()
    return points


def measure(n: int) -> dict[str, dict[str, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CRATON_HSM_") or k.endswith("_COPY")}
        env["CRATON_HSM_DATA_DIR"] = str(Path(tmp) / "data")
        config = Path(tmp) / "populate.toml"
        config.write_text('[audit]\nfsync = "never"\n')
        subprocess.run([sys.executable, __file__, "--populate", str(n)],
                       env=env | {"CRATON_HSM_CONFIG": str(config)},
                       check=True)
        out = subprocess.run([sys.executable, __file__, "--host"], env=env,
                             stdout=subprocess.PIPE, text=True, check=True)
        result: dict[str, dict[str, int]] = json.loads(out.stdout)
        assert result["found"]["objects"] == n, result
        return result


def main(argv: list[str]) -> int:
    if argv[:1] == ["--populate"]:
        populate(int(argv[1]))
        return 0
    if argv[:1] == ["--host"]:
        print(json.dumps(host()))
        return 0
    as_json = "--json" in argv
    counts = [int(a) for a in argv if a != "--json"] or [0, 1000, 10000]
    with tempfile.TemporaryDirectory() as tmp:
        # A snapshot of the package (first on PYTHONPATH, so the embedded
        # interpreter imports it) and of the module, with a manifest
        # written now: an edit of the checkout during the run can then
        # not fail the integrity self-test.
        shutil.copytree(ROOT / "craton_hsm", Path(tmp) / "craton_hsm",
                        ignore=shutil.ignore_patterns("__pycache__"))
        os.environ["PYTHONPATH"] = tmp
        lib = Path(tmp) / LIB.name
        shutil.copy2(LIB, lib)
        subprocess.run([sys.executable, str(ROOT / "tools" /
                                            "write_manifest.py"), str(lib)],
                       check=True, stdout=subprocess.DEVNULL)
        os.environ["CRATON_HSM_MODULE_COPY"] = str(lib)
        results = {n: measure(n) for n in counts}
    if as_json:
        print(json.dumps(results, indent=1))
        return 0
    print("| N objects | point | VmRSS MiB | VmHWM MiB |")
    print("|---:|---|---:|---:|")
    for n, points in results.items():
        for point in ("python", "init", "login", "objects"):
            p = points[point]
            print(f"| {n:,} | {point} | {p['VmRSS'] / 1024:.1f} "
                  f"| {p['VmHWM'] / 1024:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
