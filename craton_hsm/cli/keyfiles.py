"""Key and certificate files <-> PKCS#11 attribute templates.

The CLI is an application, like pkcs11-tool with OpenSSL: reading PEM
and DER files and building SubjectPublicKeyInfo from CKA_MODULUS or
CKA_EC_POINT is the client's job, so this module uses ``cryptography``
directly (the HSM's own crypto stays in craton_hsm.backend, which the
CLI may not import).  Every ``cryptography`` use of the CLI is here.

CKA_ID convention (docs/cli.md "CKA_ID"): the SHA-1 of the
subjectPublicKey BIT STRING contents, which is RFC 5280 4.2.1.2 method
(1) for the Subject Key Identifier -- what OpenSSL and cryptography
put in a certificate's SKI by default -- so a key pair and its
certificate share one CKA_ID without the operator giving one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import PyKCS11
from asn1crypto import core  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from craton_hsm.cli._common import Failure

PublicKey = (rsa.RSAPublicKey | ec.EllipticCurvePublicKey
             | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
PrivateKey = (rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
              | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
Template = list[tuple[int, Any]]

# CLI curve name -> (OID, cryptography curve; None for Edwards).
# OIDs: SEC 2 2.4/2.5, RFC 5639 4.1, RFC 8410 3.
WEIERSTRASS: dict[str, tuple[str, ec.EllipticCurve]] = {
    "p256": ("1.2.840.10045.3.1.7", ec.SECP256R1()),
    "p384": ("1.3.132.0.34", ec.SECP384R1()),
    "p521": ("1.3.132.0.35", ec.SECP521R1()),
    "secp256k1": ("1.3.132.0.10", ec.SECP256K1()),
    "brainpoolP256r1": ("1.3.36.3.3.2.8.1.1.7", ec.BrainpoolP256R1()),
    "brainpoolP384r1": ("1.3.36.3.3.2.8.1.1.11", ec.BrainpoolP384R1()),
    "brainpoolP512r1": ("1.3.36.3.3.2.8.1.1.13", ec.BrainpoolP512R1()),
}
EDWARDS = {"ed25519": "1.3.101.112", "ed448": "1.3.101.113"}


def oid_der(dotted: str) -> bytes:
    return bytes(core.ObjectIdentifier(dotted).dump())


def _curve_by_oid(params: bytes) -> tuple[str, ec.EllipticCurve | None]:
    try:
        dotted = core.ObjectIdentifier.load(params).dotted
    except (ValueError, TypeError):
        dotted = ""
    for name, (oid, curve) in WEIERSTRASS.items():
        if oid == dotted:
            return name, curve
    for name, oid in EDWARDS.items():
        if oid == dotted:
            return name, None
    raise Failure(f"CKA_EC_PARAMS {params.hex()} names no curve this CLI "
                  "knows; export it with pkcs11-tool --read-object")


def _curve_oid(curve: ec.EllipticCurve) -> str:
    for oid, known in WEIERSTRASS.values():
        if known.name == curve.name:
            return oid
    raise Failure(f"curve {curve.name} is not supported by the module; "
                  f"use one of {', '.join(WEIERSTRASS)}")


def _point(value: bytes) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING (v3.0 2.3.3); accept raw too."""
    try:
        inner = core.OctetString.load(value, strict=True).native
    except (ValueError, TypeError):
        return value
    return inner if isinstance(inner, bytes) else value


def _octets(point: bytes) -> bytes:
    return bytes(core.OctetString(point).dump())


def _int(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8 or 1, "big")


# -- public keys ------------------------------------------------------------

def public_from_attrs(key_type: int, attrs: dict[int, Any]) -> PublicKey:
    """The public key of a CKO_PUBLIC_KEY object's attributes."""
    if key_type == PyKCS11.CKK_RSA:
        n = int.from_bytes(bytes(attrs[PyKCS11.CKA_MODULUS]), "big")
        e = int.from_bytes(bytes(attrs[PyKCS11.CKA_PUBLIC_EXPONENT]), "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if key_type in (PyKCS11.CKK_EC, PyKCS11.CKK_EC_EDWARDS):
        name, curve = _curve_by_oid(bytes(attrs[PyKCS11.CKA_EC_PARAMS]))
        point = _point(bytes(attrs[PyKCS11.CKA_EC_POINT]))
        if curve is not None:
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
        if name == "ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(point)
        return ed448.Ed448PublicKey.from_public_bytes(point)
    raise Failure(f"key type 0x{key_type:x} has no public-key export; "
                  "RSA, EC and EdDSA keys do")


def attrs_needed(key_type: int) -> list[int]:
    if key_type == PyKCS11.CKK_RSA:
        return [PyKCS11.CKA_MODULUS, PyKCS11.CKA_PUBLIC_EXPONENT]
    return [PyKCS11.CKA_EC_PARAMS, PyKCS11.CKA_EC_POINT]


def key_id(public: PublicKey) -> bytes:
    """RFC 5280 4.2.1.2 (1): SHA-1 of the subjectPublicKey bits."""
    return bytes(x509.SubjectKeyIdentifier.from_public_key(public).digest)


def public_template(public: PublicKey) -> Template:
    """CKO_PUBLIC_KEY attributes (without label/ID/token flags)."""
    if isinstance(public, rsa.RSAPublicKey):
        nums = public.public_numbers()
        return [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA),
                (PyKCS11.CKA_MODULUS, _int(nums.n)),
                (PyKCS11.CKA_PUBLIC_EXPONENT, _int(nums.e)),
                (PyKCS11.CKA_VERIFY, True), (PyKCS11.CKA_ENCRYPT, True)]
    if isinstance(public, ec.EllipticCurvePublicKey):
        point = public.public_bytes(serialization.Encoding.X962,
                                    serialization.PublicFormat.UncompressedPoint)
        return [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
                (PyKCS11.CKA_EC_PARAMS, oid_der(_curve_oid(public.curve))),
                (PyKCS11.CKA_EC_POINT, _octets(point)),
                (PyKCS11.CKA_VERIFY, True)]
    raw = public.public_bytes(serialization.Encoding.Raw,
                              serialization.PublicFormat.Raw)
    name = "ed25519" if isinstance(public, ed25519.Ed25519PublicKey) \
        else "ed448"
    return [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC_EDWARDS),
            (PyKCS11.CKA_EC_PARAMS, oid_der(EDWARDS[name])),
            (PyKCS11.CKA_EC_POINT, _octets(raw)),
            (PyKCS11.CKA_VERIFY, True)]


def private_template(private: PrivateKey) -> Template:
    """CKO_PRIVATE_KEY attributes (without label/ID/token flags)."""
    if isinstance(private, rsa.RSAPrivateKey):
        p = private.private_numbers()
        return [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA),
                (PyKCS11.CKA_MODULUS, _int(p.public_numbers.n)),
                (PyKCS11.CKA_PUBLIC_EXPONENT, _int(p.public_numbers.e)),
                (PyKCS11.CKA_PRIVATE_EXPONENT, _int(p.d)),
                (PyKCS11.CKA_PRIME_1, _int(p.p)),
                (PyKCS11.CKA_PRIME_2, _int(p.q)),
                (PyKCS11.CKA_EXPONENT_1, _int(p.dmp1)),
                (PyKCS11.CKA_EXPONENT_2, _int(p.dmq1)),
                (PyKCS11.CKA_COEFFICIENT, _int(p.iqmp)),
                (PyKCS11.CKA_SIGN, True), (PyKCS11.CKA_DECRYPT, True)]
    if isinstance(private, ec.EllipticCurvePrivateKey):
        size = (private.curve.key_size + 7) // 8
        scalar = private.private_numbers().private_value.to_bytes(size,
                                                                  "big")
        return [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
                (PyKCS11.CKA_EC_PARAMS, oid_der(_curve_oid(private.curve))),
                (PyKCS11.CKA_VALUE, scalar),
                (PyKCS11.CKA_SIGN, True), (PyKCS11.CKA_DERIVE, True)]
    raw = private.private_bytes(serialization.Encoding.Raw,
                                serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    name = "ed25519" if isinstance(private, ed25519.Ed25519PrivateKey) \
        else "ed448"
    return [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC_EDWARDS),
            (PyKCS11.CKA_EC_PARAMS, oid_der(EDWARDS[name])),
            (PyKCS11.CKA_VALUE, raw), (PyKCS11.CKA_SIGN, True)]


def certificate_template(cert: x509.Certificate) -> Template:
    """CKO_CERTIFICATE / CKC_X_509 attributes (v3.0 4.6.3)."""
    return [(PyKCS11.CKA_CERTIFICATE_TYPE, PyKCS11.CKC_X_509),
            (PyKCS11.CKA_VALUE, cert.public_bytes(serialization.Encoding.DER)),
            (PyKCS11.CKA_SUBJECT, cert.subject.public_bytes()),
            (PyKCS11.CKA_ISSUER, cert.issuer.public_bytes()),
            (PyKCS11.CKA_SERIAL_NUMBER,
             bytes(core.Integer(cert.serial_number).dump()))]


# -- files ------------------------------------------------------------------

@dataclass
class Item:
    """One thing read from a file: exactly one of the three is set."""
    private: PrivateKey | None = None
    public: PublicKey | None = None
    certificate: x509.Certificate | None = None

    @property
    def kind(self) -> str:
        return ("private-key" if self.private else
                "certificate" if self.certificate else "public-key")

    def public_key(self) -> PublicKey:
        key: PublicKey
        if self.private is not None:
            key = _supported(self.private.public_key())
        elif self.certificate is not None:
            key = _supported(self.certificate.public_key())
        else:
            assert self.public is not None
            key = self.public
        return key


def _supported(key: Any) -> Any:
    if not isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey,
                            ec.EllipticCurvePublicKey,
                            ec.EllipticCurvePrivateKey,
                            ed25519.Ed25519PublicKey,
                            ed25519.Ed25519PrivateKey,
                            ed448.Ed448PublicKey, ed448.Ed448PrivateKey)):
        raise Failure(f"{type(key).__name__}: only RSA, EC and EdDSA keys "
                      "can be imported")
    return key


_PEM_LOADERS = {
    b"CERTIFICATE": "certificate", b"PUBLIC KEY": "public",
    b"RSA PUBLIC KEY": "public",
    b"PRIVATE KEY": "private", b"RSA PRIVATE KEY": "private",
    b"EC PRIVATE KEY": "private",
}


def _load(kind: str, data: bytes, pem: bool) -> Item:
    if kind == "certificate":
        return Item(certificate=(x509.load_pem_x509_certificate(data) if pem
                                 else x509.load_der_x509_certificate(data)))
    if kind == "public":
        return Item(public=_supported(
            serialization.load_pem_public_key(data) if pem
            else serialization.load_der_public_key(data)))
    return Item(private=_supported(
        serialization.load_pem_private_key(data, None) if pem
        else serialization.load_der_private_key(data, None)))


def read_items(name: str, data: bytes) -> list[Item]:
    """Every key and certificate in a PEM file (any number of blocks)
    or the one object of a DER file."""
    try:
        if b"-----BEGIN " in data:
            return _pem_items(name, data)
        for kind in ("certificate", "private", "public"):
            try:
                return [_load(kind, data, pem=False)]
            except ValueError:
                continue
    except TypeError:  # encrypted key and no password
        raise Failure(f"{name}: the private key is encrypted; decrypt it "
                      f"first (openssl pkey -in {name} -out plain.pem)") \
            from None
    except UnsupportedAlgorithm as e:
        raise Failure(f"{name}: {e}") from None
    raise Failure(f"{name}: not a PEM or DER private key (PKCS#8, RSA or "
                  "EC), public key or X.509 certificate")


def _pem_items(name: str, data: bytes) -> list[Item]:
    items: list[Item] = []
    for block in data.split(b"-----BEGIN ")[1:]:
        label = block.split(b"-----", 1)[0]
        if label == b"ENCRYPTED PRIVATE KEY":
            raise TypeError(label)
        kind = _PEM_LOADERS.get(label)
        if kind is None:
            continue  # e.g. EC PARAMETERS before an EC PRIVATE KEY
        end = block.index(b"-----END ")
        end = block.index(b"-----", end + 9) + 5
        try:
            items.append(_load(kind, b"-----BEGIN " + block[:end], pem=True))
        except ValueError as e:
            raise Failure(f"{name}: the {label.decode()} block cannot be "
                          f"read ({e})") from None
    if not items:
        raise Failure(f"{name}: no PEM block holds a key or certificate")
    return items


def encode_public(public: PublicKey, pem: bool) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM if pem else serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)


def encode_certificate(der: bytes, pem: bool) -> bytes:
    if not pem:
        return der
    return x509.load_der_x509_certificate(der).public_bytes(
        serialization.Encoding.PEM)
