"""Attribute codec: canonical round trip, hostile input -> StoreCorrupt."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from craton_hsm._generated_ck import CKA, CKM
from craton_hsm.errors import DeviceError
from craton_hsm.store.codec import (
    VERSION,
    StoreCorrupt,
    decode_attrs,
    encode_attrs,
    encode_parts,
    write_parts,
)

_keys = st.integers(0, (1 << 64) - 1)
_leaf = st.one_of(st.booleans(), _keys, st.binary(max_size=64),
                  st.tuples() | st.lists(_keys, max_size=5).map(tuple))
_templates = st.dictionaries(_keys, _leaf, max_size=6)
_attrs = st.dictionaries(_keys, _leaf | _templates, max_size=12)


def _as_views(value: Any) -> Any:
    """``value`` with its byte strings as views and bytearrays, the way
    the core holds key material (arena views, STYLE R8 bytearrays)."""
    if isinstance(value, bytes):
        return memoryview(value) if len(value) % 2 else bytearray(value)
    if isinstance(value, dict):
        return {k: _as_views(v) for k, v in value.items()}
    return value


def _written(attrs: dict[Any, Any]) -> bytes:
    """``attrs`` encoded the way core/vault.seal does: parts written
    into one buffer of their exact total size."""
    parts = encode_parts(attrs)
    out = memoryview(bytearray(sum(len(p) for p in parts)))
    write_parts(parts, out)
    return bytes(out)


@given(_attrs)
def test_round_trip(attrs: dict[int, Any]) -> None:
    assert decode_attrs(encode_attrs(attrs)) == attrs


@given(_attrs)
def test_canonical_regardless_of_insertion_order(
        attrs: dict[int, Any]) -> None:
    reordered = dict(reversed(list(attrs.items())))
    assert encode_attrs(reordered) == encode_attrs(attrs)


@given(_attrs)
def test_written_parts_equal_encode_attrs(attrs: dict[int, Any]) -> None:
    """The stored format has one definition: parts written into a
    buffer give encode_attrs' bytes, whatever the value types."""
    viewed = {k: _as_views(v) for k, v in attrs.items()}
    assert _written(attrs) == encode_attrs(attrs)
    assert _written(viewed) == encode_attrs(attrs)
    assert encode_attrs(viewed) == encode_attrs(attrs)


def test_written_parts_of_a_key_record() -> None:
    """Every value type the core stores, each as the core holds it:
    IntEnum keys and values, arena-style views, a nested template with
    a mechanism list, bools and ints in a nested template."""
    attrs: dict[Any, Any] = {
        CKA.CLASS: 3, CKA.TOKEN: True, CKA.SENSITIVE: False,
        CKA.VALUE: memoryview(bytearray(range(256))).toreadonly(),
        CKA.PRIME_1: bytearray(b"\x5a" * 128), CKA.LABEL: b"rsa",
        CKA.MODULUS_BITS: CKM.RSA_PKCS, CKA.END_DATE: memoryview(b""),
        CKA.ALLOWED_MECHANISMS: (CKM.RSA_PKCS_PSS, CKM.SHA256_RSA_PKCS),
        CKA.UNWRAP_TEMPLATE: {
            CKA.EXTRACTABLE: False, CKA.VALUE_LEN: 32,
            CKA.ALLOWED_MECHANISMS: (CKM.AES_GCM,),
            CKA.DERIVE_TEMPLATE: {CKA.SENSITIVE: True}},
        CKA.WRAP_TEMPLATE: {}, CKA.DERIVE_TEMPLATE: {1: ()}}
    plain = {k: bytes(v) if isinstance(v, (bytearray, memoryview)) else v
             for k, v in attrs.items()}
    assert _written(attrs) == encode_attrs(attrs) == encode_attrs(plain)
    assert decode_attrs(_written(attrs)) == plain


def test_parts_share_the_callers_buffers() -> None:
    """Byte values are not copied into the parts: a record written from
    them (core/vault.seal, into the key-material arena) is the only
    place their bytes are put."""
    key = bytearray(b"\x33" * 48)
    view = memoryview(key).toreadonly()
    raw = b"\x44" * 40
    parts = encode_parts({CKA.VALUE: view, CKA.SEED: key, CKA.ID: raw,
                          CKA.WRAP_TEMPLATE: {CKA.VALUE: view}})
    shared = [p for p in parts if isinstance(p, memoryview)]
    assert len(shared) == 3
    assert all(p.obj is key for p in shared)
    assert any(p is raw for p in parts)
    assert not any(isinstance(p, bytes) and b"\x33" * 8 in p
                   for p in parts)


def test_odd_buffer_formats_encode_as_their_bytes() -> None:
    """Views of other formats and strides encode as their raw bytes,
    as bytes(view) always did."""
    words = memoryview(bytearray(range(8))).cast("I")
    strided = memoryview(bytes(range(10)))[::2]
    for value in (words, strided):
        attrs = {CKA.VALUE: value}
        want = encode_attrs({CKA.VALUE: value.tobytes()})
        assert encode_attrs(attrs) == _written(attrs) == want


def test_write_parts_needs_the_exact_size() -> None:
    parts = encode_parts({CKA.VALUE: b"abc"})
    size = sum(len(p) for p in parts)
    for wrong in (size - 1, size + 1):
        with pytest.raises(ValueError):
            write_parts(parts, memoryview(bytearray(wrong)))


def test_typical_key_record() -> None:
    attrs: dict[int, Any] = {CKA.CLASS: 4, CKA.TOKEN: True, CKA.LABEL: b"k",
             CKA.ALLOWED_MECHANISMS: (CKM.AES_GCM, CKM.AES_CBC),
             CKA.WRAP_TEMPLATE: {CKA.EXTRACTABLE: False}, CKA.END_DATE: b""}
    blob = encode_attrs(attrs)
    assert blob[0] == VERSION
    out = decode_attrs(blob)
    assert out == attrs
    assert type(out[CKA.TOKEN]) is bool and type(out[CKA.CLASS]) is int


def test_layout_of_each_tag() -> None:
    """The byte layout of the module docstring, one entry per tag (the
    flat fast path and the general one must agree with it)."""
    def entry(key: int, tag: int, payload: bytes = b"") -> bytes:
        return struct.pack(">QB", key, tag) + payload
    attrs: dict[int, Any] = {1: False, 2: True, 3: 7, 4: b"ab",
                             5: (9,), 6: (), 7: {}, 8: {1: True}}
    inner = struct.pack(">I", 1) + entry(1, 1)
    assert encode_attrs(attrs) == bytes([VERSION]) + struct.pack(">I", 8) \
        + entry(1, 0) + entry(2, 1) + entry(3, 2, struct.pack(">Q", 7)) \
        + entry(4, 3, struct.pack(">I", 2) + b"ab") \
        + entry(5, 4, struct.pack(">IQ", 1, 9)) \
        + entry(6, 4, struct.pack(">I", 0)) \
        + entry(7, 5, struct.pack(">II", 4, 0)) \
        + entry(8, 5, struct.pack(">I", len(inner)) + inner)


def test_enum_keys_encode_as_their_ints() -> None:
    """CKA members and plain ints are the same attribute type; bool and
    non-int keys stay refused after int subclasses were accepted."""
    class Sub(int):
        pass
    plain = encode_attrs({int(CKA.LABEL): b"k", int(CKA.TOKEN): True})
    assert encode_attrs({CKA.LABEL: b"k", CKA.TOKEN: True}) == plain
    assert encode_attrs({Sub(CKA.LABEL): b"k", CKA.TOKEN: True}) == plain
    for bad in ({True: 1}, {False: b""}, {1.0: 1}, {"3": 1}):
        with pytest.raises(TypeError):
            encode_attrs(bad)


def test_bytearray_encodes_as_bytes() -> None:
    out = decode_attrs(encode_attrs({CKA.VALUE: bytearray(b"abc")}))
    assert out == {CKA.VALUE: b"abc"} and type(out[CKA.VALUE]) is bytes


@pytest.mark.parametrize("bad", [{CKA.VALUE: "text"}, {CKA.VALUE: None},
                                 {CKA.VALUE: -1}, {CKA.VALUE: 1 << 64},
                                 {CKA.VALUE: (True,)}, {"x": 1}])
def test_encode_rejects_bad_values(bad: dict[Any, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        encode_attrs(bad)


@given(_attrs, st.data())
def test_truncation_raises_store_corrupt(attrs: dict[int, Any],
                                         data: st.DataObject) -> None:
    blob = encode_attrs(attrs)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(StoreCorrupt):
        decode_attrs(blob[:cut])


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_input_only_raises_store_corrupt(blob: bytes) -> None:
    with contextlib.suppress(StoreCorrupt):
        decode_attrs(blob)


@given(_attrs, st.data())
def test_flipped_byte_never_crashes(attrs: dict[int, Any],
                                    data: st.DataObject) -> None:
    blob = bytearray(encode_attrs(attrs))
    i = data.draw(st.integers(0, len(blob) - 1))
    blob[i] ^= data.draw(st.integers(1, 255))
    with contextlib.suppress(StoreCorrupt):
        decode_attrs(bytes(blob))


def test_huge_length_field_is_not_allocated() -> None:
    # One entry of tag BYTES claiming 4 GiB: refused before allocation.
    blob = bytes([VERSION]) + struct.pack(">IQB", 1, CKA.VALUE, 3) + \
        struct.pack(">I", 0xFFFFFFFF)
    with pytest.raises(StoreCorrupt, match="exceeds"):
        decode_attrs(blob)


def test_huge_count_is_refused() -> None:
    with pytest.raises(StoreCorrupt, match="exceeds"):
        decode_attrs(bytes([VERSION]) + struct.pack(">I", 0xFFFFFFFF))


def test_unknown_version_and_empty() -> None:
    with pytest.raises(StoreCorrupt, match="version"):
        decode_attrs(b"\x09" + encode_attrs({})[1:])
    with pytest.raises(StoreCorrupt, match="empty"):
        decode_attrs(b"")


def test_trailing_bytes_and_order() -> None:
    with pytest.raises(StoreCorrupt, match="trailing"):
        decode_attrs(encode_attrs({1: True}) + b"\x00")
    swapped = bytes([VERSION]) + struct.pack(">IQBQB", 2, 5, 1, 3, 1)
    with pytest.raises(StoreCorrupt, match="order"):
        decode_attrs(swapped)


def test_deep_nesting_refused() -> None:
    deep: dict[int, Any] = {1: True}
    for _ in range(5):
        deep = {1: deep}
    with pytest.raises(ValueError):
        encode_attrs(deep)


def test_store_corrupt_is_device_error() -> None:
    assert issubclass(StoreCorrupt, DeviceError)


def test_hostile_deep_nesting_is_store_corrupt() -> None:
    body = struct.pack(">I", 0)
    for _ in range(6):
        body = struct.pack(">IQBI", 1, 1, 5, len(body)) + body
    with pytest.raises(StoreCorrupt, match="nested too deeply"):
        decode_attrs(bytes([VERSION]) + body)
