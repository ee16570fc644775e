"""OpenSSL 3 with libp11's `pkcs11` engine signing through the module.

`openssl req -x509` makes a self-signed certificate whose signature the
token computes (RFC 7512 URI selects the key).  Plain OpenSSL, with no
engine loaded, then verifies it, and the certificate's public key must be
byte-identical to the token's public key object.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import ENGINE, USER_PIN, Token, clean_env, init_token, openssl

LABEL = "engine"
# libp11 0.4.12 stops enumerating private keys at the first key type it
# does not know (CKK_EC_EDWARDS), so this token holds no Ed25519 key.
KEYS = [
    ("rsa:2048", "rsakey", "11", "sha256WithRSAEncryption"),
    ("EC:prime256v1", "eckey", "12", "ecdsa-with-SHA256"),
]


@pytest.fixture(scope="module")
def engine_token(libpath: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Token:
    if not ENGINE.exists():
        pytest.fail(f"{ENGINE} missing; install libengine-pkcs11-openssl")
    tok = init_token(libpath, tmp_path_factory.mktemp("engine"), LABEL)
    for key_type, label, key_id, _ in KEYS:
        tok.keypair(key_type, label, key_id)
    return tok


def engine_env(tok: Token) -> dict[str, str]:
    """An OPENSSL_CONF that loads the engine with MODULE_PATH = the .so."""
    conf = tok.data_dir / "openssl.cnf"
    conf.write_text(
        "openssl_conf = openssl_init\n"
        "[openssl_init]\nengines = engine_section\n"
        "[engine_section]\npkcs11 = pkcs11_section\n"
        "[pkcs11_section]\nengine_id = pkcs11\n"
        f"dynamic_path = {ENGINE}\nMODULE_PATH = {tok.lib}\ninit = 0\n"
        "[req]\ndistinguished_name = dn\n[dn]\n"
    )
    return clean_env(OPENSSL_CONF=str(conf),
                     CRATON_HSM_DATA_DIR=str(tok.data_dir))


@pytest.mark.parametrize(("key_type", "label", "key_id", "sig_alg"), KEYS,
                         ids=[k[1] for k in KEYS])
def test_self_signed_certificate(engine_token: Token, tmp_path: Path,
                                 key_type: str, label: str, key_id: str,
                                 sig_alg: str) -> None:
    cert = tmp_path / f"{label}.pem"
    uri = (f"pkcs11:token={LABEL};object={label};type=private"
           f"?pin-value={USER_PIN}")
    made = openssl("req", "-new", "-x509", "-engine", "pkcs11",
                   "-keyform", "engine", "-key", uri, "-subj", "/CN=test",
                   "-days", "1", "-out", cert, env=engine_env(engine_token))
    assert made.rc == 0, made.text
    assert cert.exists()

    verified = openssl("verify", "-CAfile", cert, cert)
    assert verified.rc == 0, verified.text
    assert verified.stdout.decode().strip() == f"{cert}: OK"

    text = openssl("x509", "-in", cert, "-noout", "-text").stdout.decode()
    assert f"Signature Algorithm: {sig_alg}" in text
    assert "Subject: CN = test" in text

    spki = openssl("x509", "-in", cert, "-noout", "-pubkey")
    cert_pub = openssl("pkey", "-pubin", "-outform", "DER",
                       stdin=spki.stdout).stdout
    token_pub = engine_token.public_key(key_id, tmp_path / "token.der")
    assert cert_pub == token_pub.read_bytes()


def test_wrong_pin_in_uri_fails(engine_token: Token, tmp_path: Path) -> None:
    uri = f"pkcs11:token={LABEL};object=eckey;type=private?pin-value=9999"
    cert = tmp_path / "never.pem"
    res = openssl("req", "-new", "-x509", "-engine", "pkcs11",
                  "-keyform", "engine", "-key", uri, "-subj", "/CN=test",
                  "-out", cert, env=engine_env(engine_token))
    assert res.rc != 0
    assert not cert.exists() or cert.stat().st_size == 0
    # libp11 names the CK_RV: CKR_PIN_INCORRECT is 0xA0 in its error code.
    assert "ERR_CKR_error:PIN incorrect" in res.text
    assert "418000A0" in res.text
