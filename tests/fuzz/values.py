"""Hostile argument builders for the fuzz harness: handles, lengths,
buffers, templates and mechanism parameters decoded from a ``Reader``.

Every length the harness passes is honest about the memory behind it,
except the deliberate lies, which are all larger than the module's
bounds (core/limits.py) and must therefore be refused before the module
reads a byte: a module that reads one of them crashes the fuzzer, and
that is a finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from abi.test_hostile import NULL, ffi

from craton_hsm._generated_ck import CKA, CKD, CKM, CKZ
from fuzz.reader import Reader

ULONG = ffi.sizeof("CK_ULONG")
ATTR_SIZE = ffi.sizeof("CK_ATTRIBUTE")
MAX_DATA = 64 * 1024 * 1024
# Lengths beyond every bound: PIN 256, attribute 64 KiB, buffer 64 MiB.
LIES = (MAX_DATA + 1, 2 ** 32, 2 ** 63, 2 ** (8 * ULONG) - 1)
INTERESTING = (0, 1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127,
               128, 255, 256, 257, 1023, 1024, 4096, 65535, 65536, 65537,
               2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 63,
               2 ** 64 - 1)


def ulong_bytes(v: int) -> bytes:
    return (v % 2 ** (8 * ULONG)).to_bytes(ULONG, "little")


@dataclass
class Arena:
    """Keeps every cdata of one execution alive until it ends."""

    keep: list[Any] = field(default_factory=list)

    def buf(self, data: bytes) -> Any:
        b = ffi.new("unsigned char[]", max(1, len(data)))
        ffi.memmove(b, data, len(data))
        self.keep.append(b)
        return b

    def new(self, ctype: str, *init: Any) -> Any:
        c = ffi.new(ctype, *init)
        self.keep.append(c)
        return c


def number(r: Reader, default: int) -> int:
    """0: the default; 1: an interesting value; 2: any 64-bit value."""
    how = r.pick(4)
    if how == 1:
        return INTERESTING[r.pick(len(INTERESTING))]
    if how == 2:
        return r.ConsumeIntInRange(0, 2 ** 64 - 1)
    if how == 3:
        return r.ConsumeIntInRange(0, 300)
    return default


def blob(r: Reader, default: bytes) -> bytes:
    """0: the default; else up to 300 fuzz bytes."""
    if r.pick(3) == 0:
        return default
    return r.ConsumeBytes(r.ConsumeIntInRange(0, 300))


def pointer(a: Arena, r: Reader, default: bytes) -> tuple[Any, int]:
    """(pointer, length) for an input buffer: honest, NULL with length
    0 or not, or a lie above every bound."""
    how = r.pick(6)
    if how == 3:
        return NULL, 0
    if how == 4:
        return NULL, r.ConsumeIntInRange(1, 2 ** 32)
    if how == 5:
        return a.buf(b"\x00" * 8), LIES[r.pick(len(LIES))]
    data = blob(r, default) if how else default
    return (a.buf(data), len(data)) if data else (NULL, 0)


@dataclass
class Out:
    """An output buffer and its length word (honest capacity)."""

    buf: Any
    length: Any
    cap: int


def output(a: Arena, r: Reader, default: int = 4096) -> Out:
    """0: a big buffer; 1: NULL (length query); 2: too small; 3: NULL
    length pointer; 4: zero capacity."""
    how = r.pick(5)
    if how == 1:
        return Out(NULL, a.new("CK_ULONG *", 0), 0)
    if how == 2:
        cap = r.ConsumeIntInRange(0, 64)
    elif how == 4:
        cap = 0
    else:
        cap = default
    buf = a.new("unsigned char[]", max(1, cap))
    length = NULL if how == 3 else a.new("CK_ULONG *", cap)
    return Out(buf, length, cap)


# --- templates -------------------------------------------------------------

ATTR_TYPES = (
    CKA.CLASS, CKA.TOKEN, CKA.PRIVATE, CKA.LABEL, CKA.VALUE, CKA.KEY_TYPE,
    CKA.ID, CKA.SENSITIVE, CKA.ENCRYPT, CKA.DECRYPT, CKA.WRAP, CKA.UNWRAP,
    CKA.SIGN, CKA.VERIFY, CKA.DERIVE, CKA.EXTRACTABLE, CKA.VALUE_LEN,
    CKA.MODIFIABLE, CKA.COPYABLE, CKA.DESTROYABLE, CKA.EC_PARAMS,
    CKA.EC_POINT, CKA.MODULUS, CKA.MODULUS_BITS, CKA.PUBLIC_EXPONENT,
    CKA.PRIVATE_EXPONENT, CKA.START_DATE, CKA.END_DATE, CKA.LOCAL,
    CKA.ALWAYS_SENSITIVE, CKA.NEVER_EXTRACTABLE, CKA.WRAP_WITH_TRUSTED,
    CKA.TRUSTED, CKA.ALWAYS_AUTHENTICATE, CKA.WRAP_TEMPLATE,
    CKA.UNWRAP_TEMPLATE, CKA.DERIVE_TEMPLATE, CKA.ALLOWED_MECHANISMS,
    CKA.PARAMETER_SET, CKA.SEED, CKA.UNIQUE_ID, CKA.APPLICATION,
    CKA.OBJECT_ID, CKA.SUBJECT, CKA.CHECK_VALUE, CKA.KEY_GEN_MECHANISM,
    CKA.SIGN_RECOVER, CKA.VERIFY_RECOVER, CKA.PRIME_1, CKA.COEFFICIENT,
)
ARRAYS = (CKA.WRAP_TEMPLATE, CKA.UNWRAP_TEMPLATE, CKA.DERIVE_TEMPLATE)
BOOLS = {CKA.TOKEN, CKA.PRIVATE, CKA.SENSITIVE, CKA.ENCRYPT, CKA.DECRYPT,
         CKA.WRAP, CKA.UNWRAP, CKA.SIGN, CKA.VERIFY, CKA.DERIVE,
         CKA.EXTRACTABLE, CKA.MODIFIABLE, CKA.COPYABLE, CKA.DESTROYABLE,
         CKA.LOCAL, CKA.ALWAYS_SENSITIVE, CKA.NEVER_EXTRACTABLE,
         CKA.WRAP_WITH_TRUSTED, CKA.TRUSTED, CKA.ALWAYS_AUTHENTICATE,
         CKA.SIGN_RECOVER, CKA.VERIFY_RECOVER}
ULONGS = {CKA.CLASS, CKA.KEY_TYPE, CKA.VALUE_LEN, CKA.MODULUS_BITS,
          CKA.PARAMETER_SET, CKA.KEY_GEN_MECHANISM}

Pair = tuple[int, "bytes | list[Pair]"]


def attr_value(r: Reader, t: int, depth: int) -> bytes | list[Pair]:
    """A value for type t: well-formed for its kind, or not."""
    how = r.pick(5)
    if t in ARRAYS and how in (0, 1) and depth < 3:
        return pairs(r, depth + 1)
    if how == 1 or how == 0:
        if t in BOOLS:
            return bytes([r.pick(2)])
        if t in ULONGS:
            return ulong_bytes(number(r, r.ConsumeIntInRange(0, 64)))
        if t == CKA.ALLOWED_MECHANISMS:
            return b"".join(ulong_bytes(number(r, CKM.AES_ECB))
                            for _ in range(r.ConsumeIntInRange(0, 4)))
        if t in (CKA.START_DATE, CKA.END_DATE):
            return r.ConsumeBytes(8)
    if how == 2:
        return b""
    return r.ConsumeBytes(r.ConsumeIntInRange(0, 96 if how < 4 else 70000))


def pairs(r: Reader, depth: int = 0) -> list[Pair]:
    """Up to 6 random attributes (types from the table or any value)."""
    out: list[Pair] = []
    for _ in range(r.ConsumeIntInRange(0, 6)):
        if r.pick(6) == 5:
            t = number(r, 0x7FFF0001) | (r.pick(2) << 31)
        else:
            t = int(ATTR_TYPES[r.pick(len(ATTR_TYPES))])
        out.append((t, attr_value(r, t, depth)))
    return out


def c_template(a: Arena, r: Reader | None, items: list[Pair]) -> tuple[
        Any, int]:
    """CK_ATTRIBUTE[] of ``items``; with a reader, some entries get a
    NULL value, a lying length or a misaligned nested array."""
    arr = a.new("CK_ATTRIBUTE[]", max(1, len(items)))
    for i, (t, v) in enumerate(items):
        arr[i].type = t
        if isinstance(v, list):
            inner, n = c_template(a, r, v)
            arr[i].pValue = inner if n else NULL
            arr[i].ulValueLen = n * ATTR_SIZE
            if r is not None and n and r.pick(8) == 7:
                arr[i].ulValueLen = n * ATTR_SIZE - 1
            continue
        arr[i].pValue = a.buf(v) if v else NULL
        arr[i].ulValueLen = len(v)
        if r is not None:
            how = r.pick(16)
            if how == 14:
                arr[i].pValue, arr[i].ulValueLen = NULL, max(1, len(v))
            elif how == 15:
                arr[i].ulValueLen = LIES[r.pick(len(LIES))]
    return arr, len(items)


def template(a: Arena, r: Reader, default: list[Pair]) -> tuple[Any, int]:
    """0: the default; 1: default plus random attributes (duplicates
    included); 2: random; 3: NULL with a count; 4: oversized (256 or
    257 copies of one attribute); 5: empty."""
    how = r.pick(6)
    if how == 0:
        return c_template(a, None, default)
    if how == 1:
        return c_template(a, r, default + pairs(r))
    if how == 3:
        return NULL, r.ConsumeIntInRange(1, 300)
    if how == 4:
        one = default[:1] or [(int(CKA.LABEL), b"x")]
        return c_template(a, None, one * (256 + r.pick(2)))
    if how == 5:
        return NULL, 0
    return c_template(a, r, pairs(r))


# --- mechanisms ------------------------------------------------------------

# (pointer field, length field) of each parameter structure.
POINTERS: dict[str, tuple[tuple[str, str], ...]] = {
    "CK_RSA_PKCS_OAEP_PARAMS": (("pSourceData", "ulSourceDataLen"),),
    "CK_GCM_PARAMS": (("pIv", "ulIvLen"), ("pAAD", "ulAADLen")),
    "CK_CCM_PARAMS": (("pNonce", "ulNonceLen"), ("pAAD", "ulAADLen")),
    "CK_SALSA20_CHACHA20_POLY1305_PARAMS": (("pNonce", "ulNonceLen"),
                                            ("pAAD", "ulAADLen")),
    "CK_ECDH1_DERIVE_PARAMS": (("pSharedData", "ulSharedDataLen"),
                               ("pPublicData", "ulPublicDataLen")),
    "CK_EDDSA_PARAMS": (("pContextData", "ulContextDataLen"),),
    "CK_KEY_DERIVATION_STRING_DATA": (("pData", "ulLen"),),
    "CK_AES_CBC_ENCRYPT_DATA_PARAMS": (("pData", "length"),),
    "CK_HKDF_PARAMS": (("pSalt", "ulSaltLen"), ("pInfo", "ulInfoLen")),
    "CK_PKCS5_PBKD2_PARAMS2": (
        ("pSaltSourceData", "ulSaltSourceDataLen"),
        ("pPrfData", "ulPrfDataLen"), ("pPassword", "ulPasswordLen")),
    "CK_SIGN_ADDITIONAL_CONTEXT": (("pContext", "ulContextLen"),),
}


@dataclass
class ParamDefault:
    """A well-formed parameter: a struct's scalar fields and buffers, or
    plain bytes (``ctype`` None)."""

    ctype: str | None
    ints: dict[str, int] = field(default_factory=dict)
    bufs: dict[str, bytes] = field(default_factory=dict)
    raw: bytes = b""


def param_defaults(ec_point: bytes) -> dict[str, ParamDefault]:
    """Well-formed parameters by registry ParamKind name."""
    return {
        "NONE": ParamDefault(None),
        "BYTES": ParamDefault(None, raw=bytes(16)),
        "ULONG": ParamDefault(None, raw=ulong_bytes(16)),
        "OBJECT_HANDLE": ParamDefault(None, raw=ulong_bytes(0)),
        "RSA_PSS": ParamDefault("CK_RSA_PKCS_PSS_PARAMS", {
            "hashAlg": CKM.SHA256, "mgf": 2, "sLen": 32}),
        "RSA_OAEP": ParamDefault("CK_RSA_PKCS_OAEP_PARAMS", {
            "hashAlg": CKM.SHA256, "mgf": 2, "source": CKZ.DATA_SPECIFIED}),
        "AES_CTR": ParamDefault("CK_AES_CTR_PARAMS", {"ulCounterBits": 32}),
        "GCM": ParamDefault("CK_GCM_PARAMS", {"ulIvBits": 96,
                                               "ulTagBits": 128},
                            {"pIv": bytes(12), "pAAD": b"aad"}),
        "CCM": ParamDefault("CK_CCM_PARAMS", {"ulDataLen": 16,
                                               "ulMACLen": 16},
                            {"pNonce": bytes(12)}),
        "CHACHA20_POLY1305": ParamDefault(
            "CK_SALSA20_CHACHA20_POLY1305_PARAMS", {},
            {"pNonce": bytes(12)}),
        "ECDH1": ParamDefault("CK_ECDH1_DERIVE_PARAMS", {"kdf": CKD.NULL},
                              {"pPublicData": ec_point}),
        "EDDSA": ParamDefault(None),
        "SIGN_CONTEXT": ParamDefault(None),
        "KEY_DERIVATION_STRING": ParamDefault(
            "CK_KEY_DERIVATION_STRING_DATA", {}, {"pData": bytes(16)}),
        "AES_CBC_ENCRYPT_DATA": ParamDefault(
            "CK_AES_CBC_ENCRYPT_DATA_PARAMS", {}, {"pData": bytes(16)}),
        "HKDF": ParamDefault("CK_HKDF_PARAMS", {
            "bExtract": 1, "bExpand": 1, "prfHashMechanism": CKM.SHA256,
            "ulSaltType": 1}, {"pInfo": b"info"}),
        "PBKD2": ParamDefault("CK_PKCS5_PBKD2_PARAMS2", {
            "saltSource": CKZ.SALT_SPECIFIED, "iterations": 1000,
            "prf": 4}, {"pSaltSourceData": bytes(16),
                        "pPassword": b"password"}),
        "SP800_108": ParamDefault("CK_SP800_108_KDF_PARAMS",
                                  {"prfType": CKM.SHA256_HMAC}),
    }


def struct_param(a: Arena, r: Reader | None, d: ParamDefault) -> tuple[
        Any, int]:
    """A parameter structure from its default, each field perturbed by
    the reader when there is one."""
    assert d.ctype is not None
    s = a.new(d.ctype + " *")
    ctype = ffi.typeof(d.ctype)
    for name, f in ctype.fields:
        if f.type.kind == "primitive":
            v = d.ints.get(name, 0)
            setattr(s, name, number(r, v) % 2 ** (8 * ffi.sizeof(f.type))
                    if r is not None else v)
    for p_name, n_name in POINTERS.get(d.ctype, ()):
        default = d.bufs.get(p_name, b"")
        if r is None:
            p, n = (a.buf(default), len(default)) if default else (NULL, 0)
        else:
            p, n = pointer(a, r, default)
        setattr(s, p_name, p)
        setattr(s, n_name, n)
    if d.ctype == "CK_SP800_108_KDF_PARAMS":
        _prf_items(a, r, s)
    return s, ffi.sizeof(d.ctype)


def _prf_items(a: Arena, r: Reader | None, s: Any) -> None:
    """One CK_PRF_DATA_PARAM array for SP 800-108: an iteration counter
    by default, fuzzed kinds and counts otherwise (counts honest)."""
    n = 1 if r is None else r.ConsumeIntInRange(0, 4)
    items = a.new("CK_PRF_DATA_PARAM[]", max(1, n))
    fmt = a.new("CK_SP800_108_COUNTER_FORMAT *")
    fmt.bLittleEndian, fmt.ulWidthInBits = 0, 32
    for i in range(n):
        kind = 1 if r is None else number(r, 1) % 8
        items[i].type = kind
        if kind in (1, 2):
            items[i].pValue = fmt
            items[i].ulValueLen = ffi.sizeof(
                "CK_SP800_108_COUNTER_FORMAT")
        else:
            data = b"label" if r is None else r.ConsumeBytes(
                r.ConsumeIntInRange(0, 32))
            items[i].pValue = a.buf(data) if data else NULL
            items[i].ulValueLen = len(data)
    s.ulNumberOfDataParams = n
    s.pDataParams = items if n else NULL
    s.ulAdditionalDerivedKeys = 0
    s.pAdditionalDerivedKeys = NULL


def mechanism(a: Arena, r: Reader, mech: int, d: ParamDefault,
              handle: int) -> Any:
    """CK_MECHANISM: 0 the default parameter; 1 perturbed fields; 2
    random bytes of a length that is not the structure's; 3 NULL with a
    length; 4 a lying length; 5 another mechanism number."""
    m = a.new("CK_MECHANISM *")
    m.mechanism = mech
    how = r.pick(6)
    if how == 5:
        m.mechanism = number(r, mech)
        how = r.pick(3)
    if how == 3:
        m.pParameter, m.ulParameterLen = NULL, r.ConsumeIntInRange(1, 300)
        return m
    if how == 4:
        m.pParameter = a.buf(bytes(8))
        m.ulParameterLen = LIES[r.pick(len(LIES))]
        return m
    if how == 2:
        size = ffi.sizeof(d.ctype) if d.ctype else -1
        data = r.ConsumeBytes(r.ConsumeIntInRange(0, 200))
        if len(data) == size:
            data += b"\x00"
        m.pParameter = a.buf(data) if data else NULL
        m.ulParameterLen = len(data)
        return m
    fuzz = r if how == 1 else None
    if d.ctype is not None:
        m.pParameter, m.ulParameterLen = struct_param(a, fuzz, d)
        return m
    raw = d.raw
    if d.raw == ulong_bytes(0) and not fuzz:
        raw = ulong_bytes(handle)
    elif fuzz is not None:
        raw = blob(fuzz, raw)
    m.pParameter = a.buf(raw) if raw else NULL
    m.ulParameterLen = len(raw)
    return m
