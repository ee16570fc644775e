"""Python start-up inside libcraton_hsm.so.

Run once by cffi's embedding_init_code from C_Initialize (see
ffi/build_hsm.py).  Any exception here makes cffi_start_python() fail, and
C_Initialize then returns CKR_GENERAL_ERROR.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from _craton_hsm_abi import ffi, lib

from craton_hsm import secmem
from craton_hsm.abi import exports
from craton_hsm.selftest import integrity


def library_path() -> Path | None:
    """The file this code was loaded from (dladdr(3) in ffi/shim.c, as
    it finds the venv): the integrity test measures that file and reads
    the manifest beside it."""
    name = lib.craton_module_path()
    if name == ffi.NULL:
        return None
    return Path(ffi.string(name).decode()).resolve()


class CArena:
    """ffi/arena.c, adapted to secmem.Native: the mlocked, undumpable
    arena exists only in the .so, so abi hands it to secmem at boot."""

    def open(self, size: int) -> int:
        return int(lib.craton_arena_open(size))

    def buffer(self) -> memoryview:
        return memoryview(ffi.buffer(lib.craton_arena_base(),
                                     lib.craton_arena_size()))

    def wipe(self, offset: int, n: int) -> None:
        lib.craton_arena_wipe(offset, n)

    def error(self) -> int:
        return int(lib.craton_arena_error())


def start() -> None:
    """Register the entry points, then stub whatever is left unexported."""
    secmem.register(CArena())
    integrity.set_module(library_path())
    importlib.import_module("craton_hsm.abi.entry")
    exports.finish()
