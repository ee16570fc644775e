"""MAC sign and verify operations shared by HMAC and CMAC, full-length
and general-length (PKCS#11 v3.0 section 2.1 "General-length" MACs take a
CK_MAC_GENERAL_PARAMS: the output length in bytes)."""

from __future__ import annotations

import hmac as _stdlib_hmac
from typing import Protocol

from craton_hsm.errors import (
    MechanismParamInvalid,
    SignatureInvalid,
    SignatureLenRange,
)


class MacContext(Protocol):
    def update(self, data: bytes) -> None: ...

    def finalize(self) -> bytes: ...


def general_length(params: object, full: int) -> int:
    """The CK_MAC_GENERAL_PARAMS value, checked against 1..full."""
    if not isinstance(params, int) or isinstance(params, bool):
        raise MechanismParamInvalid("CK_MAC_GENERAL_PARAMS expected")
    if not 1 <= params <= full:
        raise MechanismParamInvalid(f"MAC length {params} outside 1..{full}")
    return params


class MacSign:
    """``size`` is the (possibly truncated) output length."""

    def __init__(self, ctx: MacContext, size: int) -> None:
        self.size = size
        self._ctx = ctx

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def final(self) -> bytes:
        return self._ctx.finalize()[: self.size]

    def sign(self, data: bytes) -> bytes:
        self._ctx.update(data)
        return self.final()


class MacVerify:
    def __init__(self, ctx: MacContext, size: int) -> None:
        self.size = size
        self._ctx = ctx

    def update(self, data: bytes) -> None:
        self._ctx.update(data)

    def final(self, signature: bytes) -> None:
        if len(signature) != self.size:
            raise SignatureLenRange("MAC length wrong for mechanism")
        computed = self._ctx.finalize()[: self.size]
        # Constant time: no early exit that would leak the matching
        # prefix (FIPS 198-1 section 5, SP 800-38B section 6.3).
        if not _stdlib_hmac.compare_digest(computed, signature):
            raise SignatureInvalid("MAC mismatch")

    def verify(self, data: bytes, signature: bytes) -> None:
        self._ctx.update(data)
        self.final(signature)
