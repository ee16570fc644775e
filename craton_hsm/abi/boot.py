"""Python start-up inside libcraton_hsm.so.

Run once by cffi's embedding_init_code from C_Initialize (see
ffi/build_hsm.py).  Any exception here makes cffi_start_python() fail, and
C_Initialize then returns CKR_GENERAL_ERROR.
"""

from __future__ import annotations

import importlib

from craton_hsm.abi import exports


def start() -> None:
    """Register the entry points, then stub whatever is left unexported."""
    importlib.import_module("craton_hsm.abi.entry")
    exports.finish()
