"""Benchmark-only profiler switch (docs/configuration.md "Test-only
switches"; issue 9: profile the hot paths through the C host).

``CRATON_HSM_PROFILE=<file>``: cProfile runs in the thread that booted
the module (the host's calling thread) from the first C_Initialize, and
every C_Finalize writes the accumulated stats to ``<file>`` (pstats
format; read with ``python -m pstats <file>``).  py-spy cannot follow
the short C->Python callbacks of an embedded interpreter, hence this.
Started when abi/entry.py imports this module (at boot, in the thread
that called C_Initialize); unset, it costs nothing per call, and
cProfile (with profile, pstats' helpers) is not even imported (issue 9:
RSS after C_Initialize).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import cProfile

ENV = "CRATON_HSM_PROFILE"
_TARGET = os.environ.get(ENV, "")
_profiler: cProfile.Profile | None = None


def start() -> None:
    global _profiler
    if _TARGET and _profiler is None:
        import cProfile  # only when profiling is asked for
        _profiler = cProfile.Profile()
        _profiler.enable()


def dump() -> None:
    if _profiler is not None:
        _profiler.dump_stats(_TARGET)


start()
