"""Deterministic, versioned binary encoding of decoded attribute dicts.

Values are the core's decoded attribute types (PKCS#11 v3.0 section 4.1:
CK_BBOOL, CK_ULONG, byte arrays, CK_MECHANISM_TYPE arrays and nested
templates such as CKA_WRAP_TEMPLATE).  The encoding is canonical (keys
sorted, fixed-width integers), so equal dicts give equal bytes and a
sealed blob's plaintext never depends on insertion order.

Layout (all integers big-endian)::

    blob   = version:u8 body
    body   = count:u32 entry*            (entries sorted by type)
    entry  = type:u64 tag:u8 payload
    FALSE/TRUE: no payload       INT:   u64
    BYTES: len:u32 data          MECHS: count:u32 u64*
    DICT:  len:u32 body

``encode_attrs`` joins the pieces ``encode_parts`` lays out; a caller
that must not hold the record as immutable bytes (core/vault.py, sealed
key material: docs/memory.md) writes the same pieces into a buffer of
its own with ``write_parts`` instead.  One layout, two destinations.

Decoding treats its input as hostile: every length is checked against
the bytes that remain before anything is allocated, nesting is bounded,
and every failure is a ``StoreCorrupt`` with a clear message.
"""

from __future__ import annotations

import struct
from typing import Any

from craton_hsm.errors import DeviceError

VERSION = 1
MAX_DEPTH = 4            # CKA_WRAP_TEMPLATE may nest one template; slack
_U64_MAX = (1 << 64) - 1
_FALSE, _TRUE, _INT, _BYTES, _MECHS, _DICT = range(6)


# errors.py builds its classes at run time, so mypy cannot see that
# DeviceError is a class; the ignore is for that alone.
class StoreCorrupt(DeviceError):  # type: ignore[misc,valid-type]
    """Stored data cannot be decoded (CKR_DEVICE_ERROR)."""


# One piece of an encoded record: a header we packed (types, tags,
# lengths, integer values: never key material) or a byte value's own
# buffer, unsigned-byte formatted so that len() is its size.
Part = bytes | memoryview


def encode_attrs(attrs: dict[int, Any]) -> bytes:
    """Canonical encoding of ``attrs``; TypeError/ValueError on bad input."""
    return b"".join(encode_parts(attrs))


def encode_parts(attrs: dict[int, Any]) -> list[Part]:
    """The pieces whose concatenation is ``encode_attrs(attrs)``.

    Byte values appear as the caller's own buffers, never as copies, so
    a caller can assemble a record wherever it must live: core/vault.py
    writes sealed secrets straight into the key-material arena
    (``write_parts``), so their plaintext never exists as immutable
    bytes (docs/memory.md)."""
    parts: list[Part] = [_VERSION_BYTE]
    _body(attrs, 0, parts)
    return parts


def write_parts(parts: list[Part], out: memoryview) -> None:
    """Concatenate ``parts`` into ``out``, which must be exactly their
    total size (``sum(map(len, parts))``); ValueError otherwise."""
    pos = 0
    for part in parts:
        end = pos + len(part)
        out[pos:end] = part
        pos = end
    if pos != len(out):
        raise ValueError(f"encoded record is {pos} bytes, buffer "
                         f"{len(out)}")


def decode_attrs(blob: bytes | memoryview) -> dict[int, Any]:
    """Inverse of ``encode_attrs``; raises StoreCorrupt, nothing else.

    A memoryview is read in place and its byte values come back as
    memoryview slices of it (core/vault.py decodes decrypted secrets
    this way, so no plaintext key is copied to immutable bytes)."""
    data = blob if isinstance(blob, memoryview) else bytes(blob)
    if not data:
        raise StoreCorrupt("attribute record is empty")
    if data[0] != VERSION:
        raise StoreCorrupt(f"attribute record has unknown format version "
                           f"{data[0]}")
    reader = _Reader(data, 1)
    out = reader.body(0)
    if reader.pos != len(data):
        raise StoreCorrupt(f"attribute record has {len(data) - reader.pos} "
                           "trailing bytes")
    return out


_PACK_Q = struct.Struct(">Q").pack
_PACK_I = struct.Struct(">I").pack
_KEY_TAG = struct.Struct(">QB")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_PACK_QB = struct.Struct(">QB").pack
_PACK_QBI = struct.Struct(">QBI").pack
_PACK_QBQ = struct.Struct(">QBQ").pack
_PACK_BI = struct.Struct(">BI").pack
_VERSION_BYTE = bytes([VERSION])
_BOOLS = (bytes([_FALSE]), bytes([_TRUE]))
# _entry of {} and (): the encodings every key's empty templates and
# mechanism list share.
_EMPTY_DICT = _PACK_BI(_DICT, 4) + _PACK_I(0)
_EMPTY_MECHS = _PACK_BI(_MECHS, 0)


def _u64(value: int) -> bytes:
    if not 0 <= value <= _U64_MAX:
        raise ValueError("integer attribute value out of CK_ULONG range")
    return _PACK_Q(value)


def _body(attrs: dict[int, Any], depth: int, parts: list[Part]) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError("attribute templates nested too deeply")
    append = parts.append
    append(_PACK_I(len(attrs)))
    # Issue 9: every token object is encoded at create, so the common
    # value types (exact bool, int, bytes, and the empty template and
    # mechanism list every key carries) take a flat path with one pack
    # per entry; anything else (IntEnum, views, non-empty mechanism
    # lists and templates) goes through _entry.
    try:
        for key in sorted(attrs):
            if type(key) not in _KEY_TYPES:
                _check_key_type(key)
            value = attrs[key]
            kind = type(value)
            if kind is bool:
                # The tag is the value: _FALSE == 0, _TRUE == 1.
                append(_PACK_QB(key, value))
            elif kind is bytes:
                append(_PACK_QBI(key, _BYTES, len(value)))
                append(value)
            elif kind is int:
                append(_PACK_QBQ(key, _INT, value))
            elif not value and (kind is dict or kind is tuple):
                append(_PACK_Q(key))
                append(_EMPTY_DICT if kind is dict else _EMPTY_MECHS)
            else:
                append(_PACK_Q(key))
                _entry(value, depth, parts)
    except struct.error:
        # A key or an integer value outside CK_ULONG (negative, >= 2**64).
        raise ValueError("integer attribute value out of CK_ULONG "
                         "range") from None


# Types accepted as attribute types: int and its subclasses but bool (the
# core's keys are mostly CKA IntEnum members); a set lookup per entry
# instead of two isinstance calls.
_KEY_TYPES: set[type] = {int}


def _check_key_type(key: Any) -> None:
    kind = type(key)
    if kind is bool or not issubclass(kind, int):
        raise TypeError("attribute type must be an int")
    _KEY_TYPES.add(kind)


def _entry(value: Any, depth: int, parts: list[Part]) -> None:
    """Append the tag and payload of one value to ``parts``."""
    # bool before int: bool is an int subclass in Python.
    if isinstance(value, bool):
        parts.append(_BOOLS[value])
    elif isinstance(value, int):
        parts.append(bytes([_INT]) + _u64(int(value)))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = _byte_view(value)
        parts.append(_PACK_BI(_BYTES, len(raw)))
        parts.append(raw)
    elif isinstance(value, tuple):
        if not all(isinstance(m, int) and not isinstance(m, bool)
                   for m in value):
            raise TypeError("mechanism list must hold ints")
        parts.append(_PACK_BI(_MECHS, len(value)) +
                     b"".join(_u64(int(m)) for m in value))
    elif isinstance(value, dict):
        # The length comes first but is known only once the nested body
        # is laid out: a slot now, filled in after.
        slot = len(parts)
        parts.append(b"")
        _body(value, depth + 1, parts)
        size = sum(len(p) for p in parts[slot + 1:])
        parts[slot] = _PACK_BI(_DICT, size)
    else:
        raise TypeError(f"cannot store attribute value of type "
                        f"{type(value).__name__}")


def _byte_view(value: bytes | bytearray | memoryview) -> Part:
    """``value``'s bytes without copying them where that is possible."""
    if isinstance(value, bytes):
        return value
    view = memoryview(value)
    if view.format == "B" and view.ndim == 1 and view.contiguous:
        return view
    if view.c_contiguous:
        return view.cast("B")
    # A strided view cannot be shared as one buffer; the core never
    # passes one (its values are bytes or whole arena slices).
    return view.tobytes()


class _Reader:
    """Bounds-checked cursor over an untrusted record."""

    def __init__(self, data: bytes | memoryview, pos: int) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes | memoryview:
        if n > len(self.data) - self.pos:
            raise StoreCorrupt(f"attribute record truncated at offset "
                               f"{self.pos} (need {n} more bytes)")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def u64(self) -> int:
        value: int = struct.unpack(">Q", self.take(8))[0]
        return value

    def count(self, unit: int) -> int:
        """A count whose items need at least ``unit`` bytes each."""
        n = self.u32()
        if n * unit > len(self.data) - self.pos:
            raise StoreCorrupt(f"attribute record count {n} at offset "
                               f"{self.pos - 4} exceeds the record size")
        return n

    def body(self, depth: int) -> dict[int, Any]:
        if depth >= MAX_DEPTH:
            raise StoreCorrupt("attribute record nested too deeply")
        out: dict[int, Any] = {}
        last = -1
        data = self.data
        size = len(data)
        key_tag = _KEY_TAG.unpack_from
        u32 = _U32.unpack_from
        u64 = _U64.unpack_from
        # Issue 9: every token object is decoded when a process loads the
        # token, so the flat cases are inlined; each read is still
        # bounds-checked before it happens.
        for _ in range(self.count(9)):
            pos = self.pos
            if pos + 9 > size:
                self.take(9)                    # raises: truncated
            key, tag = key_tag(data, pos)
            if key <= last:
                raise StoreCorrupt("attribute record keys not in "
                                   "canonical order")
            last = key
            pos += 9
            if tag == _TRUE or tag == _FALSE:
                self.pos = pos
                out[key] = tag == _TRUE
            elif tag == _BYTES and pos + 4 <= size:
                n = u32(data, pos)[0]
                pos += 4
                if n > size - pos:
                    raise StoreCorrupt(f"attribute record count {n} at "
                                       f"offset {pos - 4} exceeds the "
                                       "record size")
                out[key] = data[pos:pos + n]
                self.pos = pos + n
            elif tag == _INT and pos + 8 <= size:
                out[key] = u64(data, pos)[0]
                self.pos = pos + 8
            else:
                self.pos = pos - 1
                out[key] = self.value(depth)
        return out

    def value(self, depth: int) -> Any:
        tag = self.u8()
        if tag in (_FALSE, _TRUE):
            return tag == _TRUE
        if tag == _INT:
            return self.u64()
        if tag == _BYTES:
            return self.take(self.count(1))
        if tag == _MECHS:
            return tuple(self.u64() for _ in range(self.count(8)))
        if tag == _DICT:
            end = self.count(1) + self.pos
            nested = self.body(depth + 1)
            if self.pos != end:
                raise StoreCorrupt("nested attribute template length "
                                   "mismatch")
            return nested
        raise StoreCorrupt(f"attribute record has unknown value tag {tag} "
                           f"at offset {self.pos - 1}")
