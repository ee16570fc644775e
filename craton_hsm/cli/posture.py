"""`status --security-posture`: what protects this installation.

Crypto profile and approved-only mode (with the system policy file and
the keys it pins) come from craton_hsm.config, the same loader the
module uses.  The self-test state is what the module itself says: the
power-on self-tests run inside C_Initialize and a failure makes it
return CKR_GENERAL_ERROR (issue 5), so an initialised library has
passed them.  mlock availability is probed here by locking one page
(RLIMIT_MEMLOCK and CAP_IPC_LOCK both decide it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import resource
from typing import Any

from craton_hsm.cli._common import Failure, config, library
from craton_hsm.config import Config


def _limit(value: int) -> int | str:
    return "unlimited" if value == resource.RLIM_INFINITY else value


def mlock_probe() -> dict[str, Any]:
    """Lock and unlock one anonymous page; report the outcome."""
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    page = mmap.mmap(-1, mmap.PAGESIZE)
    try:
        addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
        ok = libc.mlock(ctypes.c_void_p(addr), mmap.PAGESIZE) == 0
        err = ctypes.get_errno()
        if ok:
            libc.munlock(ctypes.c_void_p(addr), mmap.PAGESIZE)
    finally:
        page.close()
    return {"available": ok,
            "error": None if ok else ctypes.cast(
                libc.strerror(err), ctypes.c_char_p).value,
            "rlimit_memlock": {"soft": _limit(soft), "hard": _limit(hard)}}


def self_tests() -> dict[str, Any]:
    try:
        with library():
            return {"state": "passed",
                    "detail": "C_Initialize ran the power-on self-tests"}
    except Failure as e:
        return {"state": "failed", "detail": str(e)}


def posture(cfg: Config | None = None) -> dict[str, Any]:
    cfg = cfg or config()
    probe = mlock_probe()
    if isinstance(probe["error"], bytes):
        probe["error"] = probe["error"].decode()
    return {
        "crypto_profile": cfg.crypto_profile,
        "fips_approved_only": cfg.fips_approved_only,
        "self_tests": self_tests(),
        "mlock": probe,
        "policy_file": str(cfg.policy_source) if cfg.policy_source
        else None,
        "pinned": list(cfg.pinned),
        "config_source": str(cfg.source) if cfg.source else None,
    }
