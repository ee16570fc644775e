# ruff: noqa: F811 - pytest fixtures imported by name are parameters
"""Key derivation through python-pkcs11 (its own AES_*_ENCRYPT_DATA
parameter marshalling, raw parameters for the rest), each result
checked against ``cryptography`` or a published vector."""

from __future__ import annotations

import ctypes
import struct

import pkcs11
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from conformance.test_python_pkcs11 import (  # noqa: F401 - fixtures
    lib,
    session,
    token,
)

CKZ_SALT_SPECIFIED = 1
CKP_PKCS5_PBKD2_HMAC_SHA256 = 4


def _secret(s: pkcs11.Session, value: bytes,
            key_type: KeyType = KeyType.GENERIC_SECRET) -> pkcs11.SecretKey:
    return s.create_object({  # type: ignore[return-value]
        Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: key_type,
        Attribute.VALUE: value, Attribute.DERIVE: True,
        Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True,
        Attribute.TOKEN: False})


def _open(extra: dict[Attribute, object] | None = None) -> dict:
    t: dict[Attribute, object] = {Attribute.SENSITIVE: False,
                                  Attribute.EXTRACTABLE: True,
                                  Attribute.TOKEN: False}
    t.update(extra or {})
    return t


def test_aes_ecb_and_cbc_encrypt_data(session: pkcs11.Session) -> None:
    key = bytes(range(32))
    data = bytes(range(100, 132))
    base = _secret(session, key, KeyType.AES)
    ecb = base.derive_key(KeyType.AES, 256,
                          mechanism=Mechanism.AES_ECB_ENCRYPT_DATA,
                          mechanism_param=data, template=_open())
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    assert ecb[Attribute.VALUE] == enc.update(data) + enc.finalize()
    iv = bytes(16 * [7])
    cbc = base.derive_key(KeyType.GENERIC_SECRET, 20 * 8,
                          mechanism=Mechanism.AES_CBC_ENCRYPT_DATA,
                          mechanism_param=(iv, data), template=_open())
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    assert cbc[Attribute.VALUE] == (enc.update(data) + enc.finalize())[:20]


def test_concatenate_base_and_key_and_extract(session: pkcs11.Session
                                              ) -> None:
    a = _secret(session, b"A" * 16)
    b = _secret(session, b"B" * 8)
    handle = struct.pack("L", b.handle)
    both = a.derive_key(KeyType.GENERIC_SECRET, 24 * 8,
                        mechanism=Mechanism.CONCATENATE_BASE_AND_KEY,
                        mechanism_param=handle, template=_open())
    assert both[Attribute.VALUE] == b"A" * 16 + b"B" * 8
    # PKCS#11 Current Mechanisms' CKM_EXTRACT_KEY_FROM_KEY example.
    spec = _secret(session, bytes.fromhex("329F84A9"))
    got = spec.derive_key(KeyType.GENERIC_SECRET, 16,
                          mechanism=Mechanism.EXTRACT_KEY_FROM_KEY,
                          mechanism_param=struct.pack("L", 21),
                          template=_open())
    assert got[Attribute.VALUE] == bytes.fromhex("9526")


class _Pbkd2Params2(ctypes.Structure):
    """CK_PKCS5_PBKD2_PARAMS2 (python-pkcs11 has no marshalling for it;
    CKM_HKDF_* and CKM_SP800_108_* are not in its Mechanism enum at all,
    so those run through cffi in tests/mechanisms/test_kdf_so.py)."""

    _fields_ = [("saltSource", ctypes.c_ulong),
                ("pSaltSourceData", ctypes.c_char_p),
                ("ulSaltSourceDataLen", ctypes.c_ulong),
                ("iterations", ctypes.c_ulong), ("prf", ctypes.c_ulong),
                ("pPrfData", ctypes.c_void_p), ("ulPrfDataLen", ctypes.c_ulong),
                ("pPassword", ctypes.c_char_p),
                ("ulPasswordLen", ctypes.c_ulong)]


class _StringData(ctypes.Structure):
    _fields_ = [("pData", ctypes.c_char_p), ("ulLen", ctypes.c_ulong)]


def test_pbkd2_generate_key_matches_cryptography(session: pkcs11.Session
                                                 ) -> None:
    password, salt = b"correct horse", b"NaCl-salt-16byte"
    p = _Pbkd2Params2(CKZ_SALT_SPECIFIED, salt, len(salt), 1000,
                      CKP_PKCS5_PBKD2_HMAC_SHA256, None, 0, password,
                      len(password))
    key = session.generate_key(KeyType.AES, 256,
                               mechanism=Mechanism.PKCS5_PBKD2,
                               mechanism_param=bytes(p),
                               # PBKD2 makes any key type: the template
                               # must name it (python-pkcs11 does not).
                               template=_open({Attribute.KEY_TYPE:
                                               KeyType.AES}))
    want = PBKDF2HMAC(hashes.SHA256(), 32, salt, 1000).derive(password)
    assert key[Attribute.VALUE] == want
    block = bytes(16)
    enc = Cipher(algorithms.AES(want), modes.ECB()).encryptor()
    assert key.encrypt(block, mechanism=Mechanism.AES_ECB) == \
        enc.update(block) + enc.finalize()


def test_xor_base_and_data(session: pkcs11.Session) -> None:
    base = _secret(session, bytes(range(16)))
    data = b"\xff" * 12
    p = _StringData(data, len(data))
    key = base.derive_key(KeyType.GENERIC_SECRET, 12 * 8,
                          mechanism=Mechanism.XOR_BASE_AND_DATA,
                          mechanism_param=bytes(p), template=_open())
    assert key[Attribute.VALUE] == bytes(b ^ 0xFF for b in range(12))
