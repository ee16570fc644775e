"""GnuTLS: p11tool, certtool, gnutls-serv and gnutls-cli on the module.

Every tool gets the module with `--provider`, so p11-kit's configuration
plays no part (test_p11kit.py covers that path).  Signatures made by the
token are checked by p11tool against the token's public key, and the
certificates by pyca/cryptography and plain OpenSSL; the handshake is
checked by gnutls-cli, which has only the certificate.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    load_der_public_key,
    load_pem_public_key,
)

from .conftest import (
    USER_PIN,
    Result,
    Token,
    init_token,
    openssl,
    require_tool,
    run,
)
from .servers import free_port, run_client, sent_certificate, serving

LABEL = "gnutls"
# label -> (pkcs11-tool key type, CKA_ID hex, certificate signature OID name)
KEYS = {
    "rsakey": ("rsa:2048", "31", "sha256WithRSAEncryption"),
    "eckey": ("EC:prime256v1", "32", "ecdsa-with-SHA256"),
    "edkey": ("EC:edwards25519", "33", "ed25519"),
}
TEMPLATE = """cn = "localhost"
serial = 1
expiration_days = 1
tls_www_server
dns_name = "localhost"
ip_address = "127.0.0.1"
signing_key
"""


@pytest.fixture(scope="module")
def gtoken(libpath: Path, tmp_path_factory: pytest.TempPathFactory) -> Token:
    tok = init_token(libpath, tmp_path_factory.mktemp("gnutls"), LABEL)
    for label, (key_type, key_id, _) in KEYS.items():
        tok.keypair(key_type, label, key_id)
    return tok


def gnutls(tok: Token, tool: str, *args: str | Path) -> Result:
    """A GnuTLS tool with the module as its only provider; the PIN comes
    from GNUTLS_PIN (the documented non-interactive way)."""
    argv = [require_tool(tool), "--provider", str(tok.lib), *map(str, args)]
    return run(argv, tok.env | {"GNUTLS_PIN": USER_PIN}, cwd=tok.data_dir)


def key_uri(label: str) -> str:
    return f"pkcs11:token={LABEL};object={label};type=private"


def certificate(tok: Token, label: str, out: Path) -> x509.Certificate:
    """certtool --generate-self-signed with the token key."""
    tpl = out.with_suffix(".cfg")
    tpl.write_text(TEMPLATE)
    made = gnutls(tok, "certtool", "--generate-self-signed",
                  "--load-privkey", key_uri(label), "--template", tpl,
                  "--outfile", out)
    assert made.rc == 0, made.text
    return x509.load_pem_x509_certificate(out.read_bytes())


def test_list_tokens(gtoken: Token) -> None:
    res = gnutls(gtoken, "p11tool", "--list-tokens")
    assert res.rc == 0, res.text
    assert f"Label: {LABEL}" in res.text
    assert "Manufacturer: Craton HSM" in res.text
    assert "Flags: RNG, Requires login" in res.text


def test_list_all_logged_in(gtoken: Token) -> None:
    res = gnutls(gtoken, "p11tool", "--login", "--list-all",
                 f"pkcs11:token={LABEL}")
    assert res.rc == 0, res.text
    out = res.stdout.decode()
    for label, (_, key_id, _) in KEYS.items():
        for kind in ("private", "public"):
            assert f"id=%{key_id};object={label};type={kind}" in out, out
    assert "Type: Private key (RSA-2048)" in out
    assert "Type: Private key (EC/ECDSA-SECP256R1)" in out
    assert "Type: Private key (EdDSA (Ed25519))" in out
    # Without login the private keys stay hidden (CKA_PRIVATE).
    anon = gnutls(gtoken, "p11tool", "--list-all", f"pkcs11:token={LABEL}")
    assert anon.rc == 0, anon.text
    assert "type=private" not in anon.stdout.decode()
    assert "type=public" in anon.stdout.decode()


@pytest.mark.parametrize(("label", "hash_alg", "scheme"), [
    ("rsakey", "SHA256", "RSA-SHA256"),
    ("eckey", "SHA256", "ECDSA-SHA256"),
    ("edkey", "SHA512", "EdDSA-Ed25519"),
])
def test_test_sign(gtoken: Token, label: str, hash_alg: str,
                   scheme: str) -> None:
    res = gnutls(gtoken, "p11tool", "--login", "--test-sign",
                 "--hash", hash_alg, key_uri(label))
    assert res.rc == 0, res.text
    assert f"Signing using {scheme}... ok" in res.text
    assert "Verifying against public key in the token... ok" in res.text


def test_test_sign_rsa_pss(gtoken: Token) -> None:
    res = gnutls(gtoken, "p11tool", "--login", "--test-sign",
                 "--sign-params", "rsa-pss", key_uri("rsakey"))
    assert res.rc == 0, res.text
    assert "Signing using RSA-PSS-SHA256... ok" in res.text
    assert "Verifying against public key in the token... ok" in res.text


@pytest.mark.parametrize("label", list(KEYS))
def test_certtool_self_signed(gtoken: Token, tmp_path: Path,
                              label: str) -> None:
    pem = tmp_path / f"{label}.pem"
    cert = certificate(gtoken, label, pem)
    cert.verify_directly_issued_by(cert)
    assert cert.signature_algorithm_oid._name == KEYS[label][2]
    # pkcs11-tool writes EdDSA public keys as PEM, the others as DER.
    exported = gtoken.public_key(KEYS[label][1], tmp_path / "pub").read_bytes()
    token_key = (load_pem_public_key(exported) if exported.startswith(b"-----")
                 else load_der_public_key(exported))
    assert cert.public_key() == token_key
    verified = openssl("verify", "-CAfile", pem, pem)
    assert verified.rc == 0, verified.text


def test_certtool_request(gtoken: Token, tmp_path: Path) -> None:
    csr = tmp_path / "ed.csr"
    tpl = tmp_path / "req.cfg"
    tpl.write_text(TEMPLATE)
    made = gnutls(gtoken, "certtool", "--generate-request",
                  "--load-privkey", key_uri("edkey"), "--template", tpl,
                  "--outfile", csr)
    assert made.rc == 0, made.text
    assert x509.load_pem_x509_csr(csr.read_bytes()).is_signature_valid
    checked = openssl("req", "-in", csr, "-verify", "-noout")
    assert checked.rc == 0, checked.text


@pytest.mark.parametrize(("label", "kx_sig"), [
    ("rsakey", "RSA-PSS-RSAE-SHA256"),
    ("eckey", "ECDSA-SECP256R1-SHA256"),
    ("edkey", "EdDSA-Ed25519"),
])
def test_gnutls_serv_handshake(gtoken: Token, tmp_path: Path, label: str,
                               kx_sig: str) -> None:
    pem = tmp_path / "server.pem"
    cert = certificate(gtoken, label, pem)
    port = free_port()
    server = [require_tool("gnutls-serv"), "--provider", str(gtoken.lib),
              "--x509certfile", str(pem), "--x509keyfile", key_uri(label),
              "--port", str(port)]
    env = gtoken.env | {"GNUTLS_PIN": USER_PIN}
    with serving(server, env, port, tmp_path / "serv.log"):
        client = run_client(
            [require_tool("gnutls-cli"), "--x509cafile", str(pem),
             "--port", str(port), "--print-cert", "127.0.0.1"],
            gtoken.env, stdin=b"")
    text = client.text
    assert client.rc == 0, text
    assert "- Handshake was completed" in text
    assert "The certificate is trusted." in text
    assert f"-({kx_sig})-" in text
    assert x509.load_pem_x509_certificate(sent_certificate(text)) == cert
