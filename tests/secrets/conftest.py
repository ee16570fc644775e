"""tests/secrets drives build/libcraton_hsm.so like tests/abi."""

from tests.abi.conftest import libpath  # noqa: F401  (fixture)
