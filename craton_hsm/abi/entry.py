"""PLACEHOLDER entry points (C_Initialize, C_Finalize, C_GetInfo).

Written only so the ABI shell can be built and tested; the real
entry.py replaces this file.  PKCS#11 v3.0 section 5.4 (general-purpose
functions).
"""

from __future__ import annotations

import threading
from typing import Any

from _craton_hsm_abi import ffi

from craton_hsm._generated_ck import CKR
from craton_hsm.abi.exports import export
from craton_hsm.errors import CKRError

_lock = threading.Lock()
_state = {"initialized": False}


def _padded(text: str, width: int) -> bytes:
    return text.encode().ljust(width, b" ")[:width]


_MANUFACTURER = _padded("Craton HSM", 32)
_DESCRIPTION = _padded("Craton HSM software token", 32)


@export("C_Initialize")
def c_initialize(p_init_args: Any) -> int:
    with _lock:
        if _state["initialized"]:
            raise CKRError(CKR.CRYPTOKI_ALREADY_INITIALIZED)
        _state["initialized"] = True
    return int(CKR.OK)


@export("C_Finalize")
def c_finalize(p_reserved: Any) -> int:
    if p_reserved != ffi.NULL:
        raise CKRError(CKR.ARGUMENTS_BAD)
    with _lock:
        if not _state["initialized"]:
            raise CKRError(CKR.CRYPTOKI_NOT_INITIALIZED)
        _state["initialized"] = False
    return int(CKR.OK)


@export("C_GetInfo")
def c_get_info(p_info: Any) -> int:
    if not _state["initialized"]:
        raise CKRError(CKR.CRYPTOKI_NOT_INITIALIZED)
    if p_info == ffi.NULL:
        raise CKRError(CKR.ARGUMENTS_BAD)
    p_info.cryptokiVersion.major = 3
    p_info.cryptokiVersion.minor = 0
    ffi.memmove(p_info.manufacturerID, _MANUFACTURER, 32)
    p_info.flags = 0
    ffi.memmove(p_info.libraryDescription, _DESCRIPTION, 32)
    p_info.libraryVersion.major = 0
    p_info.libraryVersion.minor = 1
    return int(CKR.OK)
