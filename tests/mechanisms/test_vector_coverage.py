"""Meta-test (issue: every registry entry has a vector test): import every
mechanism test module, collect their ``@vectors`` claims and fail for
any registry row without one."""

from __future__ import annotations

import importlib
from pathlib import Path

from craton_hsm._generated_ck import CKM
from craton_hsm.mechanisms.registry import REGISTRY
from tests.mechanisms.coverage import COVERED

HERE = Path(__file__).resolve().parent


def _name(mech: int) -> str:
    try:
        return "CKM_" + CKM(mech).name
    except ValueError:
        return hex(mech)


def test_every_mechanism_has_a_vector_test() -> None:
    for path in sorted(HERE.glob("test_*.py")):
        importlib.import_module(f"tests.mechanisms.{path.stem}")
    missing = sorted(_name(m) for m in REGISTRY if not COVERED.get(m))
    assert not missing, f"no vector test claims: {', '.join(missing)}"
