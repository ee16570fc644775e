"""Object schema and template rules (PKCS#11 v3.0 section 4 footnotes)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from craton_hsm._generated_ck import (
    CK_UNAVAILABLE_INFORMATION,
    CKA,
    CKC,
    CKK,
    CKM,
    CKO,
    CKP,
)
from craton_hsm.core import attributes, templates
from craton_hsm.core.templates import Op, build_object, check_modify
from craton_hsm.errors import (
    ActionProhibited,
    AttributeReadOnly,
    AttributeTypeInvalid,
    AttributeValueInvalid,
    CKRError,
    TemplateIncomplete,
    TemplateInconsistent,
)

Tmpl = dict[int, Any]
EC_P256 = bytes.fromhex("06082a8648ce3d030107")

AES: Tmpl = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES,
             CKA.VALUE: b"k" * 16}
HMAC: Tmpl = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET,
              CKA.VALUE: b"h" * 20}
RSA_PUB: Tmpl = {CKA.CLASS: CKO.PUBLIC_KEY, CKA.KEY_TYPE: CKK.RSA,
                 CKA.MODULUS: b"\xc1" + b"\x00" * 255,
                 CKA.PUBLIC_EXPONENT: b"\x01\x00\x01"}
RSA_PRIV: Tmpl = {CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.RSA,
                  CKA.MODULUS: b"\xc1" + b"\x00" * 255,
                  CKA.PRIVATE_EXPONENT: b"\x07" * 256}
EC_PUB: Tmpl = {CKA.CLASS: CKO.PUBLIC_KEY, CKA.KEY_TYPE: CKK.EC,
                CKA.EC_PARAMS: EC_P256, CKA.EC_POINT: b"\x04" * 65}
EC_PRIV: Tmpl = {CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.EC,
                 CKA.EC_PARAMS: EC_P256, CKA.VALUE: b"\x05" * 32}
ED_PRIV: Tmpl = {**EC_PRIV, CKA.KEY_TYPE: CKK.EC_EDWARDS}
MLKEM_PUB: Tmpl = {CKA.CLASS: CKO.PUBLIC_KEY, CKA.KEY_TYPE: CKK.ML_KEM,
                   CKA.PARAMETER_SET: CKP.ML_KEM_768, CKA.VALUE: b"p" * 9}
DATA: Tmpl = {CKA.CLASS: CKO.DATA, CKA.VALUE: b"payload"}
CERT: Tmpl = {CKA.CLASS: CKO.CERTIFICATE, CKA.CERTIFICATE_TYPE: CKC.X_509,
              CKA.SUBJECT: b"\x30\x00", CKA.VALUE: b"\x30\x03\x02\x01\x01"}

CREATABLE = {"aes": AES, "hmac": HMAC, "rsa_pub": RSA_PUB,
             "rsa_priv": RSA_PRIV, "ec_pub": EC_PUB, "ec_priv": EC_PRIV,
             "ed_priv": ED_PRIV, "mlkem_pub": MLKEM_PUB, "data": DATA,
             "cert": CERT}


def make(base: Tmpl, **kw: Any) -> dict[int, Any]:
    return build_object(Op.CREATE, base, **kw)


def gen(t: Tmpl, **kw: Any) -> dict[int, Any]:
    kw.setdefault("mechanism", CKM.AES_KEY_GEN)
    return build_object(Op.GENERATE, t, obj_class=CKO.SECRET_KEY,
                        key_type=CKK.AES, **kw)


def gen_pair(pub: Tmpl, priv: Tmpl,
             kt: int = CKK.RSA) -> tuple[dict[int, Any], dict[int, Any]]:
    mech = CKM.RSA_PKCS_KEY_PAIR_GEN if kt == CKK.RSA else \
        CKM.EC_KEY_PAIR_GEN
    return (build_object(Op.GENERATE_PUBLIC, pub, obj_class=CKO.PUBLIC_KEY,
                         key_type=kt, mechanism=mech),
            build_object(Op.GENERATE_PRIVATE, priv,
                         obj_class=CKO.PRIVATE_KEY, key_type=kt,
                         mechanism=mech))


@pytest.mark.parametrize("name", CREATABLE)
def test_create_valid(name: str) -> None:
    t = CREATABLE[name]
    obj = make(t)
    for k, v in t.items():
        assert obj[k] == v
    assert obj[CKA.TOKEN] is False
    assert obj[CKA.MODIFIABLE] is True
    assert obj[CKA.LABEL] == b""
    assert CKA.UNIQUE_ID not in obj         # the core assigns it


@pytest.mark.parametrize("name, missing", [
    ("aes", CKA.VALUE), ("aes", CKA.CLASS), ("aes", CKA.KEY_TYPE),
    ("hmac", CKA.VALUE), ("rsa_pub", CKA.MODULUS),
    ("rsa_pub", CKA.PUBLIC_EXPONENT), ("rsa_priv", CKA.MODULUS),
    ("rsa_priv", CKA.PRIVATE_EXPONENT), ("ec_pub", CKA.EC_PARAMS),
    ("ec_pub", CKA.EC_POINT), ("ec_priv", CKA.EC_PARAMS),
    ("ec_priv", CKA.VALUE), ("mlkem_pub", CKA.PARAMETER_SET),
    ("cert", CKA.CERTIFICATE_TYPE), ("cert", CKA.SUBJECT),
    ("cert", CKA.VALUE), ("data", CKA.CLASS),
])
def test_create_incomplete(name: str, missing: int) -> None:
    t = dict(CREATABLE[name])
    del t[missing]
    with pytest.raises(TemplateIncomplete):
        make(t)


def test_x509_url_rules() -> None:
    by_url = {**CERT, CKA.VALUE: b"", CKA.URL: b"https://ca.example/c"}
    with pytest.raises(TemplateIncomplete):
        make(by_url)
    hashes: Tmpl = {CKA.HASH_OF_SUBJECT_PUBLIC_KEY: b"s" * 20,
                    CKA.HASH_OF_ISSUER_PUBLIC_KEY: b"i" * 20}
    assert make({**by_url, **hashes})[CKA.URL] == by_url[CKA.URL]
    with pytest.raises(TemplateIncomplete):
        make({**CERT, CKA.VALUE: b""})


@pytest.mark.parametrize("base, extra", [
    (AES, {CKA.VALUE_LEN: 16}),              # fn 2: computed
    (RSA_PUB, {CKA.MODULUS_BITS: 2048}),     # fn 2: computed
])
def test_create_forbidden(base: Tmpl, extra: Tmpl) -> None:
    with pytest.raises(TemplateInconsistent):
        make({**base, **extra})


@pytest.mark.parametrize("base, t, value", [
    (AES, CKA.MODULUS, b"\x01"), (RSA_PUB, CKA.EC_POINT, b"\x04"),
    (DATA, CKA.VALUE_LEN, 4), (DATA, CKA.SENSITIVE, True),
    (RSA_PUB, CKA.SENSITIVE, True), (RSA_PUB, CKA.SIGN, True),
    (EC_PUB, CKA.ENCAPSULATE, True), (AES, CKA.VENDOR_DEFINED, b""),
    (CERT, CKA.KEY_TYPE, CKK.RSA), (AES, CKA.OTP_FORMAT, 1),
])
def test_type_invalid(base: Tmpl, t: int, value: Any) -> None:
    with pytest.raises(AttributeTypeInvalid):
        make({**base, t: value})


@pytest.mark.parametrize("base, t, value", [
    (AES, CKA.VALUE, b"k" * 15), (AES, CKA.VALUE, b"k" * 33),
    (HMAC, CKA.VALUE, b""), (AES, CKA.CLASS, 0x1234),
    (AES, CKA.CLASS, CKO.PROFILE), (AES, CKA.KEY_TYPE, CKK.DES),
    (RSA_PUB, CKA.KEY_TYPE, CKK.DSA),
    (CERT, CKA.CERTIFICATE_TYPE, CKC.WTLS), (AES, CKA.SENSITIVE, 1),
    (AES, CKA.LABEL, "text"), (AES, CKA.START_DATE, b"20241340"),
    (CERT, CKA.CERTIFICATE_CATEGORY, 7),
    (CERT, CKA.JAVA_MIDP_SECURITY_DOMAIN, 4),
    (MLKEM_PUB, CKA.PARAMETER_SET, 9), (EC_PUB, CKA.EC_PARAMS, b""),
    (RSA_PUB, CKA.MODULUS, b""),
])
def test_value_invalid(base: Tmpl, t: int, value: Any) -> None:
    with pytest.raises(AttributeValueInvalid):
        make({**base, t: value})


@pytest.mark.parametrize("t, value", [
    (CKA.LOCAL, True), (CKA.ALWAYS_SENSITIVE, True),
    (CKA.NEVER_EXTRACTABLE, True), (CKA.KEY_GEN_MECHANISM, 0),
    (CKA.UNIQUE_ID, b"x"), (CKA.TRUSTED, True),
])
def test_read_only_in_template(t: int, value: Any) -> None:
    with pytest.raises(AttributeReadOnly):
        make({**AES, t: value})
    with pytest.raises(AttributeReadOnly):
        gen({CKA.VALUE_LEN: 16, t: value})


def test_trusted_needs_so() -> None:
    assert make({**AES, CKA.TRUSTED: True}, so=True)[CKA.TRUSTED] is True
    assert make({**CERT, CKA.TRUSTED: True}, so=True)[CKA.TRUSTED] is True
    assert make({**AES, CKA.TRUSTED: False})[CKA.TRUSTED] is False


def test_generate_secret_defaults() -> None:
    obj = gen({CKA.VALUE_LEN: 32})
    assert obj[CKA.CLASS] == CKO.SECRET_KEY
    assert obj[CKA.KEY_TYPE] == CKK.AES
    # Seed 004: generated keys default to maximum protection.
    assert obj[CKA.PRIVATE] is True
    assert obj[CKA.SENSITIVE] is True
    assert obj[CKA.EXTRACTABLE] is False
    assert obj[CKA.LOCAL] is True
    assert obj[CKA.KEY_GEN_MECHANISM] == CKM.AES_KEY_GEN
    assert obj[CKA.ALWAYS_SENSITIVE] is True
    assert obj[CKA.NEVER_EXTRACTABLE] is True
    assert obj[CKA.ENCRYPT] and obj[CKA.UNWRAP]
    assert obj[CKA.DERIVE] is False
    assert obj[CKA.ALLOWED_MECHANISMS] == ()
    assert obj[CKA.WRAP_TEMPLATE] == {}


def test_generate_less_protected() -> None:
    obj = gen({CKA.VALUE_LEN: 16, CKA.SENSITIVE: False,
               CKA.EXTRACTABLE: True})
    assert obj[CKA.ALWAYS_SENSITIVE] is False
    assert obj[CKA.NEVER_EXTRACTABLE] is False


@pytest.mark.parametrize("t, err", [
    ({}, TemplateIncomplete),                           # fn 3 VALUE_LEN
    ({CKA.VALUE_LEN: 16, CKA.VALUE: b"k" * 16}, TemplateInconsistent),
    ({CKA.VALUE_LEN: 17}, AttributeValueInvalid),
    ({CKA.VALUE_LEN: 16, CKA.CLASS: CKO.DATA}, TemplateInconsistent),
    ({CKA.VALUE_LEN: 16, CKA.KEY_TYPE: CKK.GENERIC_SECRET},
     TemplateInconsistent),
    ({CKA.VALUE_LEN: 16, CKA.CLASS: CKO.SECRET_KEY}, None),
])
def test_generate_errors(t: Tmpl, err: type[CKRError] | None) -> None:
    if err is None:
        gen(t)
        return
    with pytest.raises(err):
        gen(t)


def test_generate_material_merged() -> None:
    obj = gen({CKA.VALUE_LEN: 16}, material={CKA.VALUE: b"m" * 16})
    assert obj[CKA.VALUE] == b"m" * 16
    assert obj[CKA.VALUE_LEN] == 16
    with pytest.raises(AttributeValueInvalid):
        gen({CKA.VALUE_LEN: 16}, material={CKA.VALUE: b"m" * 5})
    with pytest.raises(AttributeTypeInvalid):
        gen({CKA.VALUE_LEN: 16}, material={CKA.MODULUS: b"m"})


def test_generate_rsa_pair() -> None:
    pub, priv = gen_pair({CKA.MODULUS_BITS: 2048, CKA.LABEL: b"p"},
                         {CKA.LABEL: b"q"})
    assert pub[CKA.PRIVATE] is False and priv[CKA.PRIVATE] is True
    assert pub[CKA.VERIFY] and pub[CKA.ENCRYPT] and pub[CKA.WRAP]
    assert priv[CKA.SIGN] and priv[CKA.DECRYPT] and priv[CKA.UNWRAP]
    assert priv[CKA.SENSITIVE] and not priv[CKA.EXTRACTABLE]
    assert priv[CKA.ALWAYS_SENSITIVE] and priv[CKA.NEVER_EXTRACTABLE]
    assert pub[CKA.LOCAL] and priv[CKA.LOCAL]
    assert pub[CKA.KEY_GEN_MECHANISM] == CKM.RSA_PKCS_KEY_PAIR_GEN
    assert CKA.ALWAYS_SENSITIVE not in pub


def test_generate_ec_pair_defaults() -> None:
    pub, priv = gen_pair({CKA.EC_PARAMS: EC_P256}, {}, CKK.EC)
    assert pub[CKA.VERIFY] and not pub[CKA.ENCRYPT]
    assert priv[CKA.SIGN] and not priv[CKA.DERIVE]


@pytest.mark.parametrize("pub, priv, kt, err", [
    ({}, {}, CKK.RSA, TemplateIncomplete),              # MODULUS_BITS
    ({CKA.MODULUS_BITS: 1024, CKA.MODULUS: b"\x01"}, {}, CKK.RSA,
     TemplateInconsistent),
    ({CKA.MODULUS_BITS: 1024}, {CKA.PRIVATE_EXPONENT: b"\x01"}, CKK.RSA,
     TemplateInconsistent),
    ({CKA.MODULUS_BITS: 0}, {}, CKK.RSA, AttributeValueInvalid),
    ({}, {}, CKK.EC, TemplateIncomplete),               # EC_PARAMS
    ({CKA.EC_PARAMS: EC_P256, CKA.EC_POINT: b"\x04"}, {}, CKK.EC,
     TemplateInconsistent),
    ({CKA.EC_PARAMS: EC_P256}, {CKA.EC_PARAMS: EC_P256}, CKK.EC,
     TemplateInconsistent),
    ({CKA.EC_PARAMS: EC_P256}, {CKA.VALUE: b"\x01"}, CKK.EC,
     TemplateInconsistent),
    ({CKA.EC_PARAMS: EC_P256, CKA.CLASS: CKO.PRIVATE_KEY}, {}, CKK.EC,
     TemplateInconsistent),
])
def test_generate_pair_errors(pub: Tmpl, priv: Tmpl, kt: int,
                              err: type[CKRError]) -> None:
    with pytest.raises(err):
        gen_pair(pub, priv, kt)


def test_unwrap() -> None:
    t: Tmpl = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES,
               CKA.VALUE_LEN: 16}
    obj = build_object(Op.UNWRAP, t, material={CKA.VALUE: b"u" * 16})
    assert obj[CKA.LOCAL] is False
    assert obj[CKA.ALWAYS_SENSITIVE] is False
    assert obj[CKA.NEVER_EXTRACTABLE] is False
    assert obj[CKA.KEY_GEN_MECHANISM] == CK_UNAVAILABLE_INFORMATION
    with pytest.raises(TemplateIncomplete):                  # fn 5
        build_object(Op.UNWRAP, {CKA.CLASS: CKO.SECRET_KEY})
    with pytest.raises(TemplateInconsistent):                # fn 6
        build_object(Op.UNWRAP, {**t, CKA.VALUE: b"u" * 16})
    with pytest.raises(TemplateInconsistent):
        build_object(Op.UNWRAP, {**EC_PUB, CKA.EC_POINT: b"\x04"})
    with pytest.raises(TemplateInconsistent):
        build_object(Op.UNWRAP, {**RSA_PRIV})


@pytest.mark.parametrize("base_as, base_ne, sens, extr, want_as, want_ne", [
    (True, True, True, False, True, True),
    (True, True, False, False, False, True),
    (True, True, True, True, True, False),
    (False, False, True, False, False, False),
])
def test_derive_inherits_from_base(base_as: bool, base_ne: bool,
                                   sens: bool, extr: bool, want_as: bool,
                                   want_ne: bool) -> None:
    base: Tmpl = {CKA.ALWAYS_SENSITIVE: base_as,
                  CKA.NEVER_EXTRACTABLE: base_ne}
    t: Tmpl = {CKA.KEY_TYPE: CKK.GENERIC_SECRET, CKA.VALUE_LEN: 32,
               CKA.SENSITIVE: sens, CKA.EXTRACTABLE: extr}
    obj = build_object(Op.DERIVE, t, mechanism=CKM.ECDH1_DERIVE, base=base)
    assert obj[CKA.CLASS] == CKO.SECRET_KEY
    assert obj[CKA.LOCAL] is False
    assert obj[CKA.KEY_GEN_MECHANISM] == CKM.ECDH1_DERIVE
    assert obj[CKA.ALWAYS_SENSITIVE] is want_as
    assert obj[CKA.NEVER_EXTRACTABLE] is want_ne


def test_derive_errors() -> None:
    with pytest.raises(TemplateIncomplete):
        build_object(Op.DERIVE, {CKA.VALUE_LEN: 16})
    with pytest.raises(TemplateInconsistent):
        build_object(Op.DERIVE, {CKA.KEY_TYPE: CKK.AES,
                                 CKA.VALUE: b"k" * 16})


@pytest.mark.parametrize("t, value", [
    (CKA.PRIVATE, False), (CKA.SENSITIVE, True), (CKA.EXTRACTABLE, False),
    (CKA.TRUSTED, False), (CKA.LABEL, b""), (CKA.START_DATE, b""),
    (CKA.DERIVE, False), (CKA.ALWAYS_AUTHENTICATE, False),
    (CKA.PUBLIC_KEY_INFO, b""),
])
def test_class_defaults(t: int, value: Any) -> None:
    objs = {"data": make(DATA), "cert": make(CERT), "pub": make(RSA_PUB),
            "priv": make(RSA_PRIV), "secret": make(AES)}
    for obj in objs.values():
        if t in obj:
            want = value
            if t == CKA.PRIVATE and obj[CKA.CLASS] in (CKO.PRIVATE_KEY,
                                                       CKO.SECRET_KEY):
                want = True
            assert obj[t] == want, (t, obj[CKA.CLASS])


def test_create_computed() -> None:
    pub = make(RSA_PUB)
    assert pub[CKA.MODULUS_BITS] == 2048
    assert pub[CKA.LOCAL] is False
    assert pub[CKA.KEY_GEN_MECHANISM] == CK_UNAVAILABLE_INFORMATION
    aes = make(AES)
    assert aes[CKA.VALUE_LEN] == 16
    assert aes[CKA.ALWAYS_SENSITIVE] is False
    assert aes[CKA.NEVER_EXTRACTABLE] is False
    cert = make(CERT)
    assert cert[CKA.NAME_HASH_ALGORITHM] == CKM.SHA_1
    assert cert[CKA.CERTIFICATE_CATEGORY] == 0


def test_defaults_are_not_shared() -> None:
    a, b = make(AES), make(AES)
    a[CKA.WRAP_TEMPLATE][CKA.TOKEN] = True
    a[CKA.DERIVE] = True
    assert b[CKA.WRAP_TEMPLATE] == {}
    # Defaults are cached per object kind (issue 9): an object changed
    # after it was built must not change the next one's defaults.
    c = make(AES)
    assert c[CKA.WRAP_TEMPLATE] == {} and c[CKA.DERIVE] is False
    assert c == b


# check_modify: (object, changes, copy, so, expected error or None).
_SECRET = make({**AES, CKA.SENSITIVE: False, CKA.EXTRACTABLE: True})
_LOCKED = make({**AES, CKA.MODIFIABLE: False})
_NOCOPY = make({**AES, CKA.COPYABLE: False})


@pytest.mark.parametrize("obj, changes, copy, so, err", [
    (_SECRET, {CKA.LABEL: b"new"}, False, False, None),          # fn 8
    (_SECRET, {CKA.SENSITIVE: True}, False, False, None),        # fn 11
    (make(AES), {CKA.SENSITIVE: False}, False, False, AttributeReadOnly),
    (_SECRET, {CKA.EXTRACTABLE: False}, False, False, None),     # fn 12
    (make(AES), {CKA.EXTRACTABLE: True}, False, False, AttributeReadOnly),
    (_SECRET, {CKA.WRAP_WITH_TRUSTED: True}, False, False, None),  # fn 13
    (make({**AES, CKA.WRAP_WITH_TRUSTED: True}),
     {CKA.WRAP_WITH_TRUSTED: False}, False, False, AttributeReadOnly),
    (_SECRET, {CKA.TOKEN: True}, False, False, AttributeReadOnly),  # fn 14
    (_SECRET, {CKA.TOKEN: True}, True, False, None),
    (_SECRET, {CKA.PRIVATE: False}, True, False, None),
    (_SECRET, {CKA.MODIFIABLE: False}, True, False, None),
    (_SECRET, {CKA.DESTROYABLE: False}, True, False, None),
    (_SECRET, {CKA.COPYABLE: False}, True, False, None),
    (_NOCOPY, {CKA.COPYABLE: True}, True, False, AttributeReadOnly),
    (_SECRET, {CKA.COPYABLE: False}, False, False, AttributeReadOnly),
    (_SECRET, {CKA.VALUE: b"x" * 16}, False, False, AttributeReadOnly),
    (_SECRET, {CKA.VALUE_LEN: 16}, False, False, None),    # restated
    (_SECRET, {CKA.KEY_TYPE: CKK.GENERIC_SECRET}, False, False,
     AttributeReadOnly),
    (_SECRET, {CKA.CLASS: CKO.SECRET_KEY}, True, False, None),
    (_SECRET, {CKA.LOCAL: True}, False, False, AttributeReadOnly),
    (_SECRET, {CKA.TRUSTED: True}, False, False, AttributeReadOnly),
    (_SECRET, {CKA.TRUSTED: True}, False, True, None),       # fn 10
    (_SECRET, {CKA.MODULUS: b"\x01"}, False, False, AttributeTypeInvalid),
    (_SECRET, {CKA.VENDOR_DEFINED: b""}, False, False,
     AttributeTypeInvalid),
    (_SECRET, {CKA.LABEL: 5}, False, False, AttributeValueInvalid),
    (_SECRET, {CKA.END_DATE: b"20240230"}, False, False,
     AttributeValueInvalid),
    (_LOCKED, {CKA.LABEL: b"x"}, False, False, ActionProhibited),
    (_LOCKED, {CKA.LABEL: b"x"}, True, False, AttributeReadOnly),
    (_LOCKED, {CKA.TOKEN: True}, True, False, None),
    (make(DATA), {CKA.VALUE: b"other"}, False, False, None),
    (make(CERT), {CKA.ID: b"1", CKA.SERIAL_NUMBER: b"\x02"}, False, False,
     None),
    (make(CERT), {CKA.SUBJECT: b"\x30\x01"}, False, False,
     AttributeReadOnly),
    (make(CERT), {CKA.CERTIFICATE_CATEGORY: 9}, False, False,
     AttributeValueInvalid),
    (make(RSA_PUB), {CKA.VERIFY: False}, False, False, None),
    (make(RSA_PRIV), {CKA.PRIVATE_EXPONENT: b"\x01"}, False, False,
     AttributeReadOnly),
])
def test_check_modify(obj: dict[int, Any], changes: Tmpl, copy: bool,
                      so: bool, err: type[CKRError] | None) -> None:
    if err is None:
        check_modify(obj, changes, copy=copy, so=so)
        return
    with pytest.raises(err):
        check_modify(obj, changes, copy=copy, so=so)


def test_copy_op() -> None:
    src = {**make(AES), CKA.UNIQUE_ID: b"abc"}
    out = build_object(Op.COPY, {CKA.TOKEN: True, CKA.LABEL: b"c"},
                       base=src)
    assert out[CKA.TOKEN] is True and out[CKA.LABEL] == b"c"
    assert CKA.UNIQUE_ID not in out
    assert src[CKA.TOKEN] is False
    with pytest.raises(AttributeReadOnly):
        build_object(Op.COPY, {CKA.SENSITIVE: False}, base=src)


@pytest.mark.parametrize("obj, t, want", [
    (make(AES), CKA.VALUE, True),
    (_SECRET, CKA.VALUE, False),
    (make({**AES, CKA.EXTRACTABLE: True}), CKA.VALUE, True),
    (make({**AES, CKA.SENSITIVE: False}), CKA.VALUE, True),   # !EXTRACT.
    (make(AES), CKA.LABEL, False),
    (make(RSA_PRIV), CKA.PRIVATE_EXPONENT, True),
    (make(RSA_PRIV), CKA.MODULUS, False),
    (make(EC_PRIV), CKA.VALUE, True),
    (make(EC_PUB), CKA.EC_POINT, False),
    (make(MLKEM_PUB), CKA.VALUE, False),
    (make(DATA), CKA.VALUE, False),
])
def test_is_sensitive(obj: dict[int, Any], t: int, want: bool) -> None:
    assert templates.is_sensitive(obj, t) is want


@pytest.mark.parametrize("obj, t, want", [
    (make(AES), CKA.VALUE, True),
    (_SECRET, CKA.VALUE, True),
    (make(AES), CKA.LABEL, False),
    (make(RSA_PRIV), CKA.PRIVATE_EXPONENT, True),
    (make(RSA_PRIV), CKA.PRIME_1, True),
    (make(RSA_PRIV), CKA.MODULUS, False),
    (make(EC_PRIV), CKA.VALUE, True),
    (make(EC_PUB), CKA.EC_POINT, False),
    (make(MLKEM_PUB), CKA.VALUE, False),
    (make(DATA), CKA.VALUE, False),
    (make({**DATA, CKA.PRIVATE: True}), CKA.VALUE, True),
    (make(CERT), CKA.VALUE, False),
])
def test_is_secret_attr(obj: dict[int, Any], t: int, want: bool) -> None:
    assert templates.is_secret_attr(obj, t) is want
    if want:
        assert t in templates.SECRET_ATTRS


def test_object_size() -> None:
    small = templates.object_size(make(AES))
    big = templates.object_size(make({**AES, CKA.LABEL: b"x" * 100}))
    assert small > 16 and big - small == 100


@pytest.mark.parametrize("name, t", [
    ("sign", CKA.SIGN), ("verify", CKA.VERIFY), ("encrypt", CKA.ENCRYPT),
    ("decrypt", CKA.DECRYPT), ("sign_recover", CKA.SIGN_RECOVER),
    ("verify_recover", CKA.VERIFY_RECOVER), ("wrap", CKA.WRAP),
    ("unwrap", CKA.UNWRAP), ("derive", CKA.DERIVE), ("SIGN", CKA.SIGN),
    ("encapsulate", CKA.ENCAPSULATE),
])
def test_capability_attr(name: str, t: int) -> None:
    assert templates.capability_attr(name) == t


def test_capability_attr_unknown() -> None:
    with pytest.raises(ValueError):
        templates.capability_attr("digest")


_ANY_VALUE: st.SearchStrategy[Any] = st.one_of(
    st.booleans(), st.integers(-1, 2 ** 64), st.binary(max_size=40),
    st.just(()), st.just({}))


@settings(max_examples=300)
@given(st.sampled_from(sorted(CREATABLE)),
       st.dictionaries(st.sampled_from(sorted(attributes.KINDS)),
                       _ANY_VALUE, max_size=4),
       st.sampled_from([Op.CREATE, Op.UNWRAP, Op.DERIVE]))
def test_build_only_raises_ckr_errors(name: str, extra: Tmpl,
                                      op: Op) -> None:
    # Any template either builds a complete object or fails with a
    # typed CK_RV error: never a bare Python exception.
    try:
        obj = build_object(op, {**CREATABLE[name], **extra})
    except CKRError:
        return
    assert CKA.CLASS in obj and CKA.TOKEN in obj
    for t, v in obj.items():
        attributes.encode(t, v)
