"""Fixtures shared by tests/spec: the module through C_GetInterface and
a token in the test's own data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.abi.test_hostile import Token, expect
from tests.spec.harness import NULL, Module, open_module


@pytest.fixture(scope="module")
def mod(libpath: Path) -> Module:
    return open_module(libpath)


@pytest.fixture
def tok(mod: Module, data_env: Path) -> Iterator[Token]:
    expect(mod.C_Initialize(NULL), "OK")
    try:
        yield Token(mod)
    finally:
        expect(mod.C_Finalize(NULL), "OK")


def keep(tok: Token, value: Any) -> Any:
    tok._keep.append(value)
    return value
