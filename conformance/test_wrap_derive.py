# ruff: noqa: F811 - pytest fixtures imported by name are parameters
"""C_WrapKey / C_UnwrapKey (AES KW, KWP) and C_DeriveKey (ECDH1) through
python-pkcs11, checked against RFC 3394 and ``cryptography``."""

from __future__ import annotations

import pkcs11
import pytest
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from pkcs11 import KDF, Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from conformance.test_python_pkcs11 import (  # noqa: F401 - fixtures
    lib,
    session,
    token,
)

# RFC 3394 section 4.1: 128-bit KEK wraps 128 bits of key data.
KEK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
KEY_DATA = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
# Sensitive keys stronger than 128 bits (AES-192, P-384, Ed448) are only
# wrapped under at least their strength (dispatch/wrap.py _wrap_policy,
# SP 800-57 Part 1 Rev. 5 section 5.6.1).
KEK256 = bytes(range(200, 232))
WRAPPED = bytes.fromhex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")


def _aes(s: pkcs11.Session, value: bytes, label: str,
         extra: dict[Attribute, object] | None = None) -> pkcs11.SecretKey:
    template = {Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.AES, Attribute.VALUE: value,
                Attribute.LABEL: label, Attribute.TOKEN: False,
                Attribute.WRAP: True, Attribute.UNWRAP: True,
                Attribute.ENCRYPT: True, Attribute.EXTRACTABLE: True}
    template.update(extra or {})
    return s.create_object(template)  # type: ignore[return-value]


def _ecb(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def test_aes_key_wrap_rfc3394_vector(session: pkcs11.Session) -> None:
    kek = _aes(session, KEK, "kek")
    target = _aes(session, KEY_DATA, "data")
    assert kek.wrap_key(target, mechanism=Mechanism.AES_KEY_WRAP) == \
        WRAPPED


def test_aes_key_unwrap_gives_a_working_key(session: pkcs11.Session) -> None:
    kek = _aes(session, KEK, "kek")
    key = kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, WRAPPED,
                         mechanism=Mechanism.AES_KEY_WRAP,
                         template={Attribute.ENCRYPT: True,
                                   Attribute.TOKEN: False})
    block = bytes(range(16))
    assert key.encrypt(block, mechanism=Mechanism.AES_ECB) == \
        _ecb(KEY_DATA, block)
    # Unwrapped keys are not local and were never "always sensitive".
    assert key[Attribute.LOCAL] is False
    assert key[Attribute.ALWAYS_SENSITIVE] is False


def test_tampered_wrapped_key_is_rejected(session: pkcs11.Session) -> None:
    kek = _aes(session, KEK, "kek")
    bad = bytes([WRAPPED[0] ^ 1]) + WRAPPED[1:]
    with pytest.raises(pkcs11.exceptions.WrappedKeyInvalid):
        kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, bad,
                       mechanism=Mechanism.AES_KEY_WRAP)


def test_unextractable_key_is_not_wrapped(session: pkcs11.Session) -> None:
    kek = _aes(session, KEK, "kek")
    target = _aes(session, KEY_DATA, "locked",
                  {Attribute.EXTRACTABLE: False})
    with pytest.raises(pkcs11.exceptions.KeyUnextractable):
        kek.wrap_key(target, mechanism=Mechanism.AES_KEY_WRAP)


def test_kwp_wraps_odd_lengths_like_rfc5649(
        session: pkcs11.Session) -> None:
    kek = _aes(session, KEK, "kek")
    secret = bytes(range(20))
    target = session.create_object({
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET, Attribute.VALUE: secret,
        Attribute.EXTRACTABLE: True, Attribute.TOKEN: False})
    wrapped = kek.wrap_key(target, mechanism=Mechanism.AES_KEY_WRAP_KWP)
    assert wrapped == keywrap.aes_key_wrap_with_padding(KEK, secret)


@pytest.mark.parametrize("kdf", [KDF.NULL, KDF.SHA256])
def test_ecdh_derive_matches_cryptography(session: pkcs11.Session,
                                          kdf: KDF) -> None:
    params = session.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS:
                     encode_named_curve_parameters("secp256r1")},
        local=True)
    pub, priv = params.generate_keypair(store=False, capabilities=None,
                                        private_template={
                                            Attribute.DERIVE: True})
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_point = peer.public_key().public_bytes(
        serialization.Encoding.X962,
        serialization.PublicFormat.UncompressedPoint)
    shared = b"" if kdf == KDF.NULL else b"craton shared info"
    key = priv.derive_key(
        KeyType.GENERIC_SECRET, 256,
        mechanism_param=(kdf, shared, peer_point),
        template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False,
                  Attribute.TOKEN: False})
    point = pub[Attribute.EC_POINT][2:]
    ours = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                        point)
    z = peer.exchange(ec.ECDH(), ours)
    expected = z if kdf == KDF.NULL else X963KDF(
        hashes.SHA256(), 32, shared).derive(z)
    assert key[Attribute.VALUE] == expected


def test_rsa_oaep_unwraps_a_key_wrapped_by_cryptography(
        session: pkcs11.Session) -> None:
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from pkcs11 import MGF

    # RSA-3072 (128 bits): the sensitive AES-128 key it wraps back out
    # needs at least that (dispatch/wrap.py _wrap_policy).
    pub, priv = session.generate_keypair(
        KeyType.RSA, 3072, store=False,
        public_template={Attribute.WRAP: True},
        private_template={Attribute.UNWRAP: True})
    public = rsa.RSAPublicNumbers(
        int.from_bytes(pub[Attribute.PUBLIC_EXPONENT], "big"),
        int.from_bytes(pub[Attribute.MODULUS], "big")).public_key()
    oaep = (Mechanism.SHA256, MGF.SHA256, None)
    wrapped = public.encrypt(KEY_DATA, padding.OAEP(
        padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    key = priv.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, wrapped,
                          mechanism=Mechanism.RSA_PKCS_OAEP,
                          mechanism_param=oaep,
                          template={Attribute.ENCRYPT: True,
                                    Attribute.EXTRACTABLE: True,
                                    Attribute.TOKEN: False})
    block = bytes(16)
    assert key.encrypt(block, mechanism=Mechanism.AES_ECB) == \
        _ecb(KEY_DATA, block)
    # And back out again: token wrap, token unwrap, same key value.
    again = pub.wrap_key(key, mechanism=Mechanism.RSA_PKCS_OAEP,
                         mechanism_param=oaep)
    twin = priv.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, again,
                           mechanism=Mechanism.RSA_PKCS_OAEP,
                           mechanism_param=oaep,
                           template={Attribute.ENCRYPT: True,
                                     Attribute.TOKEN: False})
    assert twin.encrypt(block, mechanism=Mechanism.AES_ECB) == \
        _ecb(KEY_DATA, block)
    with pytest.raises(pkcs11.exceptions.WrappedKeyInvalid):
        priv.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES,
                        bytes(len(wrapped)),
                        mechanism=Mechanism.RSA_PKCS_OAEP,
                        mechanism_param=oaep)


# --- private keys as PKCS#8 PrivateKeyInfo (v3.0 section 5.18.5) ----------

# python-pkcs11's unwrap_key sets every capability attribute; CKA_ENCRYPT,
# CKA_VERIFY and CKA_WRAP are not private-key attributes
# (CKR_ATTRIBUTE_TYPE_INVALID), so DEFAULT drops them from the template.
_PRIVATE = {Attribute.ENCRYPT: pkcs11.DEFAULT, Attribute.VERIFY: pkcs11.DEFAULT,
            Attribute.WRAP: pkcs11.DEFAULT, Attribute.TOKEN: False}


def _pkcs8(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def _foreign_keys() -> dict[str, tuple[KeyType, object]]:
    from cryptography.hazmat.primitives.asymmetric import (
        ed448,
        ed25519,
        rsa,
    )
    # CKK_EC_MONTGOMERY is not in python-pkcs11's KeyType: X25519/X448
    # PKCS#8 is tested at op level (tests/mechanisms/test_wrap_pkcs8.py).
    return {
        "rsa": (KeyType.RSA, rsa.generate_private_key(65537, 2048)),
        "p384": (KeyType.EC, ec.generate_private_key(ec.SECP384R1())),
        "brainpoolP256r1": (KeyType.EC, ec.generate_private_key(
            ec.BrainpoolP256R1())),
        "ed25519": (KeyType.EC_EDWARDS,
                    ed25519.Ed25519PrivateKey.generate()),
        "ed448": (KeyType.EC_EDWARDS, ed448.Ed448PrivateKey.generate()),
    }


@pytest.mark.parametrize("name", ["rsa", "p384", "brainpoolP256r1",
                                  "ed25519", "ed448"])
def test_kwp_private_key_round_trip_is_byte_exact(
        session: pkcs11.Session, name: str) -> None:
    """A PrivateKeyInfo wrapped by cryptography unwraps into a private
    key object, and the token wraps that object back into the very same
    RFC 5649 blob (cryptography's PKCS#8 DER is deterministic)."""
    key_type, foreign = _foreign_keys()[name]
    kek = _aes(session, KEK256, "kek")
    blob = keywrap.aes_key_wrap_with_padding(KEK256, _pkcs8(foreign))
    key = kek.unwrap_key(ObjectClass.PRIVATE_KEY, key_type, blob,
                         mechanism=Mechanism.AES_KEY_WRAP_KWP,
                         template={**_PRIVATE,
                                   Attribute.EXTRACTABLE: True})
    assert key[Attribute.CLASS] == ObjectClass.PRIVATE_KEY
    assert key[Attribute.KEY_TYPE] == key_type
    assert key[Attribute.LOCAL] is False
    assert key[Attribute.ALWAYS_SENSITIVE] is False
    assert key[Attribute.NEVER_EXTRACTABLE] is False
    assert kek.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_KWP) == blob


def test_token_wrapped_rsa_key_is_pkcs8_for_cryptography(
        session: pkcs11.Session) -> None:
    from cryptography.hazmat.primitives.asymmetric import padding

    pub, priv = session.generate_keypair(
        KeyType.RSA, 2048, store=False,
        private_template={Attribute.EXTRACTABLE: True})
    kek = _aes(session, KEK, "kek")
    der = keywrap.aes_key_unwrap_with_padding(
        KEK, kek.wrap_key(priv, mechanism=Mechanism.AES_KEY_WRAP_KWP))
    loaded = serialization.load_der_private_key(der, None)
    numbers = loaded.public_key().public_numbers()  # type: ignore[union-attr]
    assert numbers.n == int.from_bytes(pub[Attribute.MODULUS], "big")
    assert numbers.e == int.from_bytes(pub[Attribute.PUBLIC_EXPONENT],
                                       "big")
    # Unwrapped again, it signs; cryptography verifies with the original
    # public key.
    twin = kek.unwrap_key(
        ObjectClass.PRIVATE_KEY, KeyType.RSA,
        keywrap.aes_key_wrap_with_padding(KEK, der),
        mechanism=Mechanism.AES_KEY_WRAP_KWP,
        template={**_PRIVATE, Attribute.SIGN: True})
    assert twin[Attribute.MODULUS] == pub[Attribute.MODULUS]
    sig = twin.sign(b"craton", mechanism=Mechanism.SHA256_RSA_PKCS)
    loaded.public_key().verify(  # type: ignore[union-attr, call-arg]
        sig, b"craton", padding.PKCS1v15(), hashes.SHA256())


def test_cbc_pad_unwraps_an_ec_key_that_then_signs(
        session: pkcs11.Session) -> None:
    from cryptography.hazmat.primitives import padding as sym_padding
    from cryptography.hazmat.primitives.asymmetric.utils import (
        encode_dss_signature,
    )

    foreign = ec.generate_private_key(ec.SECP256R1())
    iv = bytes(range(16))
    padder = sym_padding.PKCS7(128).padder()
    plain = padder.update(_pkcs8(foreign)) + padder.finalize()
    enc = Cipher(algorithms.AES(KEK), modes.CBC(iv)).encryptor()
    blob = enc.update(plain) + enc.finalize()
    kek = _aes(session, KEK, "kek")
    key = kek.unwrap_key(ObjectClass.PRIVATE_KEY, KeyType.EC, blob,
                         mechanism=Mechanism.AES_CBC_PAD,
                         mechanism_param=iv,
                         template={**_PRIVATE, Attribute.SIGN: True})
    assert key[Attribute.EC_PARAMS] == \
        encode_named_curve_parameters("secp256r1")
    sig = key.sign(b"craton", mechanism=Mechanism.ECDSA_SHA256)
    der_sig = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                   int.from_bytes(sig[32:], "big"))
    foreign.public_key().verify(der_sig, b"craton",
                                ec.ECDSA(hashes.SHA256()))


def test_unwrap_with_the_wrong_key_type_is_template_inconsistent(
        session: pkcs11.Session) -> None:
    foreign = ec.generate_private_key(ec.SECP256R1())
    kek = _aes(session, KEK, "kek")
    blob = keywrap.aes_key_wrap_with_padding(KEK, _pkcs8(foreign))
    with pytest.raises(pkcs11.exceptions.TemplateInconsistent):
        kek.unwrap_key(ObjectClass.PRIVATE_KEY, KeyType.RSA, blob,
                       mechanism=Mechanism.AES_KEY_WRAP_KWP,
                       template=_PRIVATE)


@pytest.mark.parametrize("payload", [
    b"not a PrivateKeyInfo at all",
    bytes.fromhex("3003020100"),          # SEQUENCE { INTEGER 0 } only
])
def test_corrupt_pkcs8_is_wrapped_key_invalid(session: pkcs11.Session,
                                              payload: bytes) -> None:
    kek = _aes(session, KEK, "kek")
    blob = keywrap.aes_key_wrap_with_padding(KEK, payload)
    with pytest.raises(pkcs11.exceptions.WrappedKeyInvalid):
        kek.unwrap_key(ObjectClass.PRIVATE_KEY, KeyType.EC, blob,
                       mechanism=Mechanism.AES_KEY_WRAP_KWP,
                       template=_PRIVATE)


def test_pkcs1_rsa_key_is_not_accepted_as_pkcs8(
        session: pkcs11.Session) -> None:
    """The traditional RSAPrivateKey form is not a PrivateKeyInfo."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    traditional = rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption())
    kek = _aes(session, KEK, "kek")
    blob = keywrap.aes_key_wrap_with_padding(KEK, traditional)
    with pytest.raises(pkcs11.exceptions.WrappedKeyInvalid):
        kek.unwrap_key(ObjectClass.PRIVATE_KEY, KeyType.RSA, blob,
                       mechanism=Mechanism.AES_KEY_WRAP_KWP,
                       template=_PRIVATE)


def test_rsa_oaep_and_aes_ecb_do_not_wrap_private_keys(
        session: pkcs11.Session) -> None:
    """RSA OAEP and AES ECB wrap secret keys only (Current Mechanisms
    2.1.8, 2.10): CKR_KEY_NOT_WRAPPABLE for a private key."""
    from pkcs11 import MGF

    pub, priv = session.generate_keypair(
        KeyType.RSA, 2048, store=False,
        public_template={Attribute.WRAP: True},
        private_template={Attribute.EXTRACTABLE: True})
    with pytest.raises(pkcs11.exceptions.KeyNotWrappable):
        pub.wrap_key(priv, mechanism=Mechanism.RSA_PKCS_OAEP,
                     mechanism_param=(Mechanism.SHA256, MGF.SHA256, None))
    kek = _aes(session, KEK, "kek")
    with pytest.raises(pkcs11.exceptions.KeyNotWrappable):
        kek.wrap_key(priv, mechanism=Mechanism.AES_ECB)


def test_rsa_oaep_secret_too_long_is_key_size_range(
        session: pkcs11.Session) -> None:
    from pkcs11 import MGF

    pub, _ = session.generate_keypair(
        KeyType.RSA, 2048, store=False,
        public_template={Attribute.WRAP: True})
    big = session.create_object({
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
        Attribute.VALUE: bytes(range(256)) * 2,
        # Not sensitive: a sensitive 256-bit-strong key would already be
        # refused by the wrapping policy (WRAPPING_KEY_SIZE_RANGE).
        Attribute.SENSITIVE: False,
        Attribute.EXTRACTABLE: True, Attribute.TOKEN: False})
    with pytest.raises(pkcs11.exceptions.KeySizeRange):
        pub.wrap_key(big, mechanism=Mechanism.RSA_PKCS_OAEP,
                     mechanism_param=(Mechanism.SHA256, MGF.SHA256, None))


# --- AES ECB / CBC / CBC_PAD / GCM as wrapping mechanisms -----------------

AES192 = bytes(range(100, 124))


@pytest.mark.parametrize("mech", [Mechanism.AES_ECB, Mechanism.AES_CBC])
def test_ecb_cbc_wrap_zero_pads_and_unwrap_cuts_to_value_len(
        session: pkcs11.Session, mech: Mechanism) -> None:
    """Current Mechanisms 2.10: the value is padded with zero bytes to a
    block multiple; unwrapping cuts it back to CKA_VALUE_LEN."""
    iv = bytes(16)
    mode = modes.ECB() if mech == Mechanism.AES_ECB else modes.CBC(iv)
    param = None if mech == Mechanism.AES_ECB else iv
    kek = _aes(session, KEK256, "kek")
    target = _aes(session, AES192, "aes192")
    wrapped = kek.wrap_key(target, mechanism=mech, mechanism_param=param)
    enc = Cipher(algorithms.AES(KEK256), mode).encryptor()
    assert wrapped == enc.update(AES192 + bytes(8)) + enc.finalize()
    key = kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, wrapped,
                         mechanism=mech, mechanism_param=param,
                         template={Attribute.VALUE_LEN: 24,
                                   Attribute.ENCRYPT: True,
                                   Attribute.TOKEN: False})
    block = bytes(range(16))
    assert key.encrypt(block, mechanism=Mechanism.AES_ECB) == \
        _ecb(AES192, block)
    with pytest.raises(pkcs11.exceptions.TemplateIncomplete):
        kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, wrapped,
                       mechanism=mech, mechanism_param=param,
                       template={Attribute.TOKEN: False})
    with pytest.raises(pkcs11.exceptions.WrappedKeyLenRange):
        kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, wrapped[:-1],
                       mechanism=mech, mechanism_param=param,
                       template={Attribute.VALUE_LEN: 24,
                                 Attribute.TOKEN: False})


def test_cbc_pad_wrap_is_pkcs7_cbc(session: pkcs11.Session) -> None:
    from cryptography.hazmat.primitives import padding as sym_padding

    iv = bytes(range(16, 32))
    kek = _aes(session, KEK256, "kek")
    target = _aes(session, AES192, "aes192")
    wrapped = kek.wrap_key(target, mechanism=Mechanism.AES_CBC_PAD,
                           mechanism_param=iv)
    dec = Cipher(algorithms.AES(KEK256), modes.CBC(iv)).decryptor()
    unpad = sym_padding.PKCS7(128).unpadder()
    plain = dec.update(wrapped) + dec.finalize()
    assert unpad.update(plain) + unpad.finalize() == AES192
    bad = wrapped[:-16] + bytes(16)
    with pytest.raises(pkcs11.exceptions.WrappedKeyInvalid):
        kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, bad,
                       mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv,
                       template={Attribute.TOKEN: False})


def test_gcm_wrap_is_ciphertext_then_tag(session: pkcs11.Session) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    iv, aad = bytes(range(12)), b"craton wrap"
    param = pkcs11.GCMParams(iv, aad, 128)
    kek = _aes(session, KEK256, "kek")
    target = _aes(session, AES192, "aes192")
    wrapped = kek.wrap_key(target, mechanism=Mechanism.AES_GCM,
                           mechanism_param=param)
    assert wrapped == AESGCM(KEK256).encrypt(iv, AES192, aad)
    key = kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, wrapped,
                         mechanism=Mechanism.AES_GCM, mechanism_param=param,
                         template={Attribute.ENCRYPT: True,
                                   Attribute.TOKEN: False})
    block = bytes(16)
    assert key.encrypt(block, mechanism=Mechanism.AES_ECB) == \
        _ecb(AES192, block)
    tampered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    with pytest.raises(pkcs11.exceptions.WrappedKeyInvalid):
        kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, tampered,
                       mechanism=Mechanism.AES_GCM, mechanism_param=param,
                       template={Attribute.TOKEN: False})


def test_aes_modes_advertise_wrap_and_unwrap(token: pkcs11.Token) -> None:
    wrap = pkcs11.MechanismFlag.WRAP | pkcs11.MechanismFlag.UNWRAP
    for mech in (Mechanism.AES_ECB, Mechanism.AES_CBC,
                 Mechanism.AES_CBC_PAD, Mechanism.AES_GCM):
        assert token.slot.get_mechanism_info(mech).flags & wrap == wrap
    assert not token.slot.get_mechanism_info(Mechanism.AES_CTR).flags & wrap


# --- Wycheproof ecdh_secp256r1_ecpoint_test.json through C_DeriveKey -----

def _wycheproof_ecdh() -> list[dict[str, object]]:
    import json

    from tests.mechanisms.vectors import SHARED

    path = SHARED / "wycheproof" / "ecdh_secp256r1_ecpoint_test.json"
    tests = json.loads(path.read_text())["testGroups"][0]["tests"]
    keep = {"Normal", "CVE-2017-8932", "InvalidCurveAttack",
            "InvalidEncoding"}
    return [t for t in tests if keep & set(t["flags"])][:12]


@pytest.mark.parametrize("case", _wycheproof_ecdh(),
                         ids=lambda c: f"tc{c['tcId']}")
def test_wycheproof_ecdh_p256_ecpoint(session: pkcs11.Session,
                                      case: dict[str, str]) -> None:
    scalar = int(case["private"], 16).to_bytes(32, "big")
    priv = session.create_object({
        Attribute.CLASS: ObjectClass.PRIVATE_KEY,
        Attribute.KEY_TYPE: KeyType.EC, Attribute.TOKEN: False,
        Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1"),
        Attribute.VALUE: scalar, Attribute.DERIVE: True})
    param = (KDF.NULL, b"", bytes.fromhex(case["public"]))
    template = {Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False,
                Attribute.TOKEN: False}
    if case["result"] == "valid":
        key = priv.derive_key(KeyType.GENERIC_SECRET, 256,
                              mechanism_param=param, template=template)
        assert key[Attribute.VALUE] == bytes.fromhex(case["shared"])
    else:
        with pytest.raises(pkcs11.exceptions.MechanismParamInvalid):
            priv.derive_key(KeyType.GENERIC_SECRET, 256,
                            mechanism_param=param, template=template)
