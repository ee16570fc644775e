"""tests/spec drives build/libcraton_hsm.so like tests/abi (same
fixtures, reached through C_GetInterface); see harness.py."""

from tests.abi.conftest import libpath  # noqa: F401
from tests.spec.fixtures import data_env, mod, tok  # noqa: F401
