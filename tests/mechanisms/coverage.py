"""Which test checks each mechanism against vectors nobody here wrote.

``@vectors(CKM.X, ..., source="...")`` on a test records it;
``test_vector_coverage`` fails for any registry row that no test claims.
Claims live next to the assertions they describe, so a claim cannot
outlive its test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

COVERED: dict[int, set[str]] = {}


def vectors(*mechanisms: int, source: str) -> Callable[[F], F]:
    """Mark a test as checking ``mechanisms`` against ``source``."""
    def mark(fn: F) -> F:
        where = f"{fn.__module__}.{fn.__name__} ({source})"
        for mech in mechanisms:
            COVERED.setdefault(int(mech), set()).add(where)
        return fn
    return mark
