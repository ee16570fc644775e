"""One audit record: its canonical line and its chain hash
(docs/audit.md "Record format").

A record is a flat JSON object written as one line in canonical form:
keys sorted, no spaces, UTF-8, ``\\n`` after it.  ``hash`` is the chain
hash of the same object without ``hash``; that object contains ``prev``
(the previous record's hash), so each record commits to all before it.

The writer (:func:`seal`) and the verifier (:func:`canonical`,
:func:`rehash`) share one encoder, :class:`_Plan`: the record's keys,
sorted once per distinct key set, become a ``%``-format; a record then
costs one pass over its values (docs/audit.md "Overhead").
"""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from json.encoder import encode_basestring as _quote
from operator import itemgetter
from typing import Any

from craton_hsm.backend import audit_primitives as prim

SHA256 = "sha256"
BLAKE3_KEYED = "blake3-keyed"
ALGORITHMS = (SHA256, BLAKE3_KEYED)
GENESIS_PREV = "0" * 64
# Fields every record has; event() may not override them.
CORE = frozenset({"seq", "time", "pid", "event", "rv", "prev", "hash"})

# Values other than str and int (lists, bools, None, nested objects):
# json itself, so every value is written exactly as json.dumps(record,
# sort_keys=True, separators=(",", ":"), ensure_ascii=False) would.
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode
_PLANS_MAX = 4096   # distinct key sets kept (a hostile file cannot grow it)


class _Plan:
    """How to write records with one key set: ``take`` gets the values
    in sorted key order; the first ``cut`` members go before "hash"
    (``head``), the rest after it (``tail``).  ``fast_*`` are the same
    formats with each value's quotes in place, for the value types the
    key set was first seen with (str and int only), used when the
    result needs no escaping."""

    __slots__ = ("after", "before", "cut", "fast_head", "fast_tail", "head",
                 "join", "quotes", "tail", "take", "types")

    def __init__(self, record: dict[str, Any]) -> None:
        order = sorted(record)
        self.cut = cut = bisect.bisect_left(order, "hash")
        names = [_quote(k).replace("%", "%%") + ":" for k in order]
        self.take = itemgetter(*order) if len(order) > 1 else \
            (lambda r: tuple(r[k] for k in order))
        self.head = "{" + ",".join(n + "%s" for n in names[:cut])
        self.tail = ",".join(n + "%s" for n in names[cut:]) + "}"
        self.join = "," if 0 < cut < len(order) else ""
        self.before = ',"hash":"' if cut else '"hash":"'
        self.after = '",' if cut < len(order) else '"'
        types = tuple(map(type, self.take(record)))
        slots = [n + ('"%s"' if t is str else "%s")
                 for n, t in zip(names, types)]
        self.fast_head = "{" + ",".join(slots[:cut])
        self.fast_tail = ",".join(slots[cut:]) + "}"
        self.quotes = (self.fast_head + self.fast_tail).count('"')
        self.types = types if all(t is str or t is int for t in types) \
            else None

    def encode(self, record: dict[str, Any]) -> tuple[str, str]:
        """The members before and after "hash", exactly as json.dumps
        writes them."""
        values = self.take(record)
        if tuple(map(type, values)) == self.types:
            head = self.fast_head % values[:self.cut]
            tail = self.fast_tail % values[self.cut:]
            both = head + tail
            # Valid only where json escapes nothing: no '"', '\\' or
            # control character in any value.
            if both.count('"') == self.quotes and "\\" not in both \
                    and both.isprintable():
                return head, tail
        encoded = tuple([_quote(v) if v.__class__ is str
                         else v.__repr__() if v.__class__ is int
                         else _dumps(v) for v in values])
        return self.head % encoded[:self.cut], \
            self.tail % encoded[self.cut:]


_plans: dict[tuple[str, ...], _Plan] = {}


def _encode(record: dict[str, Any]) -> tuple[_Plan, str, str]:
    keys = tuple(record)
    plan = _plans.get(keys)
    if plan is None:
        plan = _Plan(record)
        if len(_plans) < _PLANS_MAX:
            _plans[keys] = plan
    head, tail = plan.encode(record)
    return plan, head, tail


def canonical(record: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the one form records are hashed
    and written in (any JSON library reproduces it)."""
    plan, head, tail = _encode(record)
    return (head + plan.join + tail).encode("utf-8")


def seal(chain: Chain, record: dict[str, Any]) -> tuple[bytes, str]:
    """The record's line (with ``hash``) and its hash; ``record`` must
    not contain ``hash``.  One formatting pass serves both."""
    plan, head, tail = _encode(record)
    digest = chain.digest((head + plan.join + tail).encode("utf-8"))
    return (head + plan.before + digest + plan.after + tail
            + "\n").encode("utf-8"), digest


def rehash(chain: Chain, record: dict[str, Any]) -> str:
    """The hash a parsed record should carry (``hash`` left out)."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return chain.digest(canonical(body))


_second = -1
_stamp = ""


def utc_now() -> str:
    """UTC RFC 3339 with microseconds, e.g. 2025-01-31T12:00:00.123456Z.
    The date and time of day are formatted once per second."""
    global _second, _stamp
    whole, micro = divmod(time.time_ns() // 1000, 1_000_000)
    if whole != _second:
        _second, _stamp = whole, time.strftime("%Y-%m-%dT%H:%M:%S",
                                               time.gmtime(whole))
    return f"{_stamp}.{micro:06d}Z"


@dataclass(frozen=True)
class Chain:
    """The chain hash of one log: SHA-256 (governance profile) or
    BLAKE3 in keyed mode (leading-edge profile)."""

    algorithm: str
    key: bytes | None = None
    # body -> hex digest, chosen once (a record costs one call).
    digest: Callable[[bytes], str] = field(init=False, repr=False,
                                           compare=False)

    def __post_init__(self) -> None:
        if self.algorithm == BLAKE3_KEYED:
            if self.key is None:
                raise ValueError("keyed BLAKE3 chain without its key")
            hexdigest: Callable[[bytes], str] = partial(
                prim.blake3_keyed_hex, self.key)
        else:
            hexdigest = prim.sha256_hex
        object.__setattr__(self, "digest", hexdigest)


def digest_bytes(data: bytes) -> str:
    """How data, AAD or an identifier appears in a record: never itself,
    only the first 128 bits of its SHA-256, enough to correlate."""
    return prim.sha256_hex(data)[:32]


CHECKPOINT_LABEL = b"craton-hsm audit checkpoint v1\x00"


def checkpoint_message(seq: int, digest: str) -> bytes:
    """What a checkpoint signs: a domain label, the head's seq and hash."""
    return CHECKPOINT_LABEL + f"{seq}:{digest}".encode("ascii")
