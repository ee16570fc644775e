"""The canonical encoder the writer and the verifier share
(craton_hsm/audit/record.py): every line it writes is exactly
json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False),
including through its no-escape fast path, whatever the values."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from craton_hsm.audit import record as rec

CHAIN = rec.Chain(rec.SHA256)


def _reference(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _check(record: dict[str, Any]) -> None:
    assert rec.canonical(record) == _reference(record)
    body = {k: v for k, v in record.items() if k != "hash"}
    line, digest = rec.seal(CHAIN, body)
    assert digest == CHAIN.digest(_reference(body))
    assert line == _reference({**body, "hash": digest}) + b"\n"


# A key set first seen with plain values (the fast path learns it),
# then hostile ones: quotes, backslashes, control characters, U+2028,
# "%" and values of other JSON types.
HOSTILE = ['q"q', "b\\s", "c\nd", "\x00", "\x7f", "\u2028", "é", "%s%d",
           "", True, None, 1.5, [1, "x"], {"hash": "0" * 64}, 10 ** 40, -1]


def test_fast_path_never_changes_the_bytes() -> None:
    base = {"event": "C_SignInit", "seq": 7, "mech": "CKM_ECDSA",
            "pid": 1, "prev": rec.GENESIS_PREV, "session": 1}
    _check(base)
    for value in HOSTILE:
        _check({**base, "mech": value})
        _check({**base, "seq": value})


def test_key_sets_around_hash() -> None:
    for record in ({}, {"a": 1}, {"zz": 1}, {"hash": "h"},
                   {"hash": "h", "a": 1}, {"a%b": "%", 'k"': 1}):
        assert rec.canonical(record) == _reference(record)


_scalars = st.one_of(st.text(max_size=8), st.integers(), st.booleans(),
                     st.none())


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=6),
                       st.one_of(_scalars, st.lists(_scalars, max_size=3)),
                       max_size=8))
def test_any_record_is_json_canonical(record: dict[str, Any]) -> None:
    _check({k: v for k, v in record.items() if k != "hash"})
