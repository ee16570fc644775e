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
    (``head``), the rest after it (``tail``).  ``fast_body`` is the
    whole body in one format with each value's quotes in place, for the
    value types the key set was first seen with (str and int only),
    used when the result needs no escaping."""

    __slots__ = ("after", "before", "cut", "fast_body", "head", "join",
                 "marker", "quotes", "tail", "take", "types")

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
        self.fast_body = "{" + ",".join(slots) + "}"
        # Bytes json escapes that the format's own text holds (its
        # quotes; a key needing escapes makes the fast path never match).
        fmt = self.fast_body.replace("%%", "%").replace("%s", "").encode(
            "utf-8")
        self.quotes = len(fmt) - len(fmt.translate(None, _ESCAPED))
        self.types = types if all(t is str or t is int for t in types) \
            else None
        # In a fast body no value holds a '"', so the first occurrence
        # of the member after "hash" is that member: the hash goes there.
        self.marker = ("," + names[cut].replace("%%", "%")).encode(
            "utf-8") if 0 < cut < len(order) else b""

    def fast(self, record: dict[str, Any]) -> bytes | None:
        """The whole body (UTF-8) through the no-escape format, or None
        when a value's type differs from the plan's or json would escape
        something: a '"', '\\' or control character in a value, seen as
        more bytes of those kinds than the format itself holds (one
        bytes.translate pass, half the time of str.isprintable)."""
        values = self.take(record)
        if tuple(map(type, values)) == self.types:
            body = (self.fast_body % values).encode("utf-8")
            if len(body) - len(body.translate(None, _ESCAPED)) \
                    == self.quotes:
                return body
        return None

    def encode(self, record: dict[str, Any]) -> tuple[str, str]:
        """The members before and after "hash", exactly as json.dumps
        writes them."""
        values = self.take(record)
        encoded = tuple([_quote(v) if v.__class__ is str
                         else v.__repr__() if v.__class__ is int
                         else _dumps(v) for v in values])
        return self.head % encoded[:self.cut], \
            self.tail % encoded[self.cut:]


_plans: dict[tuple[str, ...], _Plan] = {}
# What json escapes: '"', '\\' and the C0 controls (RFC 8259 section 7).
_ESCAPED = bytes(range(0x20)) + b'"\\'


def _plan(record: dict[str, Any]) -> _Plan:
    keys = tuple(record)
    plan = _plans.get(keys)
    if plan is None:
        plan = _Plan(record)
        if len(_plans) < _PLANS_MAX:
            _plans[keys] = plan
    return plan


# The members ffi/audit.c fills in under the lock, as placeholders of
# their written length (seq: no digits yet).
_FILLED = {"pid": None, "prev": '"' + "0" * 64 + '"', "seq": "",
           "time": '"' + "0" * 27 + '"'}
_NOT_CALLERS = frozenset(_FILLED) | {"hash"}
_BODIES_MAX = 16     # per template: a few KB, whatever the load


class Template:
    """A record's canonical body as ffi/audit.c's craton_audit_append
    takes it (docs/audit.md "Overhead"): for the caller's key set (with
    ``event``), a ``%``-format of the caller's values in sorted key
    order, ``pid`` written in, ``prev``, ``seq`` and ``time`` left for C.
    ``types`` is None when these values cannot go through the format
    (not str and int, or a key the trail itself writes); ``quotes``
    counts the bytes JSON escapes that the format's own text holds, so
    C can tell a value that needs escaping (more of them) and refuse."""

    __slots__ = ("bodies", "fmt", "marker", "marker_n", "quotes", "take",
                 "types")

    def __init__(self, record: dict[str, Any], pid: int) -> None:
        callers = sorted(record)
        order = sorted([*callers, "pid", "prev", "seq", "time"])
        self.take: Callable[[dict[str, Any]], tuple[Any, ...]] = \
            itemgetter(*callers) if len(callers) > 1 else \
            (lambda r: tuple(r[k] for k in callers))
        types = tuple(type(record[k]) for k in callers)
        slots = []
        for key in order:
            name = _quote(key).replace("%", "%%") + ":"
            if key == "pid":
                slots.append(name + str(pid))
            elif key in _FILLED:
                slots.append(name + str(_FILLED[key]))
            else:
                slots.append(name + ('"%s"' if type(record[key]) is str
                                     else "%s"))
        self.fmt = "{" + ",".join(slots) + "}"
        text = self.fmt.replace("%%", "%").replace("%s", "").encode("utf-8")
        self.quotes = len(text) - len(text.translate(None, _ESCAPED))
        ok = all(t is str or t is int for t in types) and \
            not _NOT_CALLERS.intersection(callers) and "event" in record
        self.types = types if ok else None
        # "hash" goes before the first member after it ("pid" at the
        # latest): the same search as seal()'s marker.
        after = order[bisect.bisect_left(order, "hash")]
        self.marker = ("," + _quote(after) + ":").encode("utf-8")
        self.marker_n = len(self.marker)
        # The bodies of recent value tuples: records repeat (the same
        # session, key and result), and a lookup costs less than a
        # format and an encode.  Bounded: cleared when full.
        self.bodies: dict[tuple[Any, ...], bytes] = {}

    def body(self, values: tuple[Any, ...]) -> bytes:
        """The body for these values (through the format), kept."""
        body = (self.fmt % values).encode("utf-8")
        bodies = self.bodies
        if len(bodies) >= _BODIES_MAX:
            bodies.clear()
        bodies[values] = body
        return body


def canonical(record: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the one form records are hashed
    and written in (any JSON library reproduces it)."""
    plan = _plan(record)
    body = plan.fast(record)
    if body is None:
        head, tail = plan.encode(record)
        return (head + plan.join + tail).encode("utf-8")
    return body


def seal(chain: Chain, record: dict[str, Any]) -> tuple[bytes, str]:
    """The record's line (with ``hash``) and its hash; ``record`` must
    not contain ``hash``.  One formatting pass serves both."""
    plan = _plans.get(tuple(record)) or _plan(record)
    marker = plan.marker
    if marker:
        # plan.fast, inlined: this runs once per audited call.
        values = plan.take(record)
        if tuple(map(type, values)) == plan.types:
            body = (plan.fast_body % values).encode("utf-8")
            if len(body) - len(body.translate(None, _ESCAPED)) \
                    == plan.quotes:
                digest = chain.digest(body)
                cut = body.find(marker)
                return b"".join((body[:cut], b',"hash":"', digest.encode(),
                                 b'"', body[cut:], b"\n")), digest
    head, tail = plan.encode(record)
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
    micro = time.time_ns() // 1000
    whole = micro // 1_000_000
    if whole != _second:
        _second, _stamp = whole, time.strftime("%Y-%m-%dT%H:%M:%S.",
                                               time.gmtime(whole))
    return f"{_stamp}{micro - whole * 1_000_000:06d}Z"


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
