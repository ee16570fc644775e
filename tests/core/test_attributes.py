"""The attribute codec (PKCS#11 v3.0 section 3 data types, 4.1.3 arrays)."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from craton_hsm._generated_ck import CKA, CKM
from craton_hsm.core import attributes
from craton_hsm.core.attributes import Kind, decode, encode, kind_of
from craton_hsm.errors import (
    AttributeTypeInvalid,
    AttributeValueInvalid,
    TemplateInconsistent,
)

N = attributes.ULONG_SIZE


def ulong(v: int) -> bytes:
    return v.to_bytes(N, sys.byteorder)


@pytest.mark.parametrize("t, kind", [
    (CKA.TOKEN, Kind.BOOL), (CKA.SENSITIVE, Kind.BOOL),
    (CKA.ENCAPSULATE, Kind.BOOL), (CKA.CLASS, Kind.ULONG),
    (CKA.KEY_GEN_MECHANISM, Kind.ULONG), (CKA.PARAMETER_SET, Kind.ULONG),
    (CKA.PROFILE_ID, Kind.ULONG), (CKA.VALUE, Kind.BYTES),
    (CKA.UNIQUE_ID, Kind.BYTES), (CKA.EC_POINT, Kind.BYTES),
    (CKA.START_DATE, Kind.DATE), (CKA.ALLOWED_MECHANISMS, Kind.MECHANISMS),
    (CKA.WRAP_TEMPLATE, Kind.TEMPLATE), (CKA.DERIVE_TEMPLATE, Kind.TEMPLATE),
])
def test_kind_of(t: int, kind: Kind) -> None:
    assert kind_of(t) is kind


@pytest.mark.parametrize("t", [CKA.VENDOR_DEFINED, CKA.OTP_FORMAT,
                               CKA.HW_FEATURE_TYPE, 0x7FFF_FFFF])
def test_unknown_type_is_type_invalid(t: int) -> None:
    with pytest.raises(AttributeTypeInvalid):
        kind_of(t)
    with pytest.raises(AttributeTypeInvalid):
        decode(t, b"")
    with pytest.raises(AttributeTypeInvalid):
        encode(t, b"")


@pytest.mark.parametrize("t, raw, value", [
    (CKA.TOKEN, b"\x01", True),
    (CKA.TOKEN, b"\x00", False),
    (CKA.CLASS, ulong(4), 4),
    (CKA.VALUE, b"abc", b"abc"),
    (CKA.LABEL, b"", b""),
    (CKA.START_DATE, b"20240229", b"20240229"),
    (CKA.END_DATE, b"", b""),
    (CKA.ALLOWED_MECHANISMS, ulong(CKM.AES_GCM) + ulong(CKM.SHA256),
     (CKM.AES_GCM, CKM.SHA256)),
    (CKA.ALLOWED_MECHANISMS, b"", ()),
    (CKA.WRAP_TEMPLATE, [(CKA.TOKEN, b"\x01"), (CKA.LABEL, b"x")],
     {CKA.TOKEN: True, CKA.LABEL: b"x"}),
])
def test_decode_and_encode(t: int, raw: Any, value: Any) -> None:
    assert decode(t, raw) == value
    assert encode(t, value) == raw


@pytest.mark.parametrize("t, raw", [
    (CKA.TOKEN, b""), (CKA.TOKEN, b"\x02"), (CKA.TOKEN, b"\x01\x00"),
    (CKA.CLASS, b"\x00" * (N - 1)), (CKA.CLASS, b"\x00" * (N + 1)),
    (CKA.START_DATE, b"2024"), (CKA.START_DATE, b"2024013a"),
    (CKA.START_DATE, b"20241301"), (CKA.START_DATE, b"20230229"),
    (CKA.START_DATE, b"18991231"), (CKA.END_DATE, b"20240100"),
    (CKA.ALLOWED_MECHANISMS, b"\x00" * (N + 1)),
    (CKA.WRAP_TEMPLATE, b"\x00"),
    (CKA.VALUE, [(CKA.TOKEN, b"\x01")]),
    (CKA.WRAP_TEMPLATE, [(CKA.TOKEN, b"\x05")]),
])
def test_bad_raw_values(t: int, raw: Any) -> None:
    with pytest.raises(AttributeValueInvalid):
        decode(t, raw)


@pytest.mark.parametrize("t, value", [
    (CKA.TOKEN, 1), (CKA.TOKEN, b"\x01"), (CKA.CLASS, True),
    (CKA.CLASS, -1), (CKA.CLASS, attributes.ULONG_MAX + 1),
    (CKA.CLASS, b"\x00"), (CKA.VALUE, "text"), (CKA.START_DATE, b"2024"),
    (CKA.ALLOWED_MECHANISMS, 5), (CKA.ALLOWED_MECHANISMS, (-1,)),
    (CKA.WRAP_TEMPLATE, [(1, b"")]), (CKA.WRAP_TEMPLATE, {CKA.TOKEN: 1}),
])
def test_bad_python_values(t: int, value: Any) -> None:
    with pytest.raises(AttributeValueInvalid):
        encode(t, value)


def test_bad_nested_type_is_type_invalid() -> None:
    with pytest.raises(AttributeTypeInvalid):
        decode(CKA.UNWRAP_TEMPLATE, [(CKA.VENDOR_DEFINED, b"")])


def test_parse_template_duplicates() -> None:
    same = [(CKA.TOKEN, b"\x01"), (CKA.TOKEN, b"\x01")]
    assert attributes.parse_template(same) == {CKA.TOKEN: True}
    differ = [(CKA.TOKEN, b"\x01"), (CKA.TOKEN, b"\x00")]
    with pytest.raises(TemplateInconsistent):
        attributes.parse_template(differ)


def test_error_messages_carry_no_value() -> None:
    secret = b"\x99" * 9
    with pytest.raises(AttributeValueInvalid) as e:
        decode(CKA.CLASS, secret)
    assert "99" not in str(e.value)


def test_raw_size() -> None:
    assert attributes.raw_size(b"abc") == 3
    assert attributes.raw_size([(1, b"ab"), (2, [(3, b"c")])]) == 3


_VALUES: dict[Kind, st.SearchStrategy[Any]] = {
    Kind.BOOL: st.booleans(),
    Kind.ULONG: st.integers(0, attributes.ULONG_MAX),
    Kind.BYTES: st.binary(max_size=64),
    Kind.DATE: st.one_of(
        st.just(b""),
        st.dates(min_value=__import__("datetime").date(1900, 1, 1)).map(
            lambda d: d.strftime("%Y%m%d").encode())),
    Kind.MECHANISMS: st.lists(st.integers(0, attributes.ULONG_MAX),
                              max_size=8).map(tuple),
}
_FLAT = sorted(t for t, k in attributes.KINDS.items()
               if k is not Kind.TEMPLATE)


def _pair(t: int) -> st.SearchStrategy[tuple[int, Any]]:
    return _VALUES[kind_of(t)].map(lambda v: (t, v))


_ATTR = st.sampled_from(_FLAT).flatmap(_pair)


@given(_ATTR)
def test_round_trip_flat(pair: tuple[int, Any]) -> None:
    t, value = pair
    assert decode(t, encode(t, value)) == value


@given(st.dictionaries(st.sampled_from(_FLAT), st.none()).flatmap(
    lambda d: st.tuples(*[_pair(t) for t in d]).map(dict)))
def test_round_trip_template(inner: dict[int, Any]) -> None:
    raw = encode(CKA.WRAP_TEMPLATE, inner)
    assert decode(CKA.WRAP_TEMPLATE, raw) == inner


@given(st.binary(max_size=24))
def test_decode_bool_never_crashes(raw: bytes) -> None:
    try:
        assert decode(CKA.SIGN, raw) in (True, False)
    except AttributeValueInvalid:
        assert raw not in (b"\x00", b"\x01")
