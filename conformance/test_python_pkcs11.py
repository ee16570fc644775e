"""python-pkcs11 scenarios against build/libcraton_hsm.so (black box).

python-pkcs11 keeps one loaded library per process, so each test gets a
fresh token by finalising that library, initialising a new data directory
with pkcs11-tool (a separate process), pointing CRATON_HSM_DATA_DIR at it
and initialising again (the module reads its configuration in
C_Initialize).  Anything that needs a second, independent load of the
module runs in a subprocess.  Results are checked with ``cryptography``,
``hmac`` and ``hashlib``, never with the token itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pkcs11
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.hazmat.primitives.asymmetric import rsa as crsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.padding import PKCS7
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

ROOT = Path(__file__).resolve().parents[1]
SO = ROOT / "build" / "libcraton_hsm.so"
SO_PIN = "12345678"
USER_PIN = "1234"
LABEL = "conformance"


def _tool() -> str:
    path = shutil.which("pkcs11-tool")
    if path is None:
        pytest.fail("pkcs11-tool (Debian package opensc) is required; "
                    "`make test` installs it")
    return path


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "CRATON_HSM_DATA_DIR": str(data_dir)}


def init_token(data_dir: Path, slot: int, label: str,
               user_pin: str | None = USER_PIN) -> None:
    """C_InitToken (and the user PIN) through pkcs11-tool."""
    tool = _tool()
    base = [tool, "--module", str(SO), "--slot", str(slot)]
    steps = [base + ["--init-token", "--label", label, "--so-pin", SO_PIN]]
    if user_pin is not None:
        steps.append(base + ["--init-pin", "--login", "--so-pin", SO_PIN,
                             "--pin", user_pin])
    for cmd in steps:
        done = subprocess.run(cmd, check=False, capture_output=True,
                              text=True, env=_env(data_dir), timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr


def run_child(data_dir: Path, code: str) -> object:
    """Run ``code`` in a fresh Python process that loads the module once;
    it prints one JSON value, which is returned."""
    prelude = (f"import json, pkcs11\n"
               f"lib = pkcs11.lib({str(SO)!r})\n")
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        check=False, capture_output=True, text=True, env=_env(data_dir),
        timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def lib() -> pkcs11.lib:
    if not SO.exists():
        subprocess.run(["make", "-C", str(ROOT), "build"], check=True)
    return pkcs11.lib(str(SO))


@pytest.fixture
def token(lib: pkcs11.lib, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[pkcs11.Token]:
    """A freshly initialised token in slot 0 of this test's own data
    directory, seen through the process-wide python-pkcs11 library."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    init_token(data_dir, 0, LABEL)
    lib.finalize()
    monkeypatch.setenv("CRATON_HSM_DATA_DIR", str(data_dir))
    lib.initialize()
    yield lib.get_token(token_label=LABEL)
    lib.finalize()


@pytest.fixture
def session(token: pkcs11.Token) -> Iterator[pkcs11.Session]:
    with token.open(rw=True, user_pin=USER_PIN) as s:
        yield s


# --- symmetric -----------------------------------------------------------

def _extractable_aes(session: pkcs11.Session) -> pkcs11.SecretKey:
    return session.generate_key(
        KeyType.AES, 256, label="aes",
        template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False})


def test_aes_gcm_round_trip_matches_cryptography(session):
    key = _extractable_aes(session)
    value = key[Attribute.VALUE]
    assert len(value) == 32
    nonce, aad, msg = bytes(range(12)), b"header", b"attack at dawn" * 5
    ct = key.encrypt(msg, mechanism=Mechanism.AES_GCM,
                     mechanism_param=pkcs11.GCMParams(nonce, aad, 128))
    assert AESGCM(value).decrypt(nonce, ct, aad) == msg
    assert key.decrypt(ct, mechanism=Mechanism.AES_GCM,
                       mechanism_param=pkcs11.GCMParams(nonce, aad)) == msg


def test_aes_cbc_pad_round_trip_matches_cryptography(session):
    key = _extractable_aes(session)
    iv, msg = bytes(16), b"seventeen bytes!!"
    ct = key.encrypt(msg, mechanism=Mechanism.AES_CBC_PAD,
                     mechanism_param=iv)
    assert len(ct) == 32
    dec = Cipher(algorithms.AES(key[Attribute.VALUE]),
                 modes.CBC(iv)).decryptor()
    unpad = PKCS7(128).unpadder()
    plain = unpad.update(dec.update(ct) + dec.finalize()) + unpad.finalize()
    assert plain == msg
    assert key.decrypt(ct, mechanism=Mechanism.AES_CBC_PAD,
                       mechanism_param=iv) == msg


def test_hmac_sha256_matches_python_hmac(session):
    key = session.generate_key(
        KeyType.GENERIC_SECRET, 256, label="mac",
        template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False,
                  Attribute.SIGN: True, Attribute.VERIFY: True})
    msg = b"message to authenticate"
    mac = key.sign(msg, mechanism=Mechanism.SHA256_HMAC)
    expected = hmac.new(key[Attribute.VALUE], msg, "sha256").digest()
    assert hmac.compare_digest(mac, expected)
    assert key.verify(msg, mac, mechanism=Mechanism.SHA256_HMAC)


# --- asymmetric ----------------------------------------------------------

def _rsa_public(pub: pkcs11.PublicKey) -> crsa.RSAPublicKey:
    n = int.from_bytes(pub[Attribute.MODULUS], "big")
    e = int.from_bytes(pub[Attribute.PUBLIC_EXPONENT], "big")
    return crsa.RSAPublicNumbers(e, n).public_key()


def test_rsa_pkcs1_and_pss_signatures_verify_with_cryptography(session):
    pub, priv = session.generate_keypair(KeyType.RSA, 2048, label="rsa")
    public = _rsa_public(pub)
    assert public.key_size == 2048
    msg = b"signed by the token"
    sig = priv.sign(msg, mechanism=Mechanism.SHA256_RSA_PKCS)
    public.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
    pss = priv.sign(msg, mechanism=Mechanism.SHA256_RSA_PKCS_PSS,
                    mechanism_param=(Mechanism.SHA256,
                                     pkcs11.MGF.SHA256, 32))
    public.verify(pss, msg,
                  padding.PSS(padding.MGF1(hashes.SHA256()), 32),
                  hashes.SHA256())
    with pytest.raises(InvalidSignature):
        public.verify(sig, msg + b"!", padding.PKCS1v15(), hashes.SHA256())


def test_rsa_oaep_ciphertext_from_cryptography_decrypts_on_token(session):
    pub, priv = session.generate_keypair(KeyType.RSA, 2048, label="oaep")
    msg = b"wrapped secret"
    ct = _rsa_public(pub).encrypt(msg, padding.OAEP(
        padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    plain = priv.decrypt(ct, mechanism=Mechanism.RSA_PKCS_OAEP,
                         mechanism_param=(Mechanism.SHA256,
                                          pkcs11.MGF.SHA256, None))
    assert plain == msg


def test_ecdsa_p256_signature_verifies_with_cryptography(session):
    params = encode_named_curve_parameters("1.2.840.10045.3.1.7")
    pub, priv = session.generate_keypair(
        KeyType.EC, public_template={Attribute.EC_PARAMS: params},
        label="p256")
    point = pub[Attribute.EC_POINT]
    # CKA_EC_POINT is a DER OCTET STRING around the X9.62 point.
    assert point[0] == 0x04 and point[1] == 65
    public = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), point[2:])
    msg = b"ecdsa message"
    raw = priv.sign(msg, mechanism=Mechanism.ECDSA_SHA256)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                               int.from_bytes(raw[32:], "big"))
    public.verify(der, msg, ec.ECDSA(hashes.SHA256()))


def test_ed25519_signature_verifies_with_cryptography(session):
    params = encode_named_curve_parameters("1.3.101.112")
    pub, priv = session.generate_keypair(
        KeyType.EC_EDWARDS, public_template={Attribute.EC_PARAMS: params},
        label="ed25519")
    point = pub[Attribute.EC_POINT]
    raw = point[2:] if len(point) == 34 else point
    public = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    msg = b"edwards"
    sig = priv.sign(msg, mechanism=Mechanism.EDDSA)
    assert len(sig) == 64
    public.verify(sig, msg)


# --- digests and random --------------------------------------------------

@pytest.mark.parametrize(("mech", "name"), [
    (Mechanism.SHA256, "sha256"), (Mechanism.SHA3_256, "sha3_256")])
def test_digest_matches_hashlib(session, mech, name):
    data = b"abc" * 1000
    assert session.digest(data, mechanism=mech) == \
        hashlib.new(name, data).digest()


def test_generate_random_returns_requested_distinct_bytes(session):
    a, b = session.generate_random(256), session.generate_random(256)
    assert len(a) == len(b) == 32
    assert a != b


# --- objects and access control ------------------------------------------

def test_find_objects_by_label_id_and_class(session):
    key = session.generate_key(KeyType.AES, 128, label="findme",
                               id=b"\x01\x02", store=True)
    session.generate_key(KeyType.AES, 128, label="other", id=b"\x09",
                         store=True)
    by_label = list(session.get_objects({Attribute.LABEL: "findme"}))
    by_id = list(session.get_objects({Attribute.ID: b"\x01\x02"}))
    assert [o[Attribute.LABEL] for o in by_label] == ["findme"]
    assert [o[Attribute.LABEL] for o in by_id] == ["findme"]
    secret = list(session.get_objects(
        {Attribute.CLASS: ObjectClass.SECRET_KEY}))
    assert sorted(o[Attribute.LABEL] for o in secret) == ["findme", "other"]
    assert session.get_key(label="findme")[Attribute.ID] == key[Attribute.ID]


def test_private_objects_invisible_before_login(token):
    with token.open(rw=True, user_pin=USER_PIN) as s:
        s.generate_key(KeyType.AES, 128, label="private", store=True,
                       template={Attribute.PRIVATE: True})
        s.create_object({Attribute.CLASS: ObjectClass.DATA,
                         Attribute.TOKEN: True, Attribute.PRIVATE: False,
                         Attribute.LABEL: "public", Attribute.VALUE: b"x"})
    with token.open() as anonymous:
        labels = [o[Attribute.LABEL] for o in anonymous.get_objects()]
    assert labels == ["public"]


def test_sensitive_key_value_is_not_readable(session):
    key = session.generate_key(KeyType.AES, 256, label="sensitive",
                               template={Attribute.SENSITIVE: True})
    assert key[Attribute.SENSITIVE] is True
    with pytest.raises(pkcs11.AttributeSensitive):
        key[Attribute.VALUE]


def test_session_object_vanishes_with_its_session(token):
    with token.open(rw=True, user_pin=USER_PIN) as s:
        s.generate_key(KeyType.AES, 128, label="ephemeral", store=False)
        assert len(list(s.get_objects({Attribute.LABEL: "ephemeral"}))) == 1
    with token.open(rw=True, user_pin=USER_PIN) as s:
        assert list(s.get_objects({Attribute.LABEL: "ephemeral"})) == []


# --- persistence and slot isolation (separate processes) -----------------

def test_token_object_persists_into_a_second_process(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    init_token(data, 0, "persist")
    created = run_child(data, f"""
        tok = lib.get_token(token_label="persist")
        with tok.open(rw=True, user_pin={USER_PIN!r}) as s:
            k = s.generate_key(pkcs11.KeyType.AES, 256, label="kept",
                               id=b"\\x42", store=True)
            ct = k.encrypt(b"sixteen byte msg",
                           mechanism=pkcs11.Mechanism.AES_ECB)
        print(json.dumps(ct.hex()))
    """)
    seen = run_child(data, f"""
        tok = lib.get_token(token_label="persist")
        with tok.open(user_pin={USER_PIN!r}) as s:
            k = s.get_key(label="kept")
            pt = k.decrypt(bytes.fromhex({created!r}),
                           mechanism=pkcs11.Mechanism.AES_ECB)
            print(json.dumps([k[pkcs11.Attribute.ID].hex(), pt.decode()]))
    """)
    assert seen == ["42", "sixteen byte msg"]


def test_init_token_in_slot_0_leaves_slot_1_untouched(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    init_token(data, 1, "slot-one")
    report = f"""
        out = {{}}
        for slot in lib.get_slots():
            tok = slot.get_token()
            out[str(slot.slot_id)] = [tok.label, tok.serial.hex()]
        tok = lib.get_token(token_label="slot-one")
        with tok.open(user_pin={USER_PIN!r}) as s:
            objs = [o[pkcs11.Attribute.VALUE].hex()
                    for o in s.get_objects({{pkcs11.Attribute.LABEL: "mine"}})]
        out["objects"] = objs
        print(json.dumps(out))
    """
    run_child(data, f"""
        tok = lib.get_token(token_label="slot-one")
        with tok.open(rw=True, user_pin={USER_PIN!r}) as s:
            s.create_object({{pkcs11.Attribute.CLASS: pkcs11.ObjectClass.DATA,
                             pkcs11.Attribute.TOKEN: True,
                             pkcs11.Attribute.LABEL: "mine",
                             pkcs11.Attribute.VALUE: b"slot one data"}})
        print(json.dumps(True))
    """)
    before = run_child(data, report)
    init_token(data, 0, "slot-zero", user_pin=None)
    after = run_child(data, report)
    assert before["objects"] == after["objects"] == [b"slot one data".hex()]
    assert after["1"] == before["1"]
    assert after["1"][0] == "slot-one"
    assert after["0"][0] == "slot-zero"
    assert after["0"][1] != after["1"][1]
