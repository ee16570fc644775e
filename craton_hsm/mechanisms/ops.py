"""Operation protocols: what dispatch may call on the objects that
mechanism factories return (PKCS#11 v3.0 sections 5.8-5.15).

Mechanisms return ``bytes`` and raise typed errors; they never see output
buffers.  ``*_size`` methods answer NULL-buffer length queries and must
not change state (section 5.2, "Conventions for functions returning
output in a variable-length buffer").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class DigestOp(Protocol):
    size: int

    def update(self, data: bytes) -> None: ...

    def update_key(self, value: bytes) -> None: ...

    def final(self) -> bytes: ...

    def digest(self, data: bytes) -> bytes: ...


class SignOp(Protocol):
    """Signatures and MACs; ``size`` is the exact output length."""

    size: int

    def update(self, data: bytes) -> None: ...

    def final(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...


class VerifyOp(Protocol):
    """Raises SignatureInvalid / SignatureLenRange; never returns bool."""

    def update(self, data: bytes) -> None: ...

    def final(self, signature: bytes) -> None: ...

    def verify(self, data: bytes, signature: bytes) -> None: ...


class CipherOp(Protocol):
    """Encryption or decryption, single- or multi-part."""

    def update(self, data: bytes) -> bytes: ...

    def final(self) -> bytes: ...

    def one_shot(self, data: bytes) -> bytes: ...

    def update_size(self, n: int) -> int: ...

    def final_size(self) -> int: ...

    def one_shot_size(self, n: int) -> int: ...


class KeyGenerator(Protocol):
    """Op.GENERATE: returns the key-material attributes to store."""

    def generate(self, template: Mapping[int, Any]) -> dict[int, Any]: ...


class KeyPairGenerator(Protocol):
    """Op.GENERATE_KEY_PAIR: (public attributes, private attributes)."""

    def generate(
        self, pub_template: Mapping[int, Any],
        priv_template: Mapping[int, Any],
    ) -> tuple[dict[int, Any], dict[int, Any]]: ...
