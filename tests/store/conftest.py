"""Fixtures: a Config in tmp_path and a sample token record."""

from __future__ import annotations

from pathlib import Path

import pytest
from abi.conftest import libpath  # noqa: F401  (the built .so fixture)
from abi.test_hostile import lib  # noqa: F401  (cffi harness)

from craton_hsm.config import Config
from craton_hsm.core.pins import make_pin_record
from craton_hsm.store.base import TokenState


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(data_dir=tmp_path, pbkdf2_iterations=1000,
                  busy_timeout_ms=200, max_objects_per_token=5)


def make_state(serial: str = "0123456789ABCDEF") -> TokenState:
    so, _ = make_pin_record(b"so-pin", 1000)
    return TokenState(serial=serial, label=b"test".ljust(32), so_pin=so,
                      user_pin=None, mk_wrapped_so=b"\x01wrapped",
                      mk_wrapped_user=None, created_at="2026-01-01T00:00Z")
