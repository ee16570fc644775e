"""PyKCS11 (SWIG over the C API) scenarios against the module.

conformance/pykcs11_client.py runs every scenario in one child process
with one login (PIN hashing costs ~0.1 s per login) and prints JSON; each
test here checks one part of it with `cryptography` and `hashlib`, never
with the token.  The child is a separate process so PyKCS11's load of the
module never meets python-pkcs11's load in the pytest process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.padding import PKCS7

from .conftest import USER_PIN, Token, init_token

CLIENT = Path(__file__).with_name("pykcs11_client.py")
MSG = b"PyKCS11 drives the C API"
OAEP_SECRET = b"oaep secret"


def _int(v: int) -> str:
    return v.to_bytes((v.bit_length() + 7) // 8, "big").hex()


@pytest.fixture(scope="module")
def run(libpath: Path, tmp_path_factory: pytest.TempPathFactory
        ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(inputs, outputs) of one child run on a fresh token."""
    tok: Token = init_token(libpath, tmp_path_factory.mktemp("pykcs11"),
                            "pykcs11")
    key = rsa.generate_private_key(65537, 2048)
    nums = key.private_numbers()
    pub = nums.public_numbers
    inputs: dict[str, Any] = {
        "module": str(libpath), "pin": USER_PIN, "message": MSG.hex(),
        "rsa_private": {
            "CKA_MODULUS": _int(pub.n), "CKA_PUBLIC_EXPONENT": _int(pub.e),
            "CKA_PRIVATE_EXPONENT": _int(nums.d),
            "CKA_PRIME_1": _int(nums.p), "CKA_PRIME_2": _int(nums.q),
            "CKA_EXPONENT_1": _int(nums.dmp1),
            "CKA_EXPONENT_2": _int(nums.dmq1),
            "CKA_COEFFICIENT": _int(nums.iqmp)},
        "oaep_ciphertext": key.public_key().encrypt(
            OAEP_SECRET, padding.OAEP(padding.MGF1(hashes.SHA256()),
                                      hashes.SHA256(), None)).hex(),
        "aes_key": os.urandom(32).hex(), "iv": os.urandom(12).hex(),
        "inner_key": os.urandom(16).hex()}
    done = subprocess.run([sys.executable, str(CLIENT)],
                          input=json.dumps(inputs), text=True,
                          capture_output=True, env=tok.env, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return inputs, json.loads(done.stdout)


def test_info_token_and_mechanisms(run: tuple[dict[str, Any],
                                              dict[str, Any]]) -> None:
    _, out = run
    assert out["info"]["cryptokiVersion"][0] >= 2
    assert out["info"]["manufacturerID"] == "Craton HSM"
    assert out["token"]["label"] == "pykcs11"
    # CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED
    assert out["token"]["flags"] & 0x4 and out["token"]["flags"] & 0x8
    assert out["token"]["flags"] & 0x400
    assert {"CKM_RSA_PKCS_OAEP", "CKM_ECDSA_SHA256", "CKM_AES_GCM",
            "CKM_AES_KEY_WRAP"} <= set(out["mechanisms"])


def test_rsa_signatures_verify(run: tuple[dict[str, Any],
                                          dict[str, Any]]) -> None:
    _, out = run
    pub = rsa.RSAPublicNumbers(int(out["rsa"]["e"], 16),
                               int(out["rsa"]["n"], 16)).public_key()
    assert pub.key_size == 2048
    pub.verify(bytes.fromhex(out["rsa"]["pkcs1"]), MSG, padding.PKCS1v15(),
               hashes.SHA256())
    pub.verify(bytes.fromhex(out["rsa"]["pss"]), MSG,
               padding.PSS(padding.MGF1(hashes.SHA256()), 32),
               hashes.SHA256())
    # CKA_SENSITIVE, CKA_EXTRACTABLE (default false), CKA_LOCAL
    assert out["rsa"]["private_value"] == ["True", "False", "True"]


def test_ecdsa_signature_verifies(run: tuple[dict[str, Any],
                                             dict[str, Any]]) -> None:
    _, out = run
    point = bytes.fromhex(out["ec"]["point"])
    # CKA_EC_POINT is a DER OCTET STRING around the X9.62 point.
    assert point[:2] == b"\x04\x41"
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                       point[2:])
    sig = bytes.fromhex(out["ec"]["sig"])
    assert len(sig) == 64
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                               int.from_bytes(sig[32:], "big"))
    pub.verify(der, MSG, ec.ECDSA(hashes.SHA256()))


def test_imported_rsa_key_decrypts_oaep(run: tuple[dict[str, Any],
                                                   dict[str, Any]]) -> None:
    _, out = run
    assert bytes.fromhex(out["oaep_plain"]) == OAEP_SECRET


def test_aes_ciphertexts_and_key_wrap(run: tuple[dict[str, Any],
                                                 dict[str, Any]]) -> None:
    inputs, out = run
    key, iv = bytes.fromhex(inputs["aes_key"]), bytes.fromhex(inputs["iv"])
    assert AESGCM(key).decrypt(iv, bytes.fromhex(out["gcm"]),
                               b"pykcs11") == MSG
    dec = Cipher(algorithms.AES(key), modes.CBC(iv[:12] + iv[:4])).decryptor()
    padded = dec.update(bytes.fromhex(out["cbc_pad"])) + dec.finalize()
    unpad = PKCS7(128).unpadder()
    assert unpad.update(padded) + unpad.finalize() == MSG
    # RFC 3394 key wrap
    assert keywrap.aes_key_unwrap(key, bytes.fromhex(out["wrapped"])) \
        == bytes.fromhex(inputs["inner_key"])


def test_digest_and_random(run: tuple[dict[str, Any],
                                      dict[str, Any]]) -> None:
    _, out = run
    assert out["sha256"] == hashlib.sha256(MSG).hexdigest()
    first, second = out["random"]
    assert len(bytes.fromhex(first)) == 32 and first != second


def test_object_management_and_errors(run: tuple[dict[str, Any],
                                                 dict[str, Any]]) -> None:
    _, out = run
    # CKO_PUBLIC_KEY = 2, CKO_PRIVATE_KEY = 3
    assert out["found_pyrsa"] == [2, 3]
    assert out["found_renamed"] == 1
    assert out["after_destroy"] == 1
    # A public key cannot sign: "not the correct type of key to use with
    # the specified mechanism" (PKCS#11 v3.0 5.1.6).
    assert out["sign_with_public"] == "CKR_KEY_TYPE_INCONSISTENT"
    assert out["private_after_logout"] == 0
