"""The pre-operational software integrity test (FIPS 140-3 / ISO/IEC
19790 7.10.2.2; IG 9.3.A-style software integrity).

At build time (``make build`` -> tools/write_manifest.py) a manifest is
written beside the shared library: an HMAC-SHA-256 of the ``.so`` and of
every source and data file of the ``craton_hsm`` package that the
library runs.  At each C_Initialize the module recomputes them; a
missing, changed or extra file fails the test.

The HMAC key is fixed and public (:data:`KEY`): the manifest is an
error-detection code, which is what FIPS 140-3 asks of a software
integrity test at security level 1.  It detects corruption and
accidental edits, not a deliberate attacker, who could rewrite the
manifest too (docs/selftests.md says so).  The HMAC runs through the
module's own CKM_SHA256_HMAC row, whose KAT runs first (IG 10.3.A: the
integrity technique's algorithm is self-tested before it is used).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from craton_hsm._generated_ck import CKA, CKK, CKM
from craton_hsm.mechanisms.registry import Op
from craton_hsm.selftest import faults
from craton_hsm.selftest.common import KatKey, SelfTestFailure, op

NAME = "integrity"
KEY = b"craton-hsm software integrity v1"
FORMAT = "craton-hsm-integrity-1"
MANIFEST = "craton_hsm.manifest.json"
PACKAGE = Path(__file__).resolve().parent.parent
# What the library executes or reads: code and the self-test vectors.
SUFFIXES = (".py", ".json")
_CHUNK = 1 << 16

_module: Path | None = None


def set_module(path: Path | None) -> None:
    """Called once by abi/boot.py with the loaded library's real path."""
    global _module
    _module = path.resolve() if path is not None else None


def module_path() -> Path | None:
    return _module


def manifest_path(library: Path) -> Path:
    return library.resolve().parent / MANIFEST


def _files() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in SUFFIXES and "__pycache__" not in path.parts \
                and path.is_file():
            yield f"craton_hsm/{path.relative_to(PACKAGE).as_posix()}", path


def _mac(path: Path) -> str:
    mac = op(CKM.SHA256_HMAC, Op.SIGN,
             KatKey({CKA.KEY_TYPE: CKK.GENERIC_SECRET, CKA.VALUE: KEY}))
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            mac.update(chunk)
    return bytes(mac.final()).hex()


def measure(library: Path) -> dict[str, str]:
    """File name -> HMAC-SHA-256 (hex) of the library and the package."""
    macs = {library.name: _mac(library.resolve())}
    macs.update((name, _mac(path)) for name, path in _files())
    return macs


def write_manifest(library: Path) -> Path:
    """The build step: atomically replace the manifest beside the .so."""
    target = manifest_path(library)
    doc = {"format": FORMAT, "algorithm": "HMAC-SHA-256",
           "key": KEY.decode(), "files": measure(library)}
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    tmp.replace(target)
    return target


def check(library: Path | None = None) -> None:
    """Raise SelfTestFailure naming the first difference."""
    library = library or _module
    if library is None:
        raise SelfTestFailure("the library's path is unknown")
    path = manifest_path(library)
    try:
        doc = json.loads(path.read_text())
        want: dict[str, str] = doc["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SelfTestFailure(f"manifest {path} unreadable: {exc}") from None
    if doc.get("format") != FORMAT:
        raise SelfTestFailure(f"manifest {path}: unknown format")
    got = measure(library)
    missing = sorted(want.keys() - got.keys())
    if missing:
        raise SelfTestFailure(f"{missing[0]} is missing")
    extra = sorted(got.keys() - want.keys())
    if extra:
        raise SelfTestFailure(f"{extra[0]} is not in the manifest")
    for name in sorted(got):
        expected = faults.expected(NAME, bytes.fromhex(want[name]))
        if bytes.fromhex(got[name]) != expected:
            raise SelfTestFailure(f"{name} differs from the manifest")
