"""Shared fixtures for mechanism tests: a minimal KeyLike."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeKey:
    """What a mechanism may see of a key: decoded attrs and a cache."""

    attrs: dict[int, Any]
    cache: dict[str, Any] = field(default_factory=dict)
