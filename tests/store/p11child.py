"""A separate PKCS#11 client process for the multi-process and crash tests.

Run as ``python p11child.py <libcraton_hsm.so> <mode> [args...]``.  It
loads the built module with cffi in ABI mode, exactly as a C host would,
and never imports craton_hsm itself: every answer goes through the C ABI.
CRATON_HSM_DATA_DIR selects the token files, as for any host.

Modes:

``serve``
    One JSON command per stdin line, one JSON reply per stdout line
    (``{"op": "create", "args": [...]}`` -> ``{"ok": result}``).  Tests
    keep two of these alive to watch one see the other's changes.
``bulk <prefix> <count>``
    C_CreateObject of ``count`` public token data objects; a
    CKR_FUNCTION_FAILED (store busy) is retried and counted.  Prints one
    JSON line: ``{"created": n, "busy_retries": n, "bad": {...}}``.
``churn <record-file> <run-id> <seed>``
    Creates and destroys token data objects until killed (or until
    its parent is gone).
    Each outcome is appended to the record file *after* the call
    returned: ``C <label>`` (create OK), ``d <label>`` (destroy about to
    be called), ``D <label>`` (destroy OK).
``setpin <pin-a> <pin-b> <key-label>``
    Finds which of the two user PINs logs in, HMACs a fixed message
    with the private secret key, prints ``{"pin": .., "mac": ..}`` and
    then calls C_SetPIN(current, other) (the parent kills it during
    that call), printing ``{"set": rv}`` if it returns.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sys
from pathlib import Path
from typing import Any

import cffi

ROOT = Path(__file__).resolve().parents[2]
CBINDINGS = ROOT / "cbindings"

# Spec constants, spelled out so this process never imports the package.
CKR_OK = 0
CKR_FUNCTION_FAILED = 0x6
CKR_PIN_INCORRECT = 0xA0
CKF_RW_SESSION, CKF_SERIAL_SESSION = 0x2, 0x4
CKU_SO, CKU_USER = 0, 1
CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL = 0x0, 0x1, 0x2, 0x3
CKA_VALUE = 0x11
CKA_KEY_TYPE, CKA_SENSITIVE, CKA_SIGN = 0x100, 0x103, 0x108
CKO_DATA, CKO_SECRET_KEY = 0x0, 0x4
CKK_GENERIC_SECRET = 0x10
CKM_SHA256_HMAC = 0x251
HMAC_MESSAGE = b"craton crash test"


def _cdef() -> str:
    functions = (CBINDINGS / "pkcs11_functions.h").read_text()
    functions = re.sub(r"/\*.*?\*/", "", functions, flags=re.DOTALL)
    return (CBINDINGS / "pkcs11_types.h").read_text() + functions


ffi = cffi.FFI()
ffi.cdef(_cdef())
NULL = ffi.NULL


def data_value(label: str) -> bytes:
    """The CKA_VALUE written for a label (256 bytes, checkable later)."""
    return hashlib.shake_256(label.encode()).digest(256)


def ulong(v: int) -> bytes:
    return int(v).to_bytes(ffi.sizeof("CK_ULONG"), sys.byteorder)


class Client:
    """Thin calls over the raw C functions; each returns the CK_RV."""

    def __init__(self, libpath: str) -> None:
        self.lib: Any = ffi.dlopen(libpath)

    def initialize(self) -> int:
        return int(self.lib.C_Initialize(NULL))

    def finalize(self) -> int:
        return int(self.lib.C_Finalize(NULL))

    def init_token(self, slot: int, so_pin: str, label: str) -> int:
        return int(self.lib.C_InitToken(slot, so_pin.encode(),
                                        len(so_pin),
                                        label.encode().ljust(32)))

    def open(self, slot: int = 0, rw: bool = True) -> list[int]:
        flags = CKF_SERIAL_SESSION | (CKF_RW_SESSION if rw else 0)
        h = ffi.new("CK_SESSION_HANDLE *")
        rv = self.lib.C_OpenSession(slot, flags, NULL, NULL, h)
        return [int(rv), int(h[0])]

    def login(self, h: int, user: int, pin: str) -> int:
        return int(self.lib.C_Login(h, user, pin.encode(), len(pin)))

    def logout(self, h: int) -> int:
        return int(self.lib.C_Logout(h))

    def init_pin(self, h: int, pin: str) -> int:
        return int(self.lib.C_InitPIN(h, pin.encode(), len(pin)))

    def set_pin(self, h: int, old: str, new: str) -> int:
        return int(self.lib.C_SetPIN(h, old.encode(), len(old),
                                     new.encode(), len(new)))

    def token_flags(self, slot: int = 0) -> list[int]:
        info = ffi.new("CK_TOKEN_INFO *")
        rv = self.lib.C_GetTokenInfo(slot, info)
        return [int(rv), int(info.flags)]

    @staticmethod
    def _template(pairs: list[tuple[int, bytes]]) -> tuple[Any, list[Any]]:
        arr = ffi.new("CK_ATTRIBUTE[]", len(pairs))
        keep = []
        for i, (t, v) in enumerate(pairs):
            buf = ffi.new("char[]", v)
            keep.append(buf)
            arr[i].type, arr[i].pValue, arr[i].ulValueLen = t, buf, len(v)
        return arr, keep

    def _create(self, h: int, pairs: list[tuple[int, bytes]]) -> list[int]:
        arr, _keep = self._template(pairs)
        out = ffi.new("CK_OBJECT_HANDLE *")
        rv = self.lib.C_CreateObject(h, arr, len(pairs), out)
        return [int(rv), int(out[0])]

    def create(self, h: int, label: str, value_hex: str = "") -> list[int]:
        """A public token data object; the value defaults to
        data_value(label)."""
        value = bytes.fromhex(value_hex) if value_hex else data_value(label)
        return self._create(h, [(CKA_CLASS, ulong(CKO_DATA)),
                                (CKA_TOKEN, b"\x01"),
                                (CKA_LABEL, label.encode()),
                                (CKA_VALUE, value)])

    def create_hmac_key(self, h: int, label: str, value_hex: str
                        ) -> list[int]:
        """A private, sensitive token generic secret (sealed at rest)."""
        return self._create(h, [
            (CKA_CLASS, ulong(CKO_SECRET_KEY)), (CKA_TOKEN, b"\x01"),
            (CKA_PRIVATE, b"\x01"), (CKA_SENSITIVE, b"\x01"),
            (CKA_SIGN, b"\x01"),
            (CKA_KEY_TYPE, ulong(CKK_GENERIC_SECRET)),
            (CKA_LABEL, label.encode()),
            (CKA_VALUE, bytes.fromhex(value_hex))])

    def _attr(self, h: int, obj: int, t: int) -> tuple[int, bytes]:
        a = ffi.new("CK_ATTRIBUTE *")
        a.type, a.pValue, a.ulValueLen = t, NULL, 0
        rv = int(self.lib.C_GetAttributeValue(h, obj, a, 1))
        if rv != CKR_OK:
            return rv, b""
        buf = ffi.new("char[]", max(1, int(a.ulValueLen)))
        a.pValue = buf
        rv = int(self.lib.C_GetAttributeValue(h, obj, a, 1))
        return rv, bytes(ffi.buffer(buf, int(a.ulValueLen)))

    def read(self, h: int, obj: int) -> list[Any]:
        """[rv, label, value hex] of a data object."""
        rv, label = self._attr(h, obj, CKA_LABEL)
        if rv != CKR_OK:
            return [rv, "", ""]
        rv, value = self._attr(h, obj, CKA_VALUE)
        return [rv, label.decode(errors="replace"), value.hex()]

    def set_label(self, h: int, obj: int, label: str) -> int:
        arr, _keep = self._template([(CKA_LABEL, label.encode())])
        return int(self.lib.C_SetAttributeValue(h, obj, arr, 1))

    def destroy(self, h: int, obj: int) -> int:
        return int(self.lib.C_DestroyObject(h, obj))

    def find(self, h: int, label: str | None = None,
             cls: int | None = None) -> list[int]:
        """[rv, handles...] of the objects matching label/class."""
        pairs = []
        if cls is not None:
            pairs.append((CKA_CLASS, ulong(cls)))
        if label is not None:
            pairs.append((CKA_LABEL, label.encode()))
        arr, _keep = self._template(pairs)
        rv = int(self.lib.C_FindObjectsInit(h, arr if pairs else NULL,
                                            len(pairs)))
        if rv != CKR_OK:
            return [rv]
        found: list[int] = []
        buf = ffi.new("CK_OBJECT_HANDLE[]", 256)
        count = ffi.new("CK_ULONG *")
        while True:
            rv = int(self.lib.C_FindObjects(h, buf, 256, count))
            if rv != CKR_OK or count[0] == 0:
                break
            found.extend(int(buf[i]) for i in range(count[0]))
        final = int(self.lib.C_FindObjectsFinal(h))
        return [rv or final, *found]

    def hmac(self, h: int, key: int, data_hex: str) -> list[Any]:
        """[rv, mac hex] of CKM_SHA256_HMAC over data."""
        m = ffi.new("CK_MECHANISM *")
        m.mechanism, m.pParameter, m.ulParameterLen = \
            CKM_SHA256_HMAC, NULL, 0
        rv = int(self.lib.C_SignInit(h, m, key))
        if rv != CKR_OK:
            return [rv, ""]
        data = bytes.fromhex(data_hex)
        out = ffi.new("unsigned char[]", 64)
        n = ffi.new("CK_ULONG *", 64)
        rv = int(self.lib.C_Sign(h, data, len(data), out, n))
        return [rv, bytes(ffi.buffer(out, n[0])).hex()]


def serve(client: Client) -> None:
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            result = getattr(client, cmd["op"])(*cmd.get("args", []))
            reply: dict[str, Any] = {"ok": result}
        except Exception as exc:  # noqa: BLE001 - the test reports it
            reply = {"error": repr(exc)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def must(rv: int, what: str) -> None:
    if rv != CKR_OK:
        raise SystemExit(f"{what}: CK_RV {rv:#x}")


def bulk(client: Client, prefix: str, count: int) -> None:
    must(client.initialize(), "C_Initialize")
    rv, h = client.open()
    must(rv, "C_OpenSession")
    busy = 0
    bad: dict[str, int] = {}
    created = 0
    for i in range(count):
        while True:
            rv, _ = client.create(h, f"{prefix}-{i:04d}")
            if rv != CKR_FUNCTION_FAILED:
                break
            busy += 1
        if rv == CKR_OK:
            created += 1
        else:
            bad[hex(rv)] = bad.get(hex(rv), 0) + 1
    must(client.finalize(), "C_Finalize")
    print(json.dumps({"created": created, "busy_retries": busy, "bad": bad}))


def churn(client: Client, record: str, run_id: str, seed: int) -> None:
    rng = random.Random(seed)
    fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def note(kind: str, label: str) -> None:
        os.write(fd, f"{kind} {label}\n".encode())

    must(client.initialize(), "C_Initialize")
    rv, h = client.open()
    must(rv, "C_OpenSession")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    live: list[tuple[str, int]] = []
    n = 0
    parent = os.getppid()
    while os.getppid() == parent:       # never outlive a dead driver
        if live and rng.random() < 0.35:
            label, obj = live.pop(rng.randrange(len(live)))
            note("d", label)
            rv = client.destroy(h, obj)
            if rv == CKR_OK:
                note("D", label)
            elif rv != CKR_FUNCTION_FAILED:
                note("E", f"{label} destroy {rv:#x}")
        else:
            label = f"k-{run_id}-{n}"
            n += 1
            rv, obj = client.create(h, label)
            if rv == CKR_OK:
                note("C", label)
                live.append((label, obj))
            elif rv != CKR_FUNCTION_FAILED:
                note("E", f"{label} create {rv:#x}")


def setpin(client: Client, pin_a: str, pin_b: str, key_label: str) -> None:
    must(client.initialize(), "C_Initialize")
    rv, h = client.open()
    must(rv, "C_OpenSession")
    current = None
    tried = {}
    for pin in (pin_a, pin_b):
        rv = client.login(h, CKU_USER, pin)
        tried[pin] = rv
        if rv == CKR_OK:
            current = pin
            break
    if current is None:
        print(json.dumps({"pin": None, "tried": tried}), flush=True)
        return
    found = client.find(h, key_label, CKO_SECRET_KEY)
    mac = client.hmac(h, found[1], HMAC_MESSAGE.hex()) \
        if found[0] == CKR_OK and len(found) == 2 else [found[0], ""]
    print(json.dumps({"pin": current, "mac": mac, "found": found}),
          flush=True)
    new = pin_b if current == pin_a else pin_a
    print(json.dumps({"set": client.set_pin(h, current, new)}), flush=True)


def main(argv: list[str]) -> None:
    client = Client(argv[1])
    mode, args = argv[2], argv[3:]
    if mode == "serve":
        serve(client)
    elif mode == "bulk":
        bulk(client, args[0], int(args[1]))
    elif mode == "churn":
        churn(client, args[0], args[1], int(args[2]))
    elif mode == "setpin":
        setpin(client, args[0], args[1], args[2])
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
