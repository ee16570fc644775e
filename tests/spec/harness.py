"""The cffi ABI-mode harness of tests/abi/test_hostile.py, reached the
PKCS#11 v3.0 way: C_GetInterface("PKCS 11", v3.0) and every call through
the CK_FUNCTION_LIST_3_0 it returns (spec 5.4, C_GetInterface), so the
tests exercise the table a 3.0 application really uses.

``open_module(path)`` works for any module with C_GetInterface or, for
2.40 modules (SoftHSMv2), C_GetFunctionList; ``Module`` answers
``mod.C_X(...)`` like a dlopen'ed library, so ``test_hostile.Token``
works unchanged over it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.abi.test_hostile import CBINDINGS, NULL, ffi

_text = re.sub(r"/\*(?!\s*@list).*?\*/", "",
               (CBINDINGS / "pkcs11_functions.h").read_text(),
               flags=re.DOTALL)
_upto30 = _text.split("/* @list 3.2 */")[0]
NAMES_30 = re.findall(r"^CK_RV (C_\w+)\(", _upto30, re.MULTILINE)
NAMES_240 = re.findall(r"^CK_RV (C_\w+)\(",
                       _text.split("/* @list 3.0 */")[0], re.MULTILINE)
_PROTOS = dict(re.findall(r"^CK_RV (C_\w+)(\(.*?\));", _text,
                          re.MULTILINE))


def _struct(tag: str, names: list[str]) -> str:
    fields = "".join(f"    CK_RV (*{n}){_PROTOS[n]};\n" for n in names)
    return f"typedef struct {tag} {{\n    CK_VERSION version;\n{fields}}} {tag};\n"


# The shared ffi of test_hostile gains the two tables once per process.
if "CK_FUNCTION_LIST_3_0" not in ffi.list_types()[0]:
    ffi.cdef(_struct("CK_FUNCTION_LIST_3_0", NAMES_30)
             + _struct("CK_FUNCTION_LIST", NAMES_240))


class Module:
    """Calls through a function table; ``lib`` keeps the .so loaded."""

    def __init__(self, lib: Any, table: Any, names: list[str]) -> None:
        self.lib = lib
        self.table = table
        self.names = frozenset(names)

    def __getattr__(self, name: str) -> Any:
        if name not in self.names:
            raise AttributeError(f"{name} not in this function list")
        return getattr(self.table, name)


def open_module(path: Path | str) -> Module:
    lib = ffi.dlopen(str(path))
    try:
        get = lib.C_GetInterface
    except AttributeError:
        get = None
    if get is not None:
        pp = ffi.new("CK_INTERFACE **")
        version = ffi.new("CK_VERSION *", {"major": 3, "minor": 0})
        if get(b"PKCS 11", version, pp, 0) == 0:
            table = ffi.cast("CK_FUNCTION_LIST_3_0 *",
                             pp[0].pFunctionList)
            return Module(lib, table, NAMES_30)
    ppl = ffi.new("CK_FUNCTION_LIST **")
    assert lib.C_GetFunctionList(ffi.cast("void **", ppl)) == 0
    return Module(lib, ppl[0], NAMES_240)


__all__ = ["NULL", "Module", "ffi", "open_module"]
