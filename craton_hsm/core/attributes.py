"""The attribute wire codec: CK_ATTRIBUTE values <-> decoded Python values.

PKCS#11 v3.0 section 3 ("Data types") fixes the encodings: CK_BBOOL is one
byte, CK_ULONG is the platform's ``unsigned long`` in native byte order,
CK_DATE is eight ASCII digits ``YYYYMMDD``, CK_MECHANISM_TYPE arrays are
packed CK_ULONGs, and attributes with CKF_ARRAY_ATTRIBUTE set (section
4.1.3) carry a nested CK_ATTRIBUTE array.  The ABI marshaller uses this
module for every attribute; the core only ever sees decoded values.
"""

from __future__ import annotations

import datetime
import enum
import struct
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from craton_hsm._generated_ck import CKA
from craton_hsm.errors import (
    AttributeTypeInvalid,
    AttributeValueInvalid,
    CKRError,
    TemplateInconsistent,
)
from craton_hsm.vendor_ck import CKA_CRATON_COMPROMISED

# A raw attribute value: the bytes behind pValue, or for an array attribute
# the nested (type, raw) pairs.
RawValue: TypeAlias = bytes | list[tuple[int, "RawValue"]]

# The C unsigned long of this platform (struct's native "L"; not
# ctypes, which C_Initialize then had to load only for this: issue 9).
ULONG_SIZE = struct.calcsize("L")
ULONG_MAX = (1 << (8 * ULONG_SIZE)) - 1


class Kind(enum.Enum):
    """How one attribute type is encoded on the wire."""

    BOOL = "bool"
    ULONG = "ulong"
    BYTES = "bytes"
    DATE = "date"
    MECHANISMS = "mechanisms"
    TEMPLATE = "template"


_BOOL = (
    CKA.TOKEN, CKA.PRIVATE, CKA.MODIFIABLE, CKA.COPYABLE, CKA.DESTROYABLE,
    CKA.TRUSTED, CKA.SENSITIVE, CKA.ENCRYPT, CKA.DECRYPT, CKA.WRAP,
    CKA.UNWRAP, CKA.SIGN, CKA.SIGN_RECOVER, CKA.VERIFY, CKA.VERIFY_RECOVER,
    CKA.DERIVE, CKA.EXTRACTABLE, CKA.LOCAL, CKA.NEVER_EXTRACTABLE,
    CKA.ALWAYS_SENSITIVE, CKA.ALWAYS_AUTHENTICATE, CKA.WRAP_WITH_TRUSTED,
    CKA.ENCAPSULATE, CKA.DECAPSULATE, CKA_CRATON_COMPROMISED,
)
_ULONG = (
    CKA.CLASS, CKA.KEY_TYPE, CKA.CERTIFICATE_TYPE, CKA.CERTIFICATE_CATEGORY,
    CKA.JAVA_MIDP_SECURITY_DOMAIN, CKA.NAME_HASH_ALGORITHM, CKA.MODULUS_BITS,
    CKA.VALUE_LEN, CKA.KEY_GEN_MECHANISM, CKA.PARAMETER_SET, CKA.PROFILE_ID,
)
# Byte arrays and RFC 2279 (UTF-8) strings are both opaque bytes here.
_BYTES = (
    CKA.LABEL, CKA.UNIQUE_ID, CKA.APPLICATION, CKA.VALUE, CKA.OBJECT_ID,
    CKA.ISSUER, CKA.SERIAL_NUMBER, CKA.URL, CKA.HASH_OF_SUBJECT_PUBLIC_KEY,
    CKA.HASH_OF_ISSUER_PUBLIC_KEY, CKA.CHECK_VALUE, CKA.SUBJECT, CKA.ID,
    CKA.MODULUS, CKA.PUBLIC_EXPONENT, CKA.PRIVATE_EXPONENT, CKA.PRIME_1,
    CKA.PRIME_2, CKA.EXPONENT_1, CKA.EXPONENT_2, CKA.COEFFICIENT,
    CKA.PUBLIC_KEY_INFO, CKA.EC_PARAMS, CKA.EC_POINT, CKA.SEED,
)

KINDS: Mapping[int, Kind] = {
    **{int(t): Kind.BOOL for t in _BOOL},
    **{int(t): Kind.ULONG for t in _ULONG},
    **{int(t): Kind.BYTES for t in _BYTES},
    int(CKA.START_DATE): Kind.DATE,
    int(CKA.END_DATE): Kind.DATE,
    int(CKA.ALLOWED_MECHANISMS): Kind.MECHANISMS,
    int(CKA.WRAP_TEMPLATE): Kind.TEMPLATE,
    int(CKA.UNWRAP_TEMPLATE): Kind.TEMPLATE,
    int(CKA.DERIVE_TEMPLATE): Kind.TEMPLATE,
}


def kind_of(t: int) -> Kind:
    """The encoding of attribute type ``t``; unsupported types are
    CKR_ATTRIBUTE_TYPE_INVALID (v3.0 section 5.7, C_CreateObject)."""
    try:
        return KINDS[int(t)]
    except KeyError:
        raise AttributeTypeInvalid(f"attribute type 0x{int(t):x}") from None


def _name(t: int) -> str:
    try:
        return "CKA_" + CKA(t).name
    except ValueError:
        return f"CKA_0x{t:x}"


def _bad(t: int, why: str) -> CKRError:
    # Only the type and the reason: a value may be key material.
    return AttributeValueInvalid(f"{_name(t)}: {why}")


def _check_date(t: int, raw: bytes) -> bytes:
    # CK_DATE (v3.0 section 3.3): year "1900".."9999", month, day; an
    # empty value means "no date" (section 4.7, CKA_START_DATE default).
    if raw == b"":
        return raw
    if len(raw) != 8 or not raw.isdigit():
        raise _bad(t, "CK_DATE must be 8 ASCII digits")
    year, month, day = int(raw[:4]), int(raw[4:6]), int(raw[6:])
    try:
        datetime.date(year, month, day)
    except ValueError:
        raise _bad(t, "not a calendar date") from None
    if year < 1900:
        raise _bad(t, "year before 1900")
    return raw


def _ulong(t: int, raw: bytes) -> int:
    if len(raw) != ULONG_SIZE:
        raise _bad(t, f"CK_ULONG must be {ULONG_SIZE} bytes")
    return int.from_bytes(raw, sys.byteorder)


def decode(t: int, raw: RawValue) -> Any:
    """Decode one raw attribute value; wrong length or format is
    CKR_ATTRIBUTE_VALUE_INVALID."""
    kind = kind_of(t)
    if kind is Kind.TEMPLATE:
        if not isinstance(raw, list):
            raise _bad(t, "an attribute array is required")
        return parse_template(raw)
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise _bad(t, "a byte string is required")
    raw = bytes(raw)
    if kind is Kind.BOOL:
        # CK_TRUE is 1 and CK_FALSE is 0; anything else is malformed.
        if raw not in (b"\x00", b"\x01"):
            raise _bad(t, "CK_BBOOL must be one byte, 0 or 1")
        return raw == b"\x01"
    if kind is Kind.ULONG:
        return _ulong(t, raw)
    if kind is Kind.DATE:
        return _check_date(t, raw)
    if kind is Kind.MECHANISMS:
        if len(raw) % ULONG_SIZE:
            raise _bad(t, "not a whole number of CK_MECHANISM_TYPEs")
        return tuple(_ulong(t, raw[i:i + ULONG_SIZE])
                     for i in range(0, len(raw), ULONG_SIZE))
    return raw


def _enc_ulong(t: int, value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(t, "an integer is required")
    if not 0 <= value <= ULONG_MAX:
        raise _bad(t, "out of CK_ULONG range")
    return int(value).to_bytes(ULONG_SIZE, sys.byteorder)


def encode(t: int, value: Any) -> RawValue:
    """Encode a decoded value; a value of the wrong Python type or out of
    range is CKR_ATTRIBUTE_VALUE_INVALID, so this doubles as a check."""
    kind = kind_of(t)
    if kind is Kind.BOOL:
        if not isinstance(value, bool):
            raise _bad(t, "a boolean is required")
        return b"\x01" if value else b"\x00"
    if kind is Kind.ULONG:
        return _enc_ulong(t, value)
    if kind is Kind.MECHANISMS:
        if not isinstance(value, (tuple, list)):
            raise _bad(t, "a sequence of mechanisms is required")
        return b"".join(_enc_ulong(t, m) for m in value)
    if kind is Kind.TEMPLATE:
        if not isinstance(value, Mapping):
            raise _bad(t, "a template mapping is required")
        return [(int(k), encode(k, v)) for k, v in value.items()]
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise _bad(t, "a byte string is required")
    raw = bytes(value)
    if kind is Kind.DATE:
        return _check_date(t, raw)
    return raw


def parse_template(pairs: Iterable[tuple[int, RawValue]]) -> dict[int, Any]:
    """Decode a CK_ATTRIBUTE array into a dict.

    The spec leaves repeated types undefined; a repeat with the same value
    is harmless, a repeat with a different value is contradictory and so
    CKR_TEMPLATE_INCONSISTENT.
    """
    out: dict[int, Any] = {}
    for t, raw in pairs:
        t = int(t)
        value = decode(t, raw)
        if t in out and out[t] != value:
            raise TemplateInconsistent(f"{_name(t)} given twice")
        out[t] = value
    return out


def raw_size(raw: RawValue) -> int:
    """Bytes a raw value occupies (nested arrays summed)."""
    if isinstance(raw, list):
        return sum(raw_size(v) for _, v in raw)
    return len(raw)
