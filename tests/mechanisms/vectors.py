"""Loaders for vector files nobody here wrote: Project Wycheproof JSON in
the project's shared vector set (``shared/vectors`` beside the checkout,
PROVENANCE.md there; ``CRATON_VECTORS`` overrides) and NIST CAVP / RFC
files from the ``cryptography-vectors`` package (a test dependency)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cryptography_vectors
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _shared() -> Path:
    """The shared vector set: CI lays ``shared/`` beside the clone."""
    env = os.environ.get("CRATON_VECTORS")
    candidates = [Path(env)] if env else [
        ROOT.parent / "shared" / "vectors", Path("/work/shared/vectors")]
    for path in candidates:
        if (path / "wycheproof").is_dir():
            return path
    raise RuntimeError("shared vector set not found (looked in "
                       f"{', '.join(map(str, candidates))}); set "
                       "CRATON_VECTORS")


SHARED = _shared()
PYCA = Path(cryptography_vectors.__file__).parent


def wycheproof(name: str) -> list[Any]:
    """One pytest.param per test case: (group, test), id ``tc<N>``.

    A missing file is an error, never an empty (silently skipped) list.
    """
    path = SHARED / "wycheproof" / name
    doc = json.loads(path.read_text())
    return [pytest.param(g, t, id=f"tc{t['tcId']}")
            for g in doc["testGroups"] for t in g["tests"]]


def nist_records(relpath: str) -> list[dict[str, str]]:
    """``KEY = value`` blocks of a CAVP .rsp/.txt file, one dict per
    blank-line separated record; comments and [headers] are dropped."""
    records: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for raw in (PYCA / relpath).read_text().splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line or line.startswith("["):
            if cur:
                records.append(cur)
                cur = {}
            continue
        k, _, v = line.partition("=")
        cur[k.strip().upper()] = v.strip()
    if cur:
        records.append(cur)
    return records


def unhex(s: str) -> bytes:
    return bytes.fromhex(s)
