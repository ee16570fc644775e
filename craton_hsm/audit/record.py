"""One audit record: its canonical line and its chain hash
(docs/audit.md "Record format").

A record is a flat JSON object written as one line in canonical form:
keys sorted, no spaces, UTF-8, ``\\n`` after it.  ``hash`` is the chain
hash of the same object without ``hash``; that object contains ``prev``
(the previous record's hash), so each record commits to all before it.
"""

from __future__ import annotations

import bisect
import json
import time
from dataclasses import dataclass
from json.encoder import encode_basestring as _quote
from typing import Any

from craton_hsm.backend import audit_primitives as prim

SHA256 = "sha256"
BLAKE3_KEYED = "blake3-keyed"
ALGORITHMS = (SHA256, BLAKE3_KEYED)
GENESIS_PREV = "0" * 64
# Fields every record has; event() may not override them.
CORE = frozenset({"seq", "time", "pid", "event", "rv", "prev", "hash"})

_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode


def _member(key: str, value: Any) -> str:
    # The same bytes json.dumps(sort_keys=True, separators=(",", ":"),
    # ensure_ascii=False) writes, without its per-call setup, which is
    # most of a record's cost (docs/audit.md "Overhead").
    if value.__class__ is str:
        return f"{_quote(key)}:{_quote(value)}"
    if value.__class__ is int:
        return f"{_quote(key)}:{value!r}"
    return f"{_quote(key)}:{_dumps(value)}"


def _join(members: list[str]) -> bytes:
    return ("{" + ",".join(members) + "}").encode("utf-8")


def canonical(record: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the one form records are hashed
    and written in (any JSON library reproduces it)."""
    return _join([_member(k, record[k]) for k in sorted(record)])


_second: list[Any] = [-1, ""]


def utc_now() -> str:
    """UTC RFC 3339 with microseconds, e.g. 2025-01-31T12:00:00.123456Z."""
    now = time.time()
    whole = int(now)
    if whole != _second[0]:
        _second[:] = [whole, time.strftime("%Y-%m-%dT%H:%M:%S",
                                           time.gmtime(whole))]
    return f"{_second[1]}.{int((now - whole) * 1e6):06d}Z"


@dataclass(frozen=True)
class Chain:
    """The chain hash of one log: SHA-256 (governance profile) or
    BLAKE3 in keyed mode (leading-edge profile)."""

    algorithm: str
    key: bytes | None = None

    def digest(self, body: bytes) -> str:
        if self.algorithm == BLAKE3_KEYED:
            if self.key is None:
                raise ValueError("keyed BLAKE3 chain without its key")
            return prim.blake3_keyed_hex(self.key, body)
        return prim.sha256_hex(body)


def seal(chain: Chain, record: dict[str, Any]) -> tuple[bytes, str]:
    """The record's line (with ``hash``) and its hash; ``record`` must
    not contain ``hash``.  One formatting pass serves both."""
    keys = sorted(record)
    members = [_member(k, record[k]) for k in keys]
    digest = chain.digest(_join(members))
    members.insert(bisect.bisect(keys, "hash"), f'"hash":"{digest}"')
    return _join(members) + b"\n", digest


def rehash(chain: Chain, record: dict[str, Any]) -> str:
    """The hash a parsed record should carry (``hash`` left out)."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return chain.digest(canonical(body))


def digest_bytes(data: bytes) -> str:
    """How data, AAD or an identifier appears in a record: never itself,
    only the first 128 bits of its SHA-256, enough to correlate."""
    return prim.sha256_hex(data)[:32]


CHECKPOINT_LABEL = b"craton-hsm audit checkpoint v1\x00"


def checkpoint_message(seq: int, digest: str) -> bytes:
    """What a checkpoint signs: a domain label, the head's seq and hash."""
    return CHECKPOINT_LABEL + f"{seq}:{digest}".encode("ascii")
