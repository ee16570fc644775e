"""Build build/libcraton_hsm.so: the PKCS#11 v3.0 face of Craton HSM.

cffi embedding mode (cffi "Using CFFI for embedding").  The C part is
generated from cbindings/pkcs11_functions.h, whose line order is the ABI
(PKCS#11 v3.0 sections 5.4 and 5.5):

* static CK_FUNCTION_LIST (2.40, 68 entries), CK_FUNCTION_LIST_3_0
  (3.0, 92 entries) and CK_FUNCTION_LIST_3_2 (3.2, 104 entries) tables,
  and the CK_INTERFACE list built on them;
* one exported ``C_<Name>`` per function.  Apart from the three table
  functions, C_Initialize, C_Finalize and C_GetInfo (shim.c; C_GetInfo
  keeps Python's first CKR_OK answer), each refuses with
  CKR_CRYPTOKI_NOT_INITIALIZED unless C_Initialize succeeded in this
  process (not undone by C_Finalize or a fork) and then calls
  ``py_C_<Name>``, an ``extern "Python+C"`` implemented in
  craton_hsm/abi (registered by craton_hsm/abi/exports.py);
* C_Initialize boots Python following docs/../shared/notes/embedding.md:
  version check, libpython promoted to RTLD_GLOBAL, an isolated
  interpreter pointed at the venv, fork handlers, cffi_start_python().

Only C_* symbols are exported (linker version script).  Everything that is
written goes to build/.  Run: .venv/bin/python ffi/build_hsm.py
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import cffi

ROOT = Path(__file__).resolve().parent.parent
CBINDINGS = ROOT / "cbindings"
BUILD = ROOT / "build"
MODULE = "_craton_hsm_abi"
TARGET = "libcraton_hsm.so"

# Written in C, never forwarded to Python: they only hand out static tables.
TABLE_FUNCTIONS = ("C_GetFunctionList", "C_GetInterfaceList",
                   "C_GetInterface")

INIT_CODE = "from craton_hsm.abi import boot\nboot.start()\n"

_PROTO = re.compile(r"^CK_RV (C_\w+)\((.*)\);$")
_LIST = re.compile(r"/\*\s*@list\s+([\d.]+)\s*\*/")


@dataclass(frozen=True)
class Function:
    """One prototype line of pkcs11_functions.h."""

    name: str
    params: str          # "CK_SLOT_ID slotID, CK_SLOT_INFO *pInfo"
    arg_names: tuple[str, ...]
    since: str           # "2.40", "3.0" or "3.2"

    def proto(self, name: str) -> str:
        return f"CK_RV {name}({self.params})"

    @property
    def call_args(self) -> str:
        return ", ".join(self.arg_names)


def parse_functions(path: Path) -> list[Function]:
    """Prototypes in function-list order, checked against the spec sizes."""
    functions: list[Function] = []
    since = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        marker = _LIST.search(line)
        if marker:
            since = marker.group(1)
            continue
        match = _PROTO.match(line)
        if not match:
            continue
        name, params = match.groups()
        names = tuple(re.findall(r"(\w+)\s*$", p.strip())[0]
                      for p in params.split(","))
        functions.append(Function(name, params, names, since))
    counts = [sum(1 for f in functions if f.since == v)
              for v in ("2.40", "3.0", "3.2")]
    ordered = [f.since for f in functions] == sorted(
        (f.since for f in functions), key=lambda v: tuple(map(int, v.split("."))))
    if counts != [68, 24, 12] or not ordered:
        raise SystemExit(f"{path}: expected 68 + 24 + 12 prototypes in "
                         f"order, got {counts}")
    return functions


def python_functions(functions: list[Function]) -> list[Function]:
    return [f for f in functions if f.name not in TABLE_FUNCTIONS]


# The key-material arena (ffi/arena.c), called from craton_hsm/abi/boot.py
# through the cffi lib; plain C, not exported.
ARENA_CDEF = """
int craton_arena_open(size_t size);
void *craton_arena_base(void);
size_t craton_arena_size(void);
int craton_arena_error(void);
void craton_arena_wipe(size_t offset, size_t n);
"""


# The file the module was loaded from (ffi/shim.c, dladdr(3)), for the
# integrity self-test (craton_hsm/abi/boot.py); NULL if unknown.  Here
# rather than through ctypes, which boot would import only for this
# (issue 9, RSS after C_Initialize).
SELF_CDEF = """
const char *craton_module_path(void);
"""


# The audit append (ffi/audit.c): its system calls, and the whole of a
# common record in one call; called from
# craton_hsm/abi/audited.py through the cffi lib; not exported.
AUDIT_CDEF = """
int craton_audit_enter(int lock_fd, int log_fd, const void *head,
                       int64_t epoch);
int craton_audit_commit(int lock_fd, int log_fd, const char *line, size_t n,
                        int sync, void *head, int64_t epoch, uint64_t size,
                        uint64_t gen, uint64_t ino, uint64_t seq,
                        uint64_t first, const char *hash);
struct craton_audit_trail {
    int lock_fd, log_fd;
    void *head;
    int64_t epoch;
    uint64_t gen, ino, size, seq, first;
    uint64_t max_bytes, every;
    int fast;
    int fsync_all, fsync_state;
    int64_t stamp_sec;
    char stamp[20];
    char hash[64];
    ...;
};
int craton_audit_crypto_load(const char *name);
int craton_audit_init(struct craton_audit_trail *t);
void craton_audit_free(struct craton_audit_trail *t);
void craton_audit_lock(struct craton_audit_trail *t);
void craton_audit_unlock(struct craton_audit_trail *t);
int craton_audit_sha256_hex(const char *data, size_t n, char *out);
int craton_audit_append(struct craton_audit_trail *t, const char *body,
                        size_t n, const char *marker, size_t marker_n,
                        int quotes, int durable);
"""


def make_cdef(functions: list[Function]) -> str:
    lines = [(CBINDINGS / "pkcs11_types.h").read_text(), ARENA_CDEF,
             AUDIT_CDEF, SELF_CDEF]
    for f in python_functions(functions):
        lines.append(f'extern "Python+C" {f.proto("py_" + f.name)};')
    return "\n".join(lines) + "\n"


def _struct(tag: str, functions: list[Function]) -> str:
    fields = [f"    CK_RV (*{f.name})({f.params});" for f in functions]
    return "\n".join([f"typedef struct {tag} {{", "    CK_VERSION version;",
                      *fields, f"}} {tag};", ""])


def _table(tag: str, var: str, version: tuple[int, int],
           functions: list[Function]) -> str:
    entries = [f"    {f.name}," for f in functions]
    return "\n".join([f"static {tag} {var} = {{",
                      f"    {{{version[0]}, {version[1]}}},",
                      *entries, "};", ""])


def _forwarder(f: Function) -> str:
    return "\n".join([
        f"CK_RV {f.name}({f.params})",
        "{",
        "    if (!craton_is_live())",
        "        return CKR_CRYPTOKI_NOT_INITIALIZED;",
        f"    return py_{f.name}({f.call_args});",
        "}",
        "",
    ])


def make_source(functions: list[Function], venv_fallback: str) -> str:
    legacy = functions[:68]
    v30 = functions[:92]
    pyfns = python_functions(functions)
    parts = [
        "/* GENERATED by ffi/build_hsm.py from cbindings/; do not edit. */",
        '#include "pkcs11_types.h"',
        '#include "pkcs11_constants.h"',
        "",
        f"#define CRATON_VENV_FALLBACK {_c_string(venv_fallback)}",
        "",
        "/* Implemented in Python (extern \"Python+C\", defined by cffi",
        "   below this preamble). */",
        *[f"{f.proto('py_' + f.name)};" for f in pyfns],
        "",
        "/* Function tables, PKCS#11 v3.0 sections 5.4 and 5.5. */",
        _struct("CK_FUNCTION_LIST", legacy),
        _struct("CK_FUNCTION_LIST_3_0", v30),
        _struct("CK_FUNCTION_LIST_3_2", functions),
        *[f"{f.proto(f.name)};" for f in functions],
        "",
        _table("CK_FUNCTION_LIST", "craton_list_2_40", (2, 40), legacy),
        _table("CK_FUNCTION_LIST_3_0", "craton_list_3_0", (3, 0), v30),
        _table("CK_FUNCTION_LIST_3_2", "craton_list_3_2", (3, 2),
               functions),
        (Path(__file__).parent / "shim.c").read_text(),
        (Path(__file__).parent / "arena.c").read_text(),
        (Path(__file__).parent / "audit.c").read_text(),
        "/* Forwarders: refuse until the boot in C_Initialize completed. */",
        *[_forwarder(f) for f in pyfns
          if f.name not in ("C_Initialize", "C_Finalize", "C_GetInfo")],
    ]
    return "\n".join(parts)


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def version_script() -> str:
    return "{\n    global: C_*;\n    local: *;\n};\n"


def main() -> int:
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        print("craton-hsm: this Python has no shared libpython; rebuild it "
              "with --enable-shared", file=sys.stderr)
        return 1
    functions = parse_functions(CBINDINGS / "pkcs11_functions.h")
    BUILD.mkdir(exist_ok=True)
    mapfile = BUILD / "libcraton_hsm.map"
    mapfile.write_text(version_script())
    venv = os.environ.get("CRATON_HSM_BUILD_VENV", str(ROOT / ".venv"))
    libdir = sysconfig.get_config_var("LIBDIR")

    ffi = cffi.FFI()
    ffi.cdef(make_cdef(functions))
    ffi.embedding_init_code(INIT_CODE)
    ffi.set_source(
        MODULE,
        make_source(functions, venv),
        include_dirs=[str(CBINDINGS)],
        libraries=["dl", "pthread"],
        extra_compile_args=["-O2",
                            "-Wall", "-Wno-unused-function"],
        # -Bsymbolic: our own references to the exported C_* names (the
        # function lists, dladdr) bind inside this library.  Without it a
        # host that loaded another PKCS#11 module RTLD_GLOBAL first (p11-kit,
        # an OpenSSL provider) gets that module's C_GetInfo in our
        # CK_FUNCTION_LIST (tests/abi/test_shim.py, after-softhsm).
        extra_link_args=[f"-Wl,--version-script={mapfile}",
                         "-Wl,-Bsymbolic",
                         "-Wl,-z,nodelete", f"-Wl,-rpath,{libdir}"],
    )
    built = ffi.compile(tmpdir=str(BUILD), target=TARGET, verbose=False)
    print(built)
    return 0


if __name__ == "__main__":
    sys.exit(main())
