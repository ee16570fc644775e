"""Known-answer tests of the asymmetric families (FIPS 140-3 IG 10.3.A):
RSA PKCS#1 v1.5 signature with a fixed key (deterministic: the exact
signature is compared), RSA-PSS and ECDSA as verify KATs plus a
sign/verify round trip (their signatures are randomised), RSA-OAEP as a
decrypt KAT plus a round trip, Ed25519 (deterministic, RFC 8032), ECDH
P-256 with fixed keys (SP 800-56A primitive, CAVP KAS) and X25519 (RFC
7748)."""

from __future__ import annotations

from typing import Any

from craton_hsm._generated_ck import CKA, CKG, CKK, CKM, CKZ
from craton_hsm.mechanisms import rsa_keys
from craton_hsm.mechanisms.ec_curves import (
    ED25519,
    P256,
    X25519,
    params_der,
    wrap_point,
)
from craton_hsm.mechanisms.params import (
    RsaOaepParams,
    RsaPssParams,
)
from craton_hsm.mechanisms.registry import Op
from craton_hsm.selftest.common import (
    KatKey,
    agree,
    check,
    equal,
    hexes,
    known_input,
    op,
    vectors,
)

Vec = dict[str, Any]
# A fixed message for the round trips (any message will do).
MESSAGE = b"Craton HSM power-on self-test"


def _rsa(v: Vec, private: bool) -> KatKey:
    attrs: dict[int, Any] = {CKA.KEY_TYPE: CKK.RSA,
                             CKA.MODULUS: bytes.fromhex(v["n"]),
                             CKA.PUBLIC_EXPONENT: bytes.fromhex(v["e"])}
    if private:
        attrs[CKA.PRIVATE_EXPONENT] = bytes.fromhex(v["d"])
        attrs[CKA.PRIME_1] = bytes.fromhex(v["p"])
        attrs[CKA.PRIME_2] = bytes.fromhex(v["q"])
        key = KatKey(attrs)
        # A constant key: parsed without OpenSSL's 50 ms key check.
        rsa_keys.private_key(key, validate=False)
        return key
    return KatKey(attrs)


def _round_trip(mech: int, priv: KatKey, pub: KatKey,
                params: object = None) -> None:
    """Sign then verify (raises SignatureInvalid on a mismatch)."""
    sig = op(mech, Op.SIGN, priv, params).sign(MESSAGE)
    op(mech, Op.VERIFY, pub, params).verify(MESSAGE, sig)


def rsa_pkcs1(name: str, v: Vec) -> None:
    msg, sig = hexes(v, "msg", "sig")
    got = op(CKM.SHA256_RSA_PKCS, Op.SIGN, _rsa(v, True)).sign(msg)
    check(name, got, sig, "RSA PKCS#1 v1.5 signature")
    op(CKM.SHA256_RSA_PKCS, Op.VERIFY, _rsa(v, False)).verify(msg, got)


PSS = RsaPssParams(CKM.SHA256, CKG.MGF1_SHA256, 32)


def rsa_pss(name: str, v: Vec) -> None:
    msg, sig = hexes(v, "msg", "sig")
    op(CKM.SHA256_RSA_PKCS_PSS, Op.VERIFY, _rsa(v, False), PSS).verify(
        msg, known_input(name, sig))
    # The round trip needs a private key: the OAEP vector's fixed key.
    key = vectors("kat.json")["kat-rsa-oaep"]
    _round_trip(CKM.SHA256_RSA_PKCS_PSS, _rsa(key, True), _rsa(key, False),
                PSS)


OAEP = RsaOaepParams(CKM.SHA256, CKG.MGF1_SHA256, CKZ.DATA_SPECIFIED, b"")


def rsa_oaep(name: str, v: Vec) -> None:
    msg, ct = hexes(v, "msg", "ct")
    priv = _rsa(v, True)
    got = op(CKM.RSA_PKCS_OAEP, Op.DECRYPT, priv, OAEP).one_shot(
        known_input(name, ct))
    equal(got, msg, "OAEP plaintext")
    sealed = op(CKM.RSA_PKCS_OAEP, Op.ENCRYPT, _rsa(v, False),
                OAEP).one_shot(MESSAGE)
    equal(op(CKM.RSA_PKCS_OAEP, Op.DECRYPT, priv, OAEP).one_shot(sealed),
          MESSAGE, "OAEP round trip")


def _ec(curve_params: bytes, key_type: int, **attrs: bytes) -> KatKey:
    found: dict[int, Any] = {CKA.KEY_TYPE: key_type,
                             CKA.EC_PARAMS: curve_params}
    if "value" in attrs:
        found[CKA.VALUE] = attrs["value"]
    if "point" in attrs:
        found[CKA.EC_POINT] = wrap_point(attrs["point"])
    return KatKey(found)


def ecdsa_p256(name: str, v: Vec) -> None:
    point, msg, sig = hexes(v, "point", "msg", "sig")
    p256 = params_der(P256)
    op(CKM.ECDSA_SHA256, Op.VERIFY, _ec(p256, CKK.EC, point=point)).verify(
        msg, known_input(name, sig))
    # The round trip uses the fixed key pair of the ECDH vector.
    kas = vectors("kat.json")["kat-ecdh-p256"]
    d, qx, qy = hexes(kas, "d", "qx", "qy")
    _round_trip(CKM.ECDSA_SHA256, _ec(p256, CKK.EC, value=d),
                _ec(p256, CKK.EC, point=b"\x04" + qx + qy))


def ed25519(name: str, v: Vec) -> None:
    seed, pub, msg, sig = hexes(v, "seed", "pub", "msg", "sig")
    ed = params_der(ED25519)
    got = op(CKM.EDDSA, Op.SIGN, _ec(ed, CKK.EC_EDWARDS, value=seed)).sign(
        msg)
    check(name, got, sig, "Ed25519 signature")
    op(CKM.EDDSA, Op.VERIFY, _ec(ed, CKK.EC_EDWARDS, point=pub)).verify(
        msg, got)


def ecdh_p256(name: str, v: Vec) -> None:
    d, x, y, z = hexes(v, "d", "peer_x", "peer_y", "z")
    key = _ec(params_der(P256), CKK.EC, value=d)
    check(name, agree(key, b"\x04" + x + y, len(z)), z, "shared secret Z")


def x25519(name: str, v: Vec) -> None:
    scalar, u, out = hexes(v, "scalar", "u", "out")
    key = _ec(params_der(X25519), CKK.EC_MONTGOMERY, value=scalar)
    check(name, agree(key, u, len(out)), out, "X25519 output")
