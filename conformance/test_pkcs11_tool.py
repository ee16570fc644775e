"""OpenSC pkcs11-tool driving the built module, outcomes checked by OpenSSL.

Every signature the token makes is verified by `openssl` from the public
key pkcs11-tool exports, every ciphertext the token decrypts was made by
`openssl`, and digests are compared with coreutils.  A pass therefore
means the module agrees with an independent implementation, not merely
with itself.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .conftest import (
    SO_PIN,
    USER_PIN,
    Token,
    init_token,
    openssl,
    require_tool,
)

MESSAGE = b"Craton HSM conformance message\n"
RSA, P256, P384, ED25519 = "01", "02", "03", "04"


@pytest.fixture(scope="module")
def keyed(libpath: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Token:
    """One token holding the four key pairs; tests here only read it."""
    tok = init_token(libpath, tmp_path_factory.mktemp("keyed"), "keyed")
    tok.keypair("rsa:2048", "rsa", RSA)
    tok.keypair("EC:prime256v1", "p256", P256)
    tok.keypair("EC:secp384r1", "p384", P384)
    tok.keypair("EC:edwards25519", "ed25519", ED25519)
    return tok


@pytest.fixture
def msg(tmp_path: Path) -> Path:
    path = tmp_path / "msg.bin"
    path.write_bytes(MESSAGE)
    return path


def sign(tok: Token, key_id: str, mech: str, data: Path,
         *extra: str) -> Path:
    sig = data.with_name(f"{mech}.sig")
    tok.ok("--sign", "--id", key_id, "-m", mech, "-i", data, "-o", sig,
           *extra)
    assert sig.stat().st_size > 0
    return sig


def objects(listing: str, key_id: str) -> list[str]:
    """The --list-objects entries with CKA_ID `key_id` (pkcs11-tool 0.23
    ignores --id when listing, so the filtering happens here)."""
    blocks = re.split(r"\n(?=\S)", listing)
    return [b for b in blocks
            if re.search(rf"^\s+ID:\s+{key_id}$", b, re.MULTILINE)]


def assert_openssl_ok(res_args: tuple[str | Path, ...]) -> None:
    res = openssl(*res_args)
    assert res.rc == 0, res.text
    assert "Verified" in res.text or "Verification Successful" in res.text


# -- token info, slots, mechanisms -----------------------------------------

def test_show_info(token: Token) -> None:
    res = token.ok("--show-info", login=None)
    assert re.search(r"Cryptoki version 3\.0", res.text)
    assert "Craton HSM" in res.text


def test_list_slots(token: Token) -> None:
    res = token.ok("--list-slots", login=None)
    assert "token label        : conformance" in res.text
    assert "token initialized" in res.text
    assert "PIN initialized" in res.text
    assert re.search(r"Slot 1 .*\n\s+token state:\s+uninitialized",
                     res.text)


def test_list_mechanisms(token: Token) -> None:
    res = token.ok("--list-mechanisms", login=None)
    names = set(re.findall(r"^\s+([A-Z0-9-]+)[,\s]", res.stdout.decode(),
                           re.MULTILINE))
    assert {"ECDSA", "ECDSA-SHA256", "RSA-PKCS", "RSA-PKCS-PSS",
            "SHA256-RSA-PKCS-PSS", "RSA-PKCS-OAEP", "AES-GCM", "EDDSA",
            "SHA256", "RSA-PKCS-KEY-PAIR-GEN",
            "ECDSA-KEY-PAIR-GEN"} <= names


# -- token and PIN lifecycle ------------------------------------------------

def test_init_token_on_blank_slot(blank_dir: Token) -> None:
    before = blank_dir.tool("--list-slots", slot=True)
    assert re.search(r"Slot 0 .*\n\s+token state:\s+uninitialized",
                     before.text)
    tok = init_token(blank_dir.lib, blank_dir.data_dir, "fresh")
    res = tok.ok("--list-token-slots", login=None)
    assert "token label        : fresh" in res.text
    assert "PIN initialized" in res.text


def test_init_pin_allows_user_login(blank_dir: Token) -> None:
    tok = Token(blank_dir.lib, blank_dir.data_dir, "nopin")
    assert tok.tool("--init-token", "--label", "nopin", "--so-pin", SO_PIN,
                    slot=True).rc == 0
    no_pin = tok.tool("--list-objects", login=USER_PIN)
    assert no_pin.rc != 0
    assert "CKR_USER_PIN_NOT_INITIALIZED" in no_pin.text
    res = tok.tool("--init-pin", "--login", "--so-pin", SO_PIN,
                   "--pin", USER_PIN)
    assert res.rc == 0 and "User PIN successfully initialized" in res.text
    assert tok.ok("--list-objects").rc == 0


def test_login_reveals_private_objects(token: Token, msg: Path) -> None:
    token.ok("--write-object", msg, "--type", "data", "--label", "secret",
             "--private")
    public_view = token.ok("--list-objects", login=None)
    assert "secret" not in public_view.text
    user_view = token.ok("--list-objects")
    assert "label:          'secret'" in user_view.text


def test_wrong_pin_is_pin_incorrect(token: Token) -> None:
    res = token.tool("--list-objects", login="9999")
    assert res.rc != 0
    assert "CKR_PIN_INCORRECT" in res.text


def test_change_pin(token: Token) -> None:
    res = token.ok("--change-pin", "--new-pin", "4321")
    assert "PIN successfully changed" in res.text
    assert token.tool("--list-objects", login="4321").rc == 0
    old = token.tool("--list-objects", login=USER_PIN)
    assert old.rc != 0
    assert "CKR_PIN_INCORRECT" in old.text


# -- key generation ----------------------------------------------------------

@pytest.mark.parametrize(("key_id", "expected"), [
    (RSA, r"Public Key Object; RSA 2048 bits"),
    (P256, r"EC_PARAMS:\s+06082a8648ce3d030107"),
    (P384, r"EC_PARAMS:\s+06052b81040022"),
    (ED25519, r"Public Key Object; EC_EDWARDS"),
])
def test_keypairgen_listed(keyed: Token, key_id: str, expected: str) -> None:
    entries = objects(keyed.ok("--list-objects").text, key_id)
    (pub,) = [e for e in entries if e.startswith("Public Key Object;")]
    (priv,) = [e for e in entries if e.startswith("Private Key Object;")]
    assert re.search(expected, pub)
    assert "never extractable" in priv


def test_list_objects_counts(keyed: Token) -> None:
    res = keyed.ok("--list-objects")
    assert res.text.count("Private Key Object") == 4
    assert res.text.count("Public Key Object") == 4
    public = keyed.ok("--list-objects", login=None)
    assert public.text.count("Private Key Object") == 0
    assert public.text.count("Public Key Object") == 4


# -- signatures, checked by openssl -----------------------------------------

def test_rsa_pkcs_sign(keyed: Token, msg: Path) -> None:
    pub = keyed.public_key(RSA, msg.with_name("rsa.der"))
    sig = sign(keyed, RSA, "RSA-PKCS", msg)
    assert sig.stat().st_size == 256
    assert_openssl_ok(("pkeyutl", "-verify", "-pubin", "-keyform", "DER",
                       "-inkey", pub, "-in", msg, "-sigfile", sig))
    keyed.ok("--verify", "--id", RSA, "-m", "RSA-PKCS", "-i", msg,
             "--signature-file", sig)


def test_sha256_rsa_pss_sign(keyed: Token, msg: Path) -> None:
    pub = keyed.public_key(RSA, msg.with_name("rsa.der"))
    sig = sign(keyed, RSA, "SHA256-RSA-PKCS-PSS", msg)
    assert_openssl_ok(("dgst", "-sha256", "-verify", pub, "-keyform", "DER",
                       "-sigopt", "rsa_padding_mode:pss",
                       "-sigopt", "rsa_pss_saltlen:32",
                       "-signature", sig, msg))


def test_raw_rsa_pss_sign(keyed: Token, msg: Path) -> None:
    pub = keyed.public_key(RSA, msg.with_name("rsa.der"))
    digest = msg.with_name("msg.sha256")
    digest.write_bytes(hashlib.sha256(MESSAGE).digest())
    sig = sign(keyed, RSA, "RSA-PKCS-PSS", digest,
               "--hash-algorithm", "SHA256", "--mgf", "MGF1-SHA256")
    assert_openssl_ok(("pkeyutl", "-verify", "-pubin", "-keyform", "DER",
                       "-inkey", pub, "-in", digest, "-sigfile", sig,
                       "-pkeyopt", "digest:sha256",
                       "-pkeyopt", "rsa_padding_mode:pss",
                       "-pkeyopt", "rsa_pss_saltlen:32"))


def test_raw_ecdsa_sign(keyed: Token, msg: Path) -> None:
    pub = keyed.public_key(P256, msg.with_name("p256.der"))
    digest = msg.with_name("msg.sha256")
    digest.write_bytes(hashlib.sha256(MESSAGE).digest())
    sig = sign(keyed, P256, "ECDSA", digest, "--signature-format", "openssl")
    assert_openssl_ok(("pkeyutl", "-verify", "-pubin", "-keyform", "DER",
                       "-inkey", pub, "-in", digest, "-sigfile", sig))


def test_ecdsa_sha256_sign(keyed: Token, msg: Path) -> None:
    pub = keyed.public_key(P256, msg.with_name("p256.der"))
    sig = sign(keyed, P256, "ECDSA-SHA256", msg,
               "--signature-format", "openssl")
    assert_openssl_ok(("dgst", "-sha256", "-verify", pub, "-keyform", "DER",
                       "-signature", sig, msg))
    keyed.ok("--verify", "--id", P256, "-m", "ECDSA-SHA256", "-i", msg,
             "--signature-file", sig, "--signature-format", "openssl")


def test_ecdsa_p384_sign(keyed: Token, msg: Path) -> None:
    # OpenSC 0.23 cannot export P-384 public keys ("cannot create
    # EVP_PKEY", SoftHSM2 too), so build the SPKI from CKA_EC_POINT.
    listing = keyed.ok("--list-objects", "--type", "pubkey").text
    (entry,) = objects(listing, P384)
    point_der = bytes.fromhex(re.search(r"EC_POINT:\s+([0-9a-f]+)", entry)[1])
    assert point_der[:2] == b"\x04\x61"
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(),
                                                       point_der[2:])
    pub = msg.with_name("p384.der")
    pub.write_bytes(key.public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo))
    sig = sign(keyed, P384, "ECDSA-SHA384", msg,
               "--signature-format", "openssl")
    assert_openssl_ok(("dgst", "-sha384", "-verify", pub, "-keyform", "DER",
                       "-signature", sig, msg))


def test_ed25519_sign(keyed: Token, msg: Path) -> None:
    # pkcs11-tool writes EdDSA public keys as PEM.
    pub = keyed.public_key(ED25519, msg.with_name("ed.pem"))
    sig = sign(keyed, ED25519, "EDDSA", msg)
    assert sig.stat().st_size == 64
    assert_openssl_ok(("pkeyutl", "-verify", "-pubin", "-inkey", pub,
                       "-rawin", "-in", msg, "-sigfile", sig))


def test_tampered_signature_rejected(keyed: Token, msg: Path) -> None:
    sig = sign(keyed, P256, "ECDSA-SHA256", msg,
               "--signature-format", "openssl")
    other = msg.with_name("other.bin")
    other.write_bytes(MESSAGE + b"!")
    res = keyed.tool("--verify", "--id", P256, "-m", "ECDSA-SHA256",
                     "-i", other, "--signature-file", sig,
                     "--signature-format", "openssl", login=USER_PIN)
    # pkcs11-tool prints exactly this when C_Verify returns
    # CKR_SIGNATURE_INVALID; any other error aborts with the CKR name.
    assert res.stdout.decode().strip() == "Invalid signature"


# -- decryption, digest, random ----------------------------------------------

def test_rsa_oaep_sha256_decrypt(keyed: Token, msg: Path) -> None:
    pub = keyed.public_key(RSA, msg.with_name("rsa.der"))
    ct = msg.with_name("ct.bin")
    enc = openssl("pkeyutl", "-encrypt", "-pubin", "-keyform", "DER",
                  "-inkey", pub, "-in", msg, "-out", ct,
                  "-pkeyopt", "rsa_padding_mode:oaep",
                  "-pkeyopt", "rsa_oaep_md:sha256",
                  "-pkeyopt", "rsa_mgf1_md:sha256")
    assert enc.rc == 0, enc.text
    out = msg.with_name("pt.bin")
    keyed.ok("--decrypt", "--id", RSA, "-m", "RSA-PKCS-OAEP",
             "--hash-algorithm", "SHA256", "--mgf", "MGF1-SHA256",
             "-i", ct, "-o", out)
    assert out.read_bytes() == MESSAGE


def test_hash_matches_sha256sum(token: Token, msg: Path) -> None:
    res = token.ok("--hash", "-m", "SHA256", "-i", msg, login=None)
    coreutils = subprocess.run([require_tool("sha256sum"), str(msg)],
                               capture_output=True, text=True, check=True)
    assert res.stdout.hex() == coreutils.stdout.split()[0]


def test_generate_random(token: Token, tmp_path: Path) -> None:
    first, second = tmp_path / "r1", tmp_path / "r2"
    token.ok("--generate-random", "32", "-o", first, login=None)
    token.ok("--generate-random", "32", "-o", second, login=None)
    assert len(first.read_bytes()) == 32
    assert first.read_bytes() != second.read_bytes()


# -- data objects and certificates ------------------------------------------

def test_data_object_roundtrip(token: Token, msg: Path) -> None:
    token.ok("--write-object", msg, "--type", "data", "--label", "blob")
    back = msg.with_name("back.bin")
    token.ok("--read-object", "--type", "data", "--label", "blob",
             "-o", back)
    assert back.read_bytes() == MESSAGE
    token.ok("--delete-object", "--type", "data", "--label", "blob")
    gone = token.tool("--read-object", "--type", "data", "--label", "blob",
                      "-o", back, login=USER_PIN)
    assert gone.rc != 0 and "object not found" in gone.text


def test_certificate_roundtrip(token: Token, tmp_path: Path) -> None:
    cert = tmp_path / "cert.der"
    made = openssl("req", "-x509", "-newkey", "ec",
                   "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                   "-keyout", tmp_path / "key.pem", "-subj", "/CN=stored",
                   "-days", "1", "-outform", "DER", "-out", cert)
    assert made.rc == 0, made.text
    res = token.ok("--write-object", cert, "--type", "cert",
                   "--id", "10", "--label", "stored")
    assert "subject:    DN: CN=stored" in res.text
    back = tmp_path / "back.der"
    token.ok("--read-object", "--type", "cert", "--id", "10", "-o", back,
             login=None)
    assert back.read_bytes() == cert.read_bytes()
    token.ok("--delete-object", "--type", "cert", "--id", "10")
    listing = token.ok("--list-objects", "--type", "cert")
    assert "Certificate Object" not in listing.text


# -- pkcs11-tool's own self test ---------------------------------------------

def test_pkcs11_tool_self_test(make_token: Callable[[str], Token]) -> None:
    tok = make_token("selftest")
    tok.keypair("rsa:2048", "rsa", RSA)
    tok.keypair("EC:prime256v1", "p256", P256)
    res = tok.tool("--test", login=USER_PIN)
    assert res.rc == 0, res.text
    assert "No errors" in res.text
    assert "RSA-PKCS-OAEP" in res.text
