"""A PyKCS11 application that measures what the module costs it.

``python footprint_child.py <module> <objects>`` with CRATON_HSM_DATA_DIR
set.  It loads the module (C_Initialize, with the power-on self-tests),
notes which Python modules that imported, then creates ``objects``
session CKO_DATA objects with p11bench's template (shared/bench/
p11bench.c, obj_create_session_data: CKA_CLASS, CKA_TOKEN false,
CKA_PRIVATE false, a distinct 19-byte CKA_LABEL, a 16-byte CKA_VALUE)
under tracemalloc, and reports the bytes still allocated per object.
The handles PyKCS11 returns are dropped at once, so what stays
allocated is the module's.  Prints one JSON document.
"""

from __future__ import annotations

import json
import sys
import tracemalloc
from typing import Any

import PyKCS11 as P


def vm_rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main() -> None:
    module, count = sys.argv[1], int(sys.argv[2])
    report: dict[str, Any] = {}
    before = set(sys.modules)
    lib = P.PyKCS11Lib()
    lib.load(module)                    # C_Initialize
    report["imported_at_initialize"] = sorted(set(sys.modules) - before)
    report["rss_after_initialize_kib"] = vm_rss_kib()
    lib.initToken(0, "12345678", "footprint")
    s = lib.openSession(0, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)

    value = bytes([7]) * 16
    template = [(P.CKA_CLASS, P.CKO_DATA), (P.CKA_TOKEN, False),
                (P.CKA_PRIVATE, False), (P.CKA_LABEL, ""),
                (P.CKA_VALUE, value)]
    # One object first: lazily made module state (the find index of the
    # class, audit plans) is not a per-object cost.
    s.createObject(template[:3] + [(P.CKA_LABEL, "warm-up")]
                   + template[4:])
    rss_before = vm_rss_kib()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    for i in range(count):
        template[3] = (P.CKA_LABEL, f"p11bench-obj-{i:06d}")
        s.createObject(template)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    report["traced_bytes_per_object"] = (held - base) / count
    report["rss_kib_per_object"] = (vm_rss_kib() - rss_before) / count
    s.closeSession()
    lib.unload()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
