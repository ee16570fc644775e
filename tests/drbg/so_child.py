"""A PKCS#11 client process for the DRBG tests: loads the built .so
with cffi in ABI mode (never imports craton_hsm's DRBG itself) and
prints one JSON line of CKR names and outputs.

``python so_child.py <lib> <mode>``; CRATON_HSM_DATA_DIR and
CRATON_HSM_SELFTEST_FAIL come from the environment.  Modes:

``init``   C_InitToken and C_InitPIN on slot 0 (the parent copies the
           data dir).
``fault``  C_Initialize, C_GenerateRandom, C_GenerateKey (AES), then
           C_Finalize + C_Initialize + C_GenerateRandom again.
``fork``   C_GenerateRandom in the parent; fork; the child initialises
           its own copy (spec 5.4) and draws 32 bytes; the parent draws
           its next 32; both outputs are printed.
``seed``   C_SeedRandom with a fixed seed, then C_GenerateRandom twice.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "abi"))
from test_hostile import (
    FALSE,
    NULL,
    USER_PIN,
    Token,
    ffi,
    name,
    ulong,
)

from craton_hsm._generated_ck import CKA, CKF, CKK, CKM, CKU


def session(lib: Any) -> tuple[str, int]:
    h = ffi.new("CK_SESSION_HANDLE *")
    rv = lib.C_OpenSession(0, CKF.SERIAL_SESSION, NULL, NULL, h)
    return name(rv), int(h[0])


def random(lib: Any, h: int, n: int = 32) -> tuple[str, str]:
    buf = ffi.new("unsigned char[]", n)
    rv = lib.C_GenerateRandom(h, buf, n)
    return name(rv), bytes(buf).hex()


def aes_key(lib: Any, h: int) -> str:
    t = Token(lib)
    t.login(h, CKU.USER, USER_PIN)       # ALREADY_LOGGED_IN is fine
    # A public session object: no login needed.
    tmpl = t.template((CKA.KEY_TYPE, ulong(CKK.AES)),
                      (CKA.VALUE_LEN, ulong(32)), (CKA.PRIVATE, FALSE))
    out = ffi.new("CK_OBJECT_HANDLE *")
    return name(lib.C_GenerateKey(h, t.mechanism(CKM.AES_KEY_GEN), tmpl, 3,
                                  out))


def main(lib_path: str, mode: str) -> dict[str, Any]:
    lib = ffi.dlopen(lib_path)
    out: dict[str, Any] = {"init": name(lib.C_Initialize(NULL))}
    if mode == "init":
        Token(lib).ready()               # SO and user PINs set
        out["token"] = "OK"
    elif mode == "fault":
        out["open"], h = session(lib)
        out["random"] = random(lib, h)[0]
        out["random_again"] = random(lib, h)[0]
        out["genkey"] = aes_key(lib, h)
        out["finalize"] = name(lib.C_Finalize(NULL))
        out["reinit"] = name(lib.C_Initialize(NULL))
        out["reopen"], h = session(lib)
        out["random_after"] = random(lib, h)[0]
        out["genkey_after"] = aes_key(lib, h)
    elif mode == "fork":
        _, h = session(lib)
        out["parent_first"] = random(lib, h)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            child = {"stale": name(lib.C_GenerateRandom(
                h, ffi.new("unsigned char[32]"), 32)),
                "init": name(lib.C_Initialize(NULL))}
            child["open"], hc = session(lib)
            child["random"] = random(lib, hc)
            os.write(w, json.dumps(child).encode())
            os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        with os.fdopen(r) as f:
            out["child"] = json.loads(f.read())
        out["parent_next"] = random(lib, h)
    elif mode == "seed":
        _, h = session(lib)
        seed = b"caller seed, mixed in as additional input"
        out["seed"] = name(lib.C_SeedRandom(h, seed, len(seed)))
        out["a"] = random(lib, h)
        out["seed2"] = name(lib.C_SeedRandom(h, seed, len(seed)))
        out["b"] = random(lib, h)
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
