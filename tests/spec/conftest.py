"""tests/spec drives build/libcraton_hsm.so like tests/abi (same
fixtures, reached through C_GetInterface); see harness.py."""

from tests.abi.conftest import libpath  # noqa: F401
from tests.spec.fixtures import mod, tok  # noqa: F401
