"""HMAC mechanisms: RFC 4231 vectors, verify errors, key generation."""

from __future__ import annotations

import pytest

from craton_hsm._generated_ck import CKA, CKK, CKM
from craton_hsm.errors import (
    KeySizeRange,
    KeyTypeInconsistent,
    SignatureInvalid,
    SignatureLenRange,
    TemplateIncomplete,
)
from craton_hsm.mechanisms.registry import REGISTRY, Op
from tests.mechanisms.conftest import FakeKey
from tests.mechanisms.coverage import vectors

# RFC 4231 test cases 1 and 6 (keys of at least 112 bits).
RFC4231 = [
    (b"\x0b" * 20, b"Hi There", {
        CKM.SHA224_HMAC: "896fb1128abbdf196832107cd49df33f"
                         "47b4b1169912ba4f53684b22",
        CKM.SHA256_HMAC: "b0344c61d8db38535ca8afceaf0bf12b"
                         "881dc200c9833da726e9376c2e32cff7",
        CKM.SHA384_HMAC: "afd03944d84895626b0825f4ab46907f"
                         "15f9dadbe4101ec682aa034c7cebc59c"
                         "faea9ea9076ede7f4af152e8b2fa9cb6",
        CKM.SHA512_HMAC: "87aa7cdea5ef619d4ff0b4241a1d6cb0"
                         "2379f4e2ce4ec2787ad0b30545e17cde"
                         "daa833b7d6b8a702038b274eaea3f4e4"
                         "be9d914eeb61f1702e696c203a126854",
    }),
    (b"\xaa" * 131,
     b"Test Using Larger Than Block-Size Key - Hash Key First", {
         CKM.SHA256_HMAC: "60e431591ee0b67f0d8a26aacbf5b77f"
                          "8e0bc6213728c5140546040f0ee37f54",
     }),
]
CASES = [(k, m, mech, tag) for k, m, d in RFC4231
         for mech, tag in d.items()]


def key(value: bytes, kt: int = CKK.GENERIC_SECRET) -> FakeKey:
    return FakeKey({CKA.KEY_TYPE: kt, CKA.VALUE: value})


@vectors(CKM.SHA224_HMAC, CKM.SHA256_HMAC, CKM.SHA384_HMAC, CKM.SHA512_HMAC,
         source="RFC 4231")
@pytest.mark.parametrize("k,msg,mech,tag", CASES)
def test_rfc4231(k: bytes, msg: bytes, mech: int, tag: str) -> None:
    spec = REGISTRY[mech]
    signer = spec.factory(Op.SIGN)(key(k), None)
    assert signer.size == len(tag) // 2
    assert signer.sign(msg).hex() == tag
    signer = spec.factory(Op.SIGN)(key(k), None)
    signer.update(msg[:3])
    signer.update(msg[3:])
    assert signer.final().hex() == tag
    spec.factory(Op.VERIFY)(key(k), None).verify(msg, bytes.fromhex(tag))


def test_verify_errors() -> None:
    make = REGISTRY[CKM.SHA256_HMAC].factory(Op.VERIFY)
    good = REGISTRY[CKM.SHA256_HMAC].factory(Op.SIGN)(
        key(b"k" * 32), None).sign(b"m")
    with pytest.raises(SignatureInvalid):
        make(key(b"k" * 32), None).verify(b"n", good)
    with pytest.raises(SignatureLenRange):
        make(key(b"k" * 32), None).verify(b"m", good[:-1])


def test_sha1_hmac_and_matching_key_type() -> None:
    op = REGISTRY[CKM.SHA_1_HMAC].factory(Op.SIGN)(
        key(b"k" * 20, CKK.SHA_1_HMAC), None)
    assert op.size == 20


def test_key_checks() -> None:
    make = REGISTRY[CKM.SHA256_HMAC].factory(Op.SIGN)
    with pytest.raises(KeyTypeInconsistent):
        make(key(b"k" * 32, CKK.AES), None)
    with pytest.raises(KeyTypeInconsistent):
        make(key(b"k" * 32, CKK.SHA384_HMAC), None)
    # FIPS 198-1 allows any key length; the token holds 1..512 bytes.
    with pytest.raises(KeySizeRange):
        make(key(b""), None)
    with pytest.raises(KeySizeRange):
        make(key(b"k" * 513), None)


@vectors(CKM.GENERIC_SECRET_KEY_GEN,
         source="generated keys checked with Python hmac")
def test_generic_secret_keygen() -> None:
    gen = REGISTRY[CKM.GENERIC_SECRET_KEY_GEN].factory(Op.GENERATE)(
        None, None)
    out = gen.generate({CKA.VALUE_LEN: 32})
    assert len(out[CKA.VALUE]) == 32 and out[CKA.VALUE_LEN] == 32
    with pytest.raises(TemplateIncomplete):
        gen.generate({})
    with pytest.raises(KeySizeRange):
        gen.generate({CKA.VALUE_LEN: 1000})
