"""A PyKCS11 application that looks for a destroyed key in its own memory.

``python child.py <module> <token|session>`` with CRATON_HSM_DATA_DIR and
CRATON_HSM_CONFIG set (the config gives the arena a distinctive size,
``ARENA_BYTES`` below).  It creates an AES secret key with a random
32-byte CKA_VALUE (C_CreateObject, CKA_SENSITIVE), encrypts with it,
destroys it, logs out and finalises, counting the key's bytes in the
module's arena (found in /proc/self/smaps by its size and its "dd"
VmFlag) and in every other readable mapping (/proc/self/mem) after each
step.  Prints one JSON document.

The needle lives in a private mmap the scan skips, so the search itself
adds no copy; the copies PyKCS11 makes of the template are the
application's own and are counted under "elsewhere" like any other.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import re
import sys
from typing import Any

import PyKCS11 as P

ARENA_BYTES = (1 << 20) + 3 * mmap.PAGESIZE
CHUNK = 1 << 20
_MAP = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) ")


def _address(buf: mmap.mmap) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


def mappings() -> list[dict[str, Any]]:
    """/proc/self/smaps: start, end, perms, name and VmFlags per map."""
    out: list[dict[str, Any]] = []
    with open("/proc/self/smaps") as f:
        for line in f:
            m = _MAP.match(line)
            if m:
                out.append({"start": int(m[1], 16), "end": int(m[2], 16),
                            "perms": m[3], "name": line.split()[5:],
                            "flags": []})
            elif line.startswith("VmFlags:"):
                out[-1]["flags"] = line.split()[1:]
    return out


def vm_locked_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmLck:"):
                return int(line.split()[1])
    raise AssertionError("no VmLck in /proc/self/status")


class Scanner:
    def __init__(self, needle: mmap.mmap, n: int) -> None:
        self.needle = memoryview(needle)[:n]
        self.buf = mmap.mmap(-1, CHUNK + n)
        self.skip = [(_address(needle), _address(needle) + len(needle)),
                     (_address(self.buf), _address(self.buf) + len(self.buf))]

    def count(self, start: int, end: int, mem: Any) -> int:
        found, n, pos = 0, len(self.needle), start
        while pos < end:
            size = min(CHUNK + n, end - pos)
            try:
                mem.seek(pos)
                got = mem.readinto(memoryview(self.buf)[:size])
            except OSError:
                return found
            view = memoryview(self.buf)[:got]
            i = self.buf.find(self.needle, 0, got)
            while i != -1:
                found += 1
                i = self.buf.find(self.needle, i + 1, got)
            del view
            if got < size:
                break
            pos += CHUNK       # overlap n bytes: no match is cut in two
        return found

    def scan(self, arena: dict[str, Any] | None = None) -> dict[str, int]:
        """Hits in ``arena`` (a mapping of find_arena) and elsewhere;
        without one (the Python arena lives in the heap) all count as
        elsewhere."""
        start = arena["start"] if arena is not None else -1
        inside = elsewhere = 0
        with open("/proc/self/mem", "rb", buffering=0) as mem:
            for m in mappings():
                if "r" not in m["perms"] or m["name"] in (["[vvar]"],
                                                          ["[vsyscall]"]):
                    continue
                if any(a < m["end"] and m["start"] < b
                       for a, b in self.skip):
                    continue
                hits = self.count(m["start"], m["end"], mem)
                if m["start"] == start:
                    inside += hits
                else:
                    elsewhere += hits
        return {"arena": inside, "elsewhere": elsewhere}


def find_arena() -> dict[str, Any]:
    found = [m for m in mappings()
             if m["end"] - m["start"] == ARENA_BYTES and "dd" in m["flags"]]
    assert len(found) == 1, found
    return found[0]


def main() -> None:
    module, kind = sys.argv[1], sys.argv[2]
    needle = mmap.mmap(-1, mmap.PAGESIZE)
    needle[:32] = os.urandom(32)
    scanner = Scanner(needle, 32)
    report: dict[str, Any] = {"vmlck_before_kib": vm_locked_kib()}

    lib = P.PyKCS11Lib()
    lib.load(module)
    report["vmlck_after_kib"] = vm_locked_kib()
    arena = find_arena()
    report["arena_flags"] = arena["flags"]
    lib.initToken(0, "12345678", "memory")
    s = lib.openSession(0, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)
    s.login("12345678", P.CKU_SO)
    s.initPin("1234")
    s.logout()
    s.login("1234")
    key = s.createObject([
        (P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES),
        (P.CKA_TOKEN, kind == "token"), (P.CKA_SENSITIVE, True),
        (P.CKA_ENCRYPT, True), (P.CKA_VALUE, bytes(needle[:32]))])
    report["created"] = scanner.scan(arena)
    out = s.encrypt(key, b"\x00" * 16, P.Mechanism(P.CKM_AES_ECB))
    report["ciphertext_len"] = len(out)
    report["used"] = scanner.scan(arena)
    s.destroyObject(key)
    report["destroyed"] = scanner.scan(arena)
    s.logout()
    s.closeSession()
    report["closed"] = scanner.scan(arena)
    lib.lib.C_Finalize()
    report["finalized"] = scanner.scan(arena)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
