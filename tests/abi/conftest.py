"""Fixtures for driving build/libcraton_hsm.so from real hosts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "build" / "libcraton_hsm.so"
CBINDINGS = ROOT / "cbindings"


def function_names() -> list[str]:
    """The 104 C_* names (3.2 list) in function-list order (the header is the ABI)."""
    text = (CBINDINGS / "pkcs11_functions.h").read_text()
    return re.findall(r"^CK_RV (C_\w+)\(", text, re.MULTILINE)


@pytest.fixture(scope="session")
def libpath() -> Path:
    """The built module; `make build` runs once if it is missing."""
    if not LIB.exists():
        subprocess.run(["make", "-C", str(ROOT), "build"], check=True)
    return LIB


def compile_host(source: str, out: Path) -> Path:
    """A C host from tests/abi/<source> compiled against cbindings/, with
    FUNCTION_NAMES[104] (function-list order) from a generated header."""
    names = out / "names.h"
    quoted = ",\n    ".join(f'"{n}"' for n in function_names())
    names.write_text(
        f"static const char *FUNCTION_NAMES[] = {{\n    {quoted}\n}};\n"
    )
    exe = out / Path(source).stem
    subprocess.run(
        ["gcc", "-O1", "-Wall", "-Werror", "-Wno-pedantic",
         f"-I{CBINDINGS}", f'-DNAMES_H="{names}"',
         str(Path(__file__).with_name(source)), "-o", str(exe),
         "-ldl", "-lpthread"],
        check=True,
    )
    return exe


@pytest.fixture(scope="session")
def host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/abi/host.c: a plain C host."""
    return compile_host("host.c", tmp_path_factory.mktemp("host"))


@pytest.fixture(scope="session")
def stress(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/abi/stress.c: C threads and fork()."""
    return compile_host("stress.c", tmp_path_factory.mktemp("stress"))
