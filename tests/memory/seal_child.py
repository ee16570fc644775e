"""Seals a key held in the arena and looks for its bytes afterwards.

``python seal_child.py <n>`` (no .so: the arena is the Python one).  The
key is a random n-byte CKA_VALUE copied from a private mmap (skipped by
the scan, tests/memory/child.py) into an arena slice, as
dispatch/object.store_new keeps it; core/vault.seal encrypts it the way
core/token.save_object does; then the slice is freed (wiped) and every
readable mapping of the process is searched for the key (also once
before the free, where exactly the key's own slice must be found).  Whatever is
found is a copy made on the seal path and left unwiped in the heap
(docs/memory.md "Immutable bytes").  Prints one JSON document: the
counts, and whether the blob still opens to the same key.
"""

from __future__ import annotations

import hmac
import json
import mmap
import os
import sys

from craton_hsm import secmem
from craton_hsm._generated_ck import CKA, CKK, CKO
from craton_hsm.core import vault
from tests.memory.child import Scanner

PUBLIC = {CKA.CLASS: int(CKO.SECRET_KEY), CKA.KEY_TYPE: int(CKK.AES),
          CKA.TOKEN: True, CKA.SENSITIVE: True}


def seal(mk: secmem.Secret, key: secmem.Secret) -> bytes:
    secrets = {CKA.VALUE: key.view, CKA.VALUE_LEN: len(key)}
    return vault.seal(mk.view, "SERIAL", "uid-1", secrets, PUBLIC)


def main() -> None:
    n = int(sys.argv[1])
    mk = vault.new_master_key()
    # A first seal of another key, so that lazy imports and caches are
    # in place before the key we look for exists.
    warm = secmem.secret(os.urandom(n))
    seal(mk, warm)
    warm.free()

    # Read straight into the mmap: os.urandom's bytes would be a copy
    # of the key left in the heap before the test begins.
    needle = mmap.mmap(-1, max(n, mmap.PAGESIZE))
    with open("/dev/urandom", "rb", buffering=0) as f:
        f.readinto(memoryview(needle)[:n])
    scanner = Scanner(needle, n)
    key = secmem.secret(memoryview(needle)[:n])
    blob = seal(mk, key)
    held = scanner.scan()["elsewhere"]
    key.free()
    freed = scanner.scan()["elsewhere"]

    opened = vault.open_sealed(mk.view, "SERIAL", "uid-1", blob, PUBLIC)
    value = opened[CKA.VALUE]
    same = isinstance(value, secmem.Secret) and hmac.compare_digest(
        value.view, memoryview(needle)[:n])
    value.free()
    print(json.dumps({"copies_while_held": held, "copies_after_free": freed,
                      "opens": same, "value_len": opened[CKA.VALUE_LEN]}),
          flush=True)


if __name__ == "__main__":
    main()
