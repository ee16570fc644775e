"""cdata <-> Python values: the only code besides entry points that
reads or writes C memory.

Rules of PKCS#11 v3.0 section 5.2 live here once: NULL argument checks,
the NULL-buffer length query and CKR_BUFFER_TOO_SMALL, blank-padded
fixed-width strings, CK_ATTRIBUTE arrays (nested for
CKF_ARRAY_ATTRIBUTE types) and CK_MECHANISM parameter decoding.
"""

from __future__ import annotations

from typing import Any

from _craton_hsm_abi import ffi

from craton_hsm._generated_ck import CK_UNAVAILABLE_INFORMATION, CKF, CKR
from craton_hsm.abi import params as params_mod
from craton_hsm.core.attributes import KINDS, Kind, RawValue
from craton_hsm.core.limits import (
    MAX_ATTRIBUTE,
    MAX_DATA,
    MAX_PIN,
    MAX_TEMPLATE,
)
from craton_hsm.core.session import WRITTEN, Out
from craton_hsm.errors import (
    ArgumentsBad,
    AttributeValueInvalid,
    DataLenRange,
    PinLenRange,
)
from craton_hsm.mechanisms.registry import ParamKind, lookup

NULL = ffi.NULL
ATTR_SIZE = ffi.sizeof("CK_ATTRIBUTE")
ARRAY = int(CKF.ARRAY_ATTRIBUTE)
UNAVAILABLE = CK_UNAVAILABLE_INFORMATION
OK = int(CKR.OK)
TOO_SMALL = int(CKR.BUFFER_TOO_SMALL)



def data(p: Any, n: int, limit: int = MAX_DATA) -> bytes:
    """Input bytes: NULL is allowed only for an empty buffer; more than
    ``limit`` bytes is refused before anything is read
    (core/limits.py)."""
    if n == 0:
        return b""
    if p == NULL:
        raise ArgumentsBad("NULL data pointer with a non-zero length")
    if n > limit:
        raise DataLenRange(f"input of {n} bytes exceeds {limit}")
    value: bytes = ffi.buffer(p, n)[:]
    return value


def view(p: Any, n: int, limit: int = MAX_DATA) -> Any:
    """Input bytes as a zero-copy view of the caller's buffer (checked
    like ``data``), for input consumed before the call returns: a
    1 MiB C_Digest or C_Encrypt copied its input first (issue 9).  The
    view is valid only during the call; whatever keeps input for a later
    call (multi-part buffering) copies it, as bytearray ``+=`` does."""
    if n == 0:
        return b""
    if p == NULL:
        raise ArgumentsBad("NULL data pointer with a non-zero length")
    if n > limit:
        raise DataLenRange(f"input of {n} bytes exceeds {limit}")
    return ffi.buffer(p, n)


def dest(p_out: Any, cap: int | None) -> Any:
    """A writable view of the caller's output buffer (``cap`` bytes), or
    None for a length query or an empty buffer."""
    if not cap:
        return None
    return ffi.buffer(p_out, cap)


def pin(p: Any, n: int) -> bytes:
    if p == NULL:
        raise ArgumentsBad("NULL PIN")
    if n > MAX_PIN:
        raise PinLenRange("PIN longer than 256 bytes")
    value: bytes = ffi.buffer(p, n)[:]
    return value


def template(p: Any, count: int, depth: int = 0) -> list[tuple[int,
                                                              RawValue]]:
    """A CK_ATTRIBUTE array as (type, raw) pairs."""
    if count == 0:
        return []
    if p == NULL:
        raise ArgumentsBad("NULL template with a non-zero count")
    if count > MAX_TEMPLATE or depth > 2:
        raise ArgumentsBad(f"template of {count} attributes")
    pairs: list[tuple[int, RawValue]] = []
    for i in range(count):
        a = p[i]
        t = int(a.type)
        n = int(a.ulValueLen)
        # Only a template-valued type (CKA_WRAP/UNWRAP/DERIVE_TEMPLATE)
        # is read as a nested CK_ATTRIBUTE array.  CKA_ALLOWED_MECHANISMS
        # also carries CKF_ARRAY_ATTRIBUTE but is an array of
        # CK_MECHANISM_TYPE (spec 4.1.4): read as a template, its
        # numbers became pointers.  An unknown type with the array bit
        # set stays plain bytes so the core names it
        # CKR_ATTRIBUTE_TYPE_INVALID.
        if t & ARRAY and KINDS.get(t) is Kind.TEMPLATE:
            inner = ffi.cast("CK_ATTRIBUTE *", a.pValue)
            if n % ATTR_SIZE:
                raise AttributeValueInvalid("bad attribute array length")
            pairs.append((t, template(inner, n // ATTR_SIZE, depth + 1)))
            continue
        if n > MAX_ATTRIBUTE:
            raise AttributeValueInvalid(f"attribute 0x{t:x} too long")
        if n and a.pValue == NULL:
            raise ArgumentsBad(f"attribute 0x{t:x}: NULL value")
        pairs.append((t, ffi.buffer(a.pValue, n)[:] if n else b""))
    return pairs


def types(p: Any, count: int) -> list[int]:
    if count and p == NULL:
        raise ArgumentsBad("NULL template with a non-zero count")
    if count > MAX_TEMPLATE:
        raise ArgumentsBad(f"template of {count} attributes")
    return [int(p[i].type) for i in range(count)]


# Mechanism type -> the decoder of its parameter, filled on first use
# (only for registered types, so it is bounded by the registry): a
# registry row's ParamKind never changes, and the registry look-up plus
# an Enum-keyed get cost every *Init a few hundred ns (issue 9).
_DECODERS: dict[int, params_mod.Decoder] = {}
_NO_PARAMETER = params_mod.DECODERS[ParamKind.NONE]


def mechanism(p: Any) -> tuple[int, Any]:
    """CK_MECHANISM -> (type, decoded parameters)."""
    if p == NULL:
        raise ArgumentsBad("NULL mechanism")
    mech = int(p.mechanism)
    decode = _DECODERS.get(mech)
    if decode is None:
        decode = params_mod.DECODERS[lookup(mech).params]
        _DECODERS[mech] = decode
    n = int(p.ulParameterLen)
    if n == 0 and decode is _NO_PARAMETER:
        # The common case (CKM_SHA256, CKM_SHA256_HMAC ...): nothing to
        # decode, and the pointer need not be read (a NULL or stray
        # pointer with length 0 is accepted either way).
        return mech, None
    return mech, decode(ffi, p.pParameter, n)


def capacity(p_out: Any, p_len: Any) -> int | None:
    """Caller's buffer size, or None for a NULL-buffer length query."""
    if p_len == NULL:
        raise ArgumentsBad("NULL length pointer")
    if p_out == NULL:
        return None
    return int(p_len[0])


def write_out(p_out: Any, p_len: Any, out: Out) -> int:
    """Finish the output-buffer protocol for a result of ``deliver``."""
    n, value = out
    p_len[0] = n
    if value is None:
        return OK if p_out == NULL else TOO_SMALL
    if value is not WRITTEN:
        ffi.memmove(p_out, value, n)
    return OK


def write_bytes(p_out: Any, p_len: Any, value: bytes) -> int:
    """Output of a function with no operation state (length known)."""
    cap = capacity(p_out, p_len)
    if cap is not None and cap >= len(value):
        return write_out(p_out, p_len, (len(value), value))
    return write_out(p_out, p_len, (len(value), None))


def write_ulongs(p_out: Any, p_count: Any, values: list[int]) -> int:
    if p_count == NULL:
        raise ArgumentsBad("NULL count pointer")
    n = len(values)
    if p_out == NULL:
        p_count[0] = n
        return OK
    if int(p_count[0]) < n:
        p_count[0] = n
        return TOO_SMALL
    for i, v in enumerate(values):
        p_out[i] = v
    p_count[0] = n
    return OK


def fixed(field: Any, text: bytes) -> None:
    """Blank-padded, not NUL-terminated string field (spec 3.2)."""
    size = len(field)
    ffi.memmove(field, text[:size].ljust(size, b" "), size)


def attributes_out(p: Any, count: int,
                   results: list[tuple[RawValue | None, int]]) -> int:
    """C_GetAttributeValue's per-attribute cases (spec 5.7.5)."""
    rv = OK
    for i, (value, code) in enumerate(results):
        a = p[i]
        if value is None:
            a.ulValueLen = UNAVAILABLE
            rv = code if rv == OK else rv
            continue
        if isinstance(value, list):
            code = _nested_out(a, value)
        elif a.pValue == NULL:
            a.ulValueLen = len(value)
        elif int(a.ulValueLen) >= len(value):
            ffi.memmove(a.pValue, value, len(value))
            a.ulValueLen = len(value)
        else:
            a.ulValueLen = UNAVAILABLE
            code = TOO_SMALL
        if code != OK and rv == OK:
            rv = code
    return rv


def _nested_out(a: Any, pairs: list[tuple[int, RawValue]]) -> int:
    size = len(pairs) * ATTR_SIZE
    if a.pValue == NULL:
        a.ulValueLen = size
        return OK
    if int(a.ulValueLen) < size:
        a.ulValueLen = UNAVAILABLE
        return TOO_SMALL
    inner = ffi.cast("CK_ATTRIBUTE *", a.pValue)
    for i, (t, v) in enumerate(pairs):
        inner[i].type = t
    rv = attributes_out(inner, len(pairs),
                        [(v, OK) for _, v in pairs])
    a.ulValueLen = size
    return rv
