"""Test-only self-test fault injection (issue 5 "Fault injection for
tests only"; docs/configuration.md "Test-only switches").

``CRATON_HSM_SELFTEST_FAIL=<test name>`` makes that one named self-test
or health test fail through its real failure path, so every path into
the error state (:mod:`craton_hsm.latch`) can be tested through the
built library.  The variable is read once, when this module is first
imported (the library load); an unknown or unset name changes nothing.
A leaf module: it imports only the standard library.
"""

from __future__ import annotations

import os

ENV = "CRATON_HSM_SELFTEST_FAIL"
_SELECTED = os.environ.get(ENV, "")


def injected(test: str) -> bool:
    """True when the test-only switch names ``test``."""
    return _SELECTED == test
