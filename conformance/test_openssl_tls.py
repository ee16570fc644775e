"""OpenSSL 3 + libp11's engine: CSRs, a CA-issued certificate and TLS.

The token signs; plain OpenSSL (no engine) and pyca/cryptography check
every signature, and `openssl s_client`, with no access to the token,
completes a TLS handshake against an `openssl s_server` whose private key
is the token key named by an RFC 7512 URI.

Ed25519 is not here: Debian's libengine-pkcs11-openssl 0.4.12 has no
CKK_EC_EDWARDS support, and its key enumeration returns NULL (an error)
for a key type it does not know, so one Ed25519 private key on a token
makes *every* private-key load through the engine fail with "object not
found".  test_gnutls.py makes Ed25519 certificates through GnuTLS instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
)

from .conftest import (
    USER_PIN,
    Token,
    clean_env,
    init_token,
    openssl,
    require_tool,
)
from .servers import free_port, run_client, sent_certificate, serving
from .test_openssl_engine import ENGINE, engine_env

LABEL = "ossltls"
KEYS = {"rsakey": ("rsa:2048", "21"), "eckey": ("EC:prime256v1", "22")}


def key_uri(label: str) -> str:
    return (f"pkcs11:token={LABEL};object={label};type=private"
            f"?pin-value={USER_PIN}")


@pytest.fixture(scope="module")
def tls_token(libpath: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Token:
    if not ENGINE.exists():
        pytest.fail(f"{ENGINE} missing; install libengine-pkcs11-openssl")
    tok = init_token(libpath, tmp_path_factory.mktemp("ossltls"), LABEL)
    for label, (key_type, key_id) in KEYS.items():
        tok.keypair(key_type, label, key_id)
    return tok


def spki(tok: Token, label: str, out: Path) -> bytes:
    return tok.public_key(KEYS[label][1], out).read_bytes()


def self_signed(tok: Token, label: str, out: Path) -> x509.Certificate:
    made = openssl("req", "-new", "-x509", "-engine", "pkcs11",
                   "-keyform", "engine", "-key", key_uri(label),
                   "-subj", "/CN=localhost", "-days", "1", "-out", out,
                   env=engine_env(tok))
    assert made.rc == 0, made.text
    return x509.load_pem_x509_certificate(out.read_bytes())


@pytest.mark.parametrize("label", list(KEYS))
def test_csr_signed_by_token_key(tls_token: Token, tmp_path: Path,
                                 label: str) -> None:
    csr = tmp_path / f"{label}.csr"
    made = openssl("req", "-new", "-engine", "pkcs11", "-keyform", "engine",
                   "-key", key_uri(label), "-subj", f"/CN={label}",
                   "-out", csr, env=engine_env(tls_token))
    assert made.rc == 0, made.text

    checked = openssl("req", "-in", csr, "-verify", "-noout")
    assert checked.rc == 0, checked.text
    assert "verify OK" in checked.text

    req = x509.load_pem_x509_csr(csr.read_bytes())
    assert req.is_signature_valid
    assert req.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == spki(
            tls_token, label, tmp_path / "pub.der")


def test_token_ca_issues_certificate_for_token_csr(
        tls_token: Token, tmp_path: Path) -> None:
    """The RSA key as a CA signs a CSR made with the EC key."""
    env = engine_env(tls_token)
    ca = tmp_path / "ca.pem"
    self_signed(tls_token, "rsakey", ca)
    csr = tmp_path / "ec.csr"
    assert openssl("req", "-new", "-engine", "pkcs11", "-keyform", "engine",
                   "-key", key_uri("eckey"), "-subj", "/CN=leaf",
                   "-out", csr, env=env).rc == 0
    leaf = tmp_path / "leaf.pem"
    issued = openssl("x509", "-req", "-in", csr, "-engine", "pkcs11",
                     "-CA", ca, "-CAkeyform", "engine",
                     "-CAkey", key_uri("rsakey"), "-set_serial", "7",
                     "-days", "1", "-out", leaf, env=env)
    assert issued.rc == 0, issued.text

    verified = openssl("verify", "-CAfile", ca, leaf)
    assert verified.rc == 0, verified.text
    assert verified.stdout.decode().strip() == f"{leaf}: OK"
    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    cert.verify_directly_issued_by(
        x509.load_pem_x509_certificate(ca.read_bytes()))
    assert cert.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == spki(
            tls_token, "eckey", tmp_path / "pub.der")


@pytest.mark.parametrize(("label", "peer_sig"),
                         [("rsakey", "RSA-PSS"), ("eckey", "ECDSA")])
def test_s_server_with_token_key(tls_token: Token, tmp_path: Path,
                                 label: str, peer_sig: str) -> None:
    cert_pem = tmp_path / "server.pem"
    cert = self_signed(tls_token, label, cert_pem)
    port = free_port()
    server = [require_tool("openssl"), "s_server", "-engine", "pkcs11",
              "-keyform", "engine", "-key", key_uri(label),
              "-cert", str(cert_pem), "-accept", f"127.0.0.1:{port}", "-www"]
    with serving(server, engine_env(tls_token), port, tmp_path / "s.log"):
        client = run_client(
            [require_tool("openssl"), "s_client", "-connect",
             f"127.0.0.1:{port}", "-CAfile", str(cert_pem),
             "-verify_return_error", "-showcerts"], clean_env())
    text = client.text
    assert client.rc == 0, text
    assert "Verify return code: 0 (ok)" in text
    assert f"Peer signature type: {peer_sig}" in text
    assert "New, TLSv1.3, Cipher is" in text
    # The certificate the server sent is the one made with the token key.
    assert x509.load_pem_x509_certificate(sent_certificate(text)) == cert
