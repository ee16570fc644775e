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

    pub, priv = session.generate_keypair(
        KeyType.RSA, 2048, store=False,
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
