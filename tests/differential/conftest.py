"""The differential suite loads build/libcraton_hsm.so and SoftHSMv2."""

from tests.abi.conftest import libpath  # noqa: F401
