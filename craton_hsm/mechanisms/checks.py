"""Argument checks shared by the mechanism factories.

Factories validate parameters, key type and key size and raise the CKR
codes the spec assigns to each (PKCS#11 v3.0 section 5.1); permission
attributes such as CKA_SIGN are dispatch's job, not theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from craton_hsm._generated_ck import CKA
from craton_hsm.errors import (
    KeySizeRange,
    KeyTypeInconsistent,
    MechanismParamInvalid,
    TemplateIncomplete,
)
from craton_hsm.mechanisms.registry import KeyLike

T = TypeVar("T")


def params_of(params: object, cls: type[T]) -> T:
    """The decoded parameter, or MechanismParamInvalid if it is absent or
    of the wrong structure."""
    if not isinstance(params, cls):
        raise MechanismParamInvalid(f"expected {cls.__name__} parameters")
    return params


def no_params(params: object) -> None:
    if params is not None:
        raise MechanismParamInvalid("mechanism takes no parameter")


def keyed(key: KeyLike | None, key_types: frozenset[int]) -> KeyLike:
    """The key, checked against the mechanism's key types."""
    if key is None:
        raise KeyTypeInconsistent("mechanism needs a key")
    if key.attrs.get(CKA.KEY_TYPE) not in key_types:
        raise KeyTypeInconsistent("key type not usable with mechanism")
    return key


def attr_bytes(key: KeyLike, attr: int) -> bytes:
    value = key.attrs.get(attr)
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise KeyTypeInconsistent(f"key lacks attribute 0x{attr:x}")
    return bytes(value)


def in_range(n: int, bounds: tuple[int, int], what: str) -> None:
    if not bounds[0] <= n <= bounds[1]:
        raise KeySizeRange(f"{what} {n} outside {bounds[0]}..{bounds[1]}")


def template_int(template: Mapping[int, Any], attr: int) -> int:
    """A required CK_ULONG attribute of a generation template."""
    value = template.get(attr)
    if value is None:
        raise TemplateIncomplete(f"template lacks attribute 0x{attr:x}")
    return int(value)
