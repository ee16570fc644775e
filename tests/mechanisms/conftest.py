"""Shared fixtures for mechanism tests: a minimal KeyLike, and one token
per module for the tests that go through the built .so."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.abi.conftest import libpath  # noqa: F401  (fixture)


@dataclass
class FakeKey:
    """What a mechanism may see of a key: decoded attrs and a cache."""

    attrs: dict[int, Any]
    cache: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def tok(libpath: Path,  # noqa: F811
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An initialised module with a logged-in R/W session (``tok.h``) on
    its own data dir, shared by one test module (a login costs ~0.2 s)."""
    from tests.abi.test_hostile import NULL, Token, expect, ffi

    saved = {k: os.environ.get(k)
             for k in ("CRATON_HSM_DATA_DIR", "CRATON_HSM_CONFIG")}
    os.environ["CRATON_HSM_DATA_DIR"] = str(tmp_path_factory.mktemp("so"))
    os.environ.pop("CRATON_HSM_CONFIG", None)
    lib = ffi.dlopen(str(libpath))
    expect(lib.C_Initialize(NULL), "OK")
    t = Token(lib)
    t.h = t.ready()  # type: ignore[attr-defined]
    try:
        yield t
    finally:
        expect(lib.C_Finalize(NULL), "OK")
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
