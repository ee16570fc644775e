"""Test-only fault injection for the self-tests (docs/configuration.md,
"Test-only switches"; issue 5: "a documented, test-only switch that
makes any one named self-test fail, so every failure path is tested").

``CRATON_HSM_SELFTEST_FAIL=<test name>`` is read once, at import.  The
named test's *expected value* is corrupted, so the real comparison (or
the real signature verification) is what fails: an injected failure
travels the same path as a genuine one.  The DRBG's health tests
(``drbg-rct``, ``drbg-apt``, ``drbg-continuous``, ``drbg-kat``) use the
same switch through :func:`expected` / :func:`injected`.  A leaf: it
imports nothing of the module.
"""

from __future__ import annotations

import os

FAULT_ENV = "CRATON_HSM_SELFTEST_FAIL"
_FAULT = os.environ.get(FAULT_ENV, "")


def injected(name: str) -> bool:
    """True when the switch names this test."""
    return _FAULT == name


def expected(name: str, value: bytes) -> bytes:
    """``value``, or ``value`` with its first bit flipped when the switch
    names ``name`` (an empty value becomes one byte, still different)."""
    if not injected(name):
        return value
    if not value:
        return b"\x01"
    return bytes([value[0] ^ 0x01]) + value[1:]
