"""What every self-test uses: the failure type, the one comparison, a
minimal key object and the mechanism entry (the same registry rows the
PKCS#11 calls use, so a KAT exercises the module's own code path)."""

from __future__ import annotations

import functools
import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from craton_hsm._generated_ck import CKA, CKD, CKK, CKM
from craton_hsm.mechanisms.params import Ecdh1Params
from craton_hsm.mechanisms.registry import REGISTRY, Op
from craton_hsm.selftest import faults

VECTORS = Path(__file__).with_name("vectors")


class SelfTestFailure(Exception):
    """A self-test's answer differed from the known answer."""


@dataclass
class KatKey:
    """What a mechanism may see of a key (registry.KeyLike)."""

    attrs: dict[int, Any]
    cache: dict[str, Any] = field(default_factory=dict)


def op(mechanism: int, what: Op, key: KatKey | None,
       params: object = None) -> Any:
    """The operation object a C_*Init would get for this mechanism."""
    return REGISTRY[mechanism].factory(what)(key, params)


def agree(key: KatKey, peer: bytes, n: int) -> bytes:
    """``n`` bytes of the ECDH/X25519 secret of ``key`` with ``peer``,
    through the CKM_ECDH1_DERIVE row (KAT and pair-wise test alike)."""
    derive = op(CKM.ECDH1_DERIVE, Op.DERIVE, key,
                Ecdh1Params(CKD.NULL, b"", peer))
    out = derive.derive({CKA.KEY_TYPE: CKK.GENERIC_SECRET,
                         CKA.VALUE_LEN: n})
    return bytes(out[CKA.VALUE])


def check(name: str, got: bytes, want: bytes, what: str) -> None:
    """Compare with test ``name``'s known answer (corrupted when the
    fault switch names it)."""
    equal(got, faults.expected(name, want), what)


def equal(got: bytes, want: bytes, what: str) -> None:
    if not hmac.compare_digest(bytes(got), bytes(want)):
        raise SelfTestFailure(f"{what} differs from the known answer")


def known_input(name: str, value: bytes) -> bytes:
    """A known answer fed back in (a ciphertext to decrypt, a signature
    to verify): corrupted when the switch names test ``name``, so the
    decryption or verification itself fails."""
    return faults.expected(name, value)


@functools.cache
def vectors(file: str) -> dict[str, dict[str, Any]]:
    """One vector file (craton_hsm/selftest/vectors/PROVENANCE.md).  Read
    once per process: the files are part of the integrity-checked
    package, so the cache skips no test, only the parse."""
    doc: dict[str, dict[str, Any]] = json.loads(
        (VECTORS / file).read_text())
    return doc


def hexes(vec: dict[str, Any], *names: str) -> list[bytes]:
    return [bytes.fromhex(vec[n]) for n in names]
