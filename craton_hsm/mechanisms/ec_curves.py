"""Named curves and the DER forms of CKA_EC_PARAMS and CKA_EC_POINT
(PKCS#11 v3.0 sections 2.3.3-2.3.8, 2.3.10; X9.62 / RFC 5480, RFC 5639,
RFC 8410).

CKA_EC_PARAMS is accepted as the DER OID of a named curve or, as v3.0
allows, the DER PrintableString curve name (OpenSC sends
"edwards25519").  Anything else is CKR_CURVE_NOT_SUPPORTED: there is no
default curve.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from craton_hsm._generated_ck import CKA
from craton_hsm.errors import CurveNotSupported, TemplateIncomplete


class Family(enum.Enum):
    """Which key type a curve belongs to (CKK_EC, CKK_EC_EDWARDS,
    CKK_EC_MONTGOMERY)."""

    WEIERSTRASS = "weierstrass"
    EDWARDS = "edwards"
    MONTGOMERY = "montgomery"


@dataclass(frozen=True)
class Curve:
    name: str          # backend name
    bits: int          # field size, the CK_MECHANISM_INFO unit
    size: int          # bytes of one coordinate / scalar / raw key
    family: Family = Family.WEIERSTRASS

    @property
    def edwards(self) -> bool:
        return self.family is Family.EDWARDS

    def point_lengths(self) -> frozenset[int]:
        if self.family is not Family.WEIERSTRASS:
            return frozenset({self.size})
        return frozenset({1 + 2 * self.size, 1 + self.size})


P224 = Curve("secp224r1", 224, 28)
P256 = Curve("secp256r1", 256, 32)
P384 = Curve("secp384r1", 384, 48)
P521 = Curve("secp521r1", 521, 66)
K256 = Curve("secp256k1", 256, 32)
BP256 = Curve("brainpoolP256r1", 256, 32)
BP384 = Curve("brainpoolP384r1", 384, 48)
BP512 = Curve("brainpoolP512r1", 512, 64)
ED25519 = Curve("ed25519", 255, 32, Family.EDWARDS)
ED448 = Curve("ed448", 448, 57, Family.EDWARDS)
X25519 = Curve("x25519", 255, 32, Family.MONTGOMERY)
X448 = Curve("x448", 448, 56, Family.MONTGOMERY)

_NAMES: tuple[tuple[Curve, str, tuple[str, ...]], ...] = (
    (P224, "1.3.132.0.33", ("secp224r1", "P-224")),
    (P256, "1.2.840.10045.3.1.7", ("prime256v1", "secp256r1", "P-256")),
    (P384, "1.3.132.0.34", ("secp384r1", "P-384")),
    (P521, "1.3.132.0.35", ("secp521r1", "P-521")),
    (K256, "1.3.132.0.10", ("secp256k1",)),
    # RFC 5639 section 4.1.
    (BP256, "1.3.36.3.3.2.8.1.1.7", ("brainpoolP256r1",)),
    (BP384, "1.3.36.3.3.2.8.1.1.11", ("brainpoolP384r1",)),
    (BP512, "1.3.36.3.3.2.8.1.1.13", ("brainpoolP512r1",)),
    (ED25519, "1.3.101.112", ("edwards25519", "Ed25519")),
    (ED448, "1.3.101.113", ("edwards448", "Ed448")),
    # RFC 8410 section 3; v3.0 section 2.3.7 names "curve25519"/"curve448".
    (X25519, "1.3.101.110", ("curve25519", "X25519")),
    (X448, "1.3.101.111", ("curve448", "X448")),
)


# DER written here (X.690), not with asn1crypto: these three encodings
# are all the module needs, and importing asn1crypto at C_Initialize
# pulled in socket, ipaddress, urllib and unicodedata besides (issue 9,
# RSS).  tests/mechanisms/test_ec.py checks them against it.
_OID = 0x06
_PRINTABLE_STRING = 0x13
_OCTET_STRING = 0x04


def _der(tag: int, content: bytes) -> bytes:
    """Tag, definite minimal length (X.690 8.1.3), content."""
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + content


def _der_oid(dotted: str) -> bytes:
    """X.690 8.19: the first two arcs as 40 * a + b, every arc in base
    128, high bit set on all but its last byte."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in (40 * arcs[0] + arcs[1], *arcs[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return _der(_OID, bytes(out))


def _encodings() -> dict[bytes, Curve]:
    table: dict[bytes, Curve] = {}
    for curve, oid, names in _NAMES:
        table[_der_oid(oid)] = curve
        for name in names:
            table[_der(_PRINTABLE_STRING, name.encode("ascii"))] = curve
    return table


_BY_ENCODING = _encodings()


def curve_of(ec_params: object, family: Family) -> Curve:
    """The curve named by CKA_EC_PARAMS; exact DER match only, and only
    a curve of the key type's family."""
    curve = None
    if isinstance(ec_params, (bytes, bytearray)):
        curve = _BY_ENCODING.get(bytes(ec_params))
    if curve is None or curve.family is not family:
        raise CurveNotSupported("unsupported CKA_EC_PARAMS")
    return curve


def wrap_point(point: bytes) -> bytes:
    """CKA_EC_POINT is the DER OCTET STRING of the point (X9.62); the
    Edwards and Montgomery public keys are wrapped the same way.  The
    header is written here (X.690 8.1.3, definite minimal length): a
    point is at most 133 bytes, and asn1crypto's object round trip cost
    every key-pair generation ~5 us (issue 9)."""
    return _der(_OCTET_STRING, bytes(point))


def _octets(value: bytes) -> bytes | None:
    """The content of a DER OCTET STRING of at most 255 bytes that is
    exactly ``value``, else None."""
    if len(value) < 2 or value[0] != _OCTET_STRING:
        return None
    n, start = value[1], 2
    if n == 0x81:
        if len(value) < 3 or value[2] < 0x80:   # short form was due
            return None
        n, start = value[2], 3
    elif n & 0x80:
        return None
    if len(value) != start + n:
        return None
    return bytes(value[start:])


def unwrap_point(curve: Curve, value: bytes) -> bytes:
    """The raw point from CKA_EC_POINT.  The spec says DER, but some
    clients store the raw point; the lengths tell the two apart."""
    inner = _octets(value)
    if inner is not None and len(inner) in curve.point_lengths():
        return inner
    return value


def by_name(name: str) -> Curve:
    """The curve with this backend name (a key read from PKCS#8);
    CKR_CURVE_NOT_SUPPORTED for any other."""
    for curve, _, _ in _NAMES:
        if curve.name == name:
            return curve
    raise CurveNotSupported(f"curve {name} not supported")


def params_der(curve: Curve) -> bytes:
    """CKA_EC_PARAMS for a key the token builds itself: the DER OID."""
    for c, oid, _ in _NAMES:
        if c is curve:
            return _der_oid(oid)
    raise CurveNotSupported(f"curve {curve.name} not supported")


def curve_from_template(template: Mapping[int, Any],
                        family: Family) -> tuple[Curve, bytes]:
    """The curve a key-pair template names in CKA_EC_PARAMS (sections
    2.3.10-12: the public template carries it), and its encoding."""
    params = template.get(CKA.EC_PARAMS)
    if params is None:
        raise TemplateIncomplete("CKA_EC_PARAMS missing")
    return curve_of(params, family), bytes(params)
