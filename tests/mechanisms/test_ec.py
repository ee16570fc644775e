"""ECDSA and EdDSA mechanisms: key generation, r||s signatures checked
with pyca/cryptography, Wycheproof P1363 and Ed25519 vectors, curve and
parameter errors."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from asn1crypto import core
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    encode_dss_signature,
)

from craton_hsm._generated_ck import CKA, CKD, CKK, CKM
from craton_hsm.errors import (
    CurveNotSupported,
    KeyTypeInconsistent,
    MechanismParamInvalid,
    SignatureInvalid,
    SignatureLenRange,
    TemplateIncomplete,
)
from craton_hsm.mechanisms import ec_curves
from craton_hsm.mechanisms.params import EddsaParams
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.mechanisms.conftest import FakeKey
from tests.mechanisms.coverage import vectors
from tests.mechanisms.vectors import SHARED

VECTORS = SHARED
OIDS = {"secp256r1": "1.2.840.10045.3.1.7", "secp384r1": "1.3.132.0.34",
        "secp521r1": "1.3.132.0.35", "secp256k1": "1.3.132.0.10"}
CURVES = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1(),
          "secp521r1": ec.SECP521R1(), "secp256k1": ec.SECP256K1()}
ED25519_OID = core.ObjectIdentifier("1.3.101.112").dump()
ED25519_NAME = core.PrintableString("edwards25519").dump()


def oid(name: str) -> bytes:
    return bytes(core.ObjectIdentifier(OIDS[name]).dump())


def keypair(mech: int, params: bytes, kt: int) -> tuple[FakeKey, FakeKey]:
    gen = REGISTRY[mech].factory(Op.GENERATE_KEY_PAIR)(None, None)
    pub, priv = gen.generate({CKA.EC_PARAMS: params}, {})
    return (FakeKey({CKA.KEY_TYPE: kt, **pub}),
            FakeKey({CKA.KEY_TYPE: kt, **priv}))


def run(mech: int, op: Op, key: FakeKey, params: Any = None) -> Any:
    return REGISTRY[mech].factory(op)(key, params)


@vectors(CKM.ECDSA_KEY_PAIR_GEN,
         source="generated keys checked with cryptography")
@pytest.mark.parametrize("curve", sorted(OIDS))
def test_ecdsa_sign_interop(curve: str) -> None:
    pub, priv = keypair(CKM.EC_KEY_PAIR_GEN, oid(curve), CKK.EC)
    size = (CURVES[curve].key_size + 7) // 8
    assert len(priv.attrs[CKA.VALUE]) == size
    point = core.OctetString.load(pub.attrs[CKA.EC_POINT]).native
    assert len(point) == 1 + 2 * size and point[0] == 4
    ref = ec.EllipticCurvePublicKey.from_encoded_point(CURVES[curve], point)
    signer = run(CKM.ECDSA_SHA256, Op.SIGN, priv)
    signer.update(b"hello ")
    sig = signer.sign(b"world")
    assert len(sig) == signer.size == 2 * size
    der = encode_dss_signature(int.from_bytes(sig[:size], "big"),
                               int.from_bytes(sig[size:], "big"))
    ref.verify(der, b"hello world", ec.ECDSA(hashes.SHA256()))
    run(CKM.ECDSA_SHA256, Op.VERIFY, pub).verify(b"hello world", sig)
    # Raw CKM_ECDSA over a caller's hash, verified both ways.
    digest = hashlib.sha384(b"m").digest()
    sig = run(CKM.ECDSA, Op.SIGN, priv).sign(digest)
    run(CKM.ECDSA_SHA384, Op.VERIFY, pub).verify(b"m", sig)
    # A long hash is truncated to the order's bit length (FIPS 186-5
    # section 6.4.1), so flip a leading byte.
    with pytest.raises(SignatureInvalid):
        run(CKM.ECDSA, Op.VERIFY, pub).verify(b"\0" + digest[1:], sig)
    with pytest.raises(SignatureLenRange):
        run(CKM.ECDSA, Op.VERIFY, pub).verify(digest, sig + b"\0")


def test_raw_point_accepted() -> None:
    pub, priv = keypair(CKM.EC_KEY_PAIR_GEN, oid("secp256r1"), CKK.EC)
    raw = core.OctetString.load(pub.attrs[CKA.EC_POINT]).native
    bare = FakeKey({**pub.attrs, CKA.EC_POINT: raw})
    sig = run(CKM.ECDSA_SHA256, Op.SIGN, priv).sign(b"x")
    run(CKM.ECDSA_SHA256, Op.VERIFY, bare).verify(b"x", sig)


@pytest.mark.parametrize("params", [
    b"", core.ObjectIdentifier("1.2.840.10045.3.1.1").dump(), ED25519_OID,
    b"\x06\x08garbage!",
])
def test_unknown_curve(params: bytes) -> None:
    gen = REGISTRY[CKM.EC_KEY_PAIR_GEN].factory(Op.GENERATE_KEY_PAIR)(
        None, None)
    with pytest.raises(CurveNotSupported):
        gen.generate({CKA.EC_PARAMS: params}, {})
    with pytest.raises(TemplateIncomplete):
        gen.generate({}, {})


def test_ec_key_type() -> None:
    with pytest.raises(KeyTypeInconsistent):
        run(CKM.ECDSA, Op.SIGN, FakeKey({CKA.KEY_TYPE: CKK.RSA}))


def _wycheproof(name: str) -> list[Any]:
    path = VECTORS / "wycheproof" / name
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    return [pytest.param(g["publicKey"], t, id=f"tc{t['tcId']}")
            for g in doc["testGroups"] for t in g["tests"]
            if t["result"] != "acceptable"]


@pytest.mark.parametrize("mech,name", [
    (CKM.ECDSA_SHA256, "ecdsa_secp256r1_sha256_p1363_test.json"),
    (CKM.ECDSA_SHA512, "ecdsa_secp521r1_sha512_p1363_test.json"),
    (CKM.ECDSA_SHA256, "ecdsa_secp256k1_sha256_p1363_test.json"),
])
@vectors(CKM.ECDSA_SHA256, CKM.ECDSA_SHA512,
         source="Wycheproof ecdsa_*_p1363_test.json")
def test_wycheproof_ecdsa(mech: int, name: str) -> None:
    cases = _wycheproof(name)
    assert cases
    for case in cases:
        pk, t = case.values
        pub = FakeKey({CKA.KEY_TYPE: CKK.EC,
                       CKA.EC_PARAMS: oid(pk["curve"]),
                       CKA.EC_POINT: bytes.fromhex(pk["uncompressed"])})
        msg, sig = bytes.fromhex(t["msg"]), bytes.fromhex(t["sig"])
        if t["result"] == "valid":
            run(mech, Op.VERIFY, pub).verify(msg, sig)
        else:
            with pytest.raises((SignatureInvalid, SignatureLenRange)):
                run(mech, Op.VERIFY, pub).verify(msg, sig)


@vectors(CKM.EC_EDWARDS_KEY_PAIR_GEN,
         source="generated keys checked with cryptography")
@pytest.mark.parametrize("params", [ED25519_OID, ED25519_NAME])
def test_ed25519_round_trip(params: bytes) -> None:
    pub, priv = keypair(CKM.EC_EDWARDS_KEY_PAIR_GEN, params, CKK.EC_EDWARDS)
    assert len(priv.attrs[CKA.VALUE]) == 32
    raw = core.OctetString.load(pub.attrs[CKA.EC_POINT]).native
    sig = run(CKM.EDDSA, Op.SIGN, priv).sign(b"msg")
    assert len(sig) == 64
    ed25519.Ed25519PublicKey.from_public_bytes(raw).verify(sig, b"msg")
    run(CKM.EDDSA, Op.VERIFY, pub).verify(b"msg", sig)
    run(CKM.EDDSA, Op.VERIFY, pub, EddsaParams(False, b"")).verify(
        b"msg", sig)
    with pytest.raises(SignatureInvalid):
        run(CKM.EDDSA, Op.VERIFY, pub).verify(b"msh", sig)
    with pytest.raises(SignatureLenRange):
        run(CKM.EDDSA, Op.VERIFY, pub).verify(b"msg", sig[:-1])


def test_ed448_round_trip() -> None:
    params = core.ObjectIdentifier("1.3.101.113").dump()
    pub, priv = keypair(CKM.EC_EDWARDS_KEY_PAIR_GEN, params, CKK.EC_EDWARDS)
    sig = run(CKM.EDDSA, Op.SIGN, priv).sign(b"msg")
    assert len(sig) == 114
    run(CKM.EDDSA, Op.VERIFY, pub).verify(b"msg", sig)


@pytest.mark.parametrize("params", [
    EddsaParams(True, b""), EddsaParams(False, b"ctx"), b"junk"])
def test_eddsa_unsupported_params(params: Any) -> None:
    _, priv = keypair(CKM.EC_EDWARDS_KEY_PAIR_GEN, ED25519_OID,
                      CKK.EC_EDWARDS)
    with pytest.raises(MechanismParamInvalid):
        run(CKM.EDDSA, Op.SIGN, priv, params)


def test_edwards_rejects_weierstrass_curve() -> None:
    gen = REGISTRY[CKM.EC_EDWARDS_KEY_PAIR_GEN].factory(
        Op.GENERATE_KEY_PAIR)(None, None)
    with pytest.raises(CurveNotSupported):
        gen.generate({CKA.EC_PARAMS: oid("secp256r1")}, {})


@vectors(CKM.EDDSA,
         source="Wycheproof ed25519_test.json")
def test_wycheproof_ed25519() -> None:
    cases = _wycheproof("ed25519_test.json")
    assert cases
    for case in cases:
        pk, t = case.values
        pub = FakeKey({CKA.KEY_TYPE: CKK.EC_EDWARDS,
                       CKA.EC_PARAMS: ED25519_OID,
                       CKA.EC_POINT: bytes.fromhex(pk["pk"])})
        msg, sig = bytes.fromhex(t["msg"]), bytes.fromhex(t["sig"])
        if t["result"] == "valid":
            run(CKM.EDDSA, Op.VERIFY, pub).verify(msg, sig)
        else:
            with pytest.raises((SignatureInvalid, SignatureLenRange)):
                run(CKM.EDDSA, Op.VERIFY, pub).verify(msg, sig)


NEW_CURVES = {"secp224r1": ("1.3.132.0.33", ec.SECP224R1()),
              "brainpoolP256r1": ("1.3.36.3.3.2.8.1.1.7",
                                  ec.BrainpoolP256R1()),
              "brainpoolP384r1": ("1.3.36.3.3.2.8.1.1.11",
                                  ec.BrainpoolP384R1()),
              "brainpoolP512r1": ("1.3.36.3.3.2.8.1.1.13",
                                  ec.BrainpoolP512R1())}
SHA3_ECDSA = [(CKM.ECDSA_SHA3_224, hashes.SHA3_224),
              (CKM.ECDSA_SHA3_256, hashes.SHA3_256),
              (CKM.ECDSA_SHA3_384, hashes.SHA3_384),
              (CKM.ECDSA_SHA3_512, hashes.SHA3_512)]


@pytest.mark.parametrize("curve", sorted(NEW_CURVES))
def test_new_curves_keygen_and_sha3_ecdsa(curve: str) -> None:
    dotted, ref_curve = NEW_CURVES[curve]
    params = bytes(core.ObjectIdentifier(dotted).dump())
    pub, priv = keypair(CKM.EC_KEY_PAIR_GEN, params, CKK.EC)
    size = (ref_curve.key_size + 7) // 8
    assert len(priv.attrs[CKA.VALUE]) == size
    point = core.OctetString.load(pub.attrs[CKA.EC_POINT]).native
    ref = ec.EllipticCurvePublicKey.from_encoded_point(ref_curve, point)
    for mech, alg in [(CKM.ECDSA_SHA224, hashes.SHA224), *SHA3_ECDSA]:
        signer = run(mech, Op.SIGN, priv)
        signer.update(b"hello ")
        sig = signer.sign(b"world")
        assert len(sig) == 2 * size
        der = encode_dss_signature(int.from_bytes(sig[:size], "big"),
                                   int.from_bytes(sig[size:], "big"))
        ref.verify(der, b"hello world", ec.ECDSA(alg()))
        run(mech, Op.VERIFY, pub).verify(b"hello world", sig)
        with pytest.raises(SignatureInvalid):
            run(mech, Op.VERIFY, pub).verify(b"hello World", sig)


def test_ec_mechanism_info_rows() -> None:
    from craton_hsm._generated_ck import CKF
    ec_flags = CKF.EC_F_P | CKF.EC_NAMEDCURVE | CKF.EC_UNCOMPRESS
    for mech, _alg in SHA3_ECDSA:
        spec = REGISTRY[mech]
        assert (spec.key_size, spec.flags, spec.approved) == (
            (224, 521), CKF.SIGN | CKF.VERIFY | ec_flags, True)
        assert spec.multipart == {Op.SIGN, Op.VERIFY}
    gen = REGISTRY[CKM.EC_MONTGOMERY_KEY_PAIR_GEN]
    assert (gen.key_size, gen.flags, gen.approved, gen.key_types) == (
        (255, 448), CKF.GENERATE_KEY_PAIR | CKF.EC_NAMEDCURVE, False,
        {CKK.EC_MONTGOMERY})
    for mech in (CKM.ECDH1_DERIVE, CKM.ECDH1_COFACTOR_DERIVE):
        assert REGISTRY[mech].key_types == {CKK.EC, CKK.EC_MONTGOMERY}
        assert REGISTRY[mech].flags == CKF.DERIVE | ec_flags


@pytest.mark.parametrize("params,size", [
    (core.ObjectIdentifier("1.3.101.110").dump(), 32),
    (core.PrintableString("curve25519").dump(), 32),
    (core.ObjectIdentifier("1.3.101.111").dump(), 56),
    (core.PrintableString("curve448").dump(), 56),
], ids=["x25519-oid", "x25519-name", "x448-oid", "x448-name"])
@vectors(CKM.EC_MONTGOMERY_KEY_PAIR_GEN,
         source="generated keys checked with cryptography")
def test_montgomery_keygen_and_agreement(params: bytes, size: int) -> None:
    from craton_hsm.mechanisms.params import Ecdh1Params
    a_pub, a_priv = keypair(CKM.EC_MONTGOMERY_KEY_PAIR_GEN, params,
                            CKK.EC_MONTGOMERY)
    b_pub, b_priv = keypair(CKM.EC_MONTGOMERY_KEY_PAIR_GEN, params,
                            CKK.EC_MONTGOMERY)
    assert len(a_priv.attrs[CKA.VALUE]) == size
    assert a_pub.attrs[CKA.EC_PARAMS] == params
    a_raw = core.OctetString.load(a_pub.attrs[CKA.EC_POINT]).native
    b_raw = core.OctetString.load(b_pub.attrs[CKA.EC_POINT]).native
    assert len(a_raw) == len(b_raw) == size
    tmpl = {CKA.KEY_TYPE: CKK.GENERIC_SECRET}

    def z(priv: FakeKey, peer: bytes) -> bytes:
        return bytes(run(CKM.ECDH1_DERIVE, Op.DERIVE, priv, Ecdh1Params(
            CKD.NULL, b"", peer)).derive(tmpl)[CKA.VALUE])
    assert z(a_priv, b_raw) == z(b_priv, a_raw)
    # The DER-wrapped CKA_EC_POINT form is accepted as pPublicData too.
    assert z(a_priv, b_pub.attrs[CKA.EC_POINT]) == z(a_priv, b_raw)
    with pytest.raises(MechanismParamInvalid):
        z(a_priv, b_raw[:-1])


@pytest.mark.parametrize("mech,params", [
    (CKM.EC_MONTGOMERY_KEY_PAIR_GEN, ED25519_OID),
    (CKM.EC_MONTGOMERY_KEY_PAIR_GEN, oid("secp256r1")),
    (CKM.EC_KEY_PAIR_GEN, core.ObjectIdentifier("1.3.101.110").dump()),
    (CKM.EC_EDWARDS_KEY_PAIR_GEN, core.PrintableString("curve25519").dump()),
    # brainpoolP256t1 (twisted) and P-192: named, but not offered.
    (CKM.EC_KEY_PAIR_GEN, core.ObjectIdentifier("1.3.36.3.3.2.8.1.1.8")
     .dump()),
    (CKM.EC_KEY_PAIR_GEN, core.ObjectIdentifier("1.2.840.10045.3.1.1")
     .dump()),
])
def test_curve_of_wrong_family(mech: int, params: bytes) -> None:
    gen = REGISTRY[mech].factory(Op.GENERATE_KEY_PAIR)(None, None)
    with pytest.raises(CurveNotSupported):
        gen.generate({CKA.EC_PARAMS: params}, {})


# ec_curves writes its three DER encodings itself (issue 9: asn1crypto is
# not imported at C_Initialize); asn1crypto is the reference here.
@pytest.mark.parametrize(("curve", "oid", "names"), ec_curves._NAMES,
                         ids=[c.name for c, _, _ in ec_curves._NAMES])
def test_curve_encodings_equal_asn1crypto(curve: ec_curves.Curve, oid: str,
                                          names: tuple[str, ...]) -> None:
    der = core.ObjectIdentifier(oid).dump()
    assert ec_curves.params_der(curve) == der
    assert ec_curves.curve_of(der, curve.family) is curve
    for name in names:
        printable = core.PrintableString(name).dump()
        assert ec_curves.curve_of(printable, curve.family) is curve


@pytest.mark.parametrize("n", [0, 1, 65, 127, 128, 133, 255, 256, 70000])
def test_wrap_point_equals_asn1crypto(n: int) -> None:
    point = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
    assert ec_curves.wrap_point(point) == core.OctetString(point).dump()
