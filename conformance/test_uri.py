"""PKCS#11 URIs (RFC 7512) with the clients that take them.

URIs match on CK_TOKEN_INFO's label, manufacturerID, model and
serialNumber with the blank padding removed (RFC 7512 2.3), so those
fields must be blank-padded, not NUL-padded (PKCS#11 v3.0 3.2, "padded
with the blank character").  The token label here has a space and a
slash, which a URI must percent-encode.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cryptography import x509

from .conftest import (
    USER_PIN,
    Result,
    Token,
    init_token,
    openssl,
    require_tool,
    run,
)
from .test_openssl_engine import engine_env

LABEL = "uri test/1"
ENCODED = "uri%20test%2F1"
KEY_ID = "51"

INFO_SCRIPT = """
import sys, PyKCS11 as P
lib = P.PyKCS11Lib(); lib.load(sys.argv[1])
t = lib.getTokenInfo(0)
for name in ("label", "manufacturerID", "model", "serialNumber"):
    print(repr(getattr(t, name)))
"""


@pytest.fixture(scope="module")
def utoken(libpath: Path, tmp_path_factory: pytest.TempPathFactory) -> Token:
    tok = init_token(libpath, tmp_path_factory.mktemp("uri"), LABEL)
    tok.keypair("EC:prime256v1", "urikey", KEY_ID)
    return tok


def p11tool(tok: Token, *args: str | Path) -> Result:
    argv = [require_tool("p11tool"), "--provider", str(tok.lib),
            *map(str, args)]
    return run(argv, tok.env, cwd=tok.data_dir)


def token_url(tok: Token) -> str:
    res = p11tool(tok, "--list-token-urls")
    assert res.rc == 0, res.text
    (url,) = [u for u in res.stdout.decode().split()
              if u.endswith(f";token={ENCODED}")]
    return url


def test_token_info_fields_are_blank_padded(utoken: Token) -> None:
    res = run([sys.executable, "-c", INFO_SCRIPT, str(utoken.lib)],
              utoken.env)
    assert res.rc == 0, res.text
    label, manufacturer, model, serial = (
        eval(line) for line in res.stdout.decode().splitlines())
    assert label == LABEL.ljust(32)
    assert manufacturer == "Craton HSM".ljust(32)
    assert model == "Craton HSM".ljust(16)
    assert len(serial) == 16 and serial.strip() == serial
    assert all(c in "0123456789ABCDEF" for c in serial)


def test_list_token_urls_round_trips(utoken: Token) -> None:
    url = token_url(utoken)
    assert url.startswith("pkcs11:model=Craton%20HSM;"
                          "manufacturer=Craton%20HSM;serial=")
    listed = p11tool(utoken, "--list-all", url)
    assert listed.rc == 0, listed.text
    want = f"{url};id=%{KEY_ID};object=urikey;type=public"
    assert want in listed.stdout.decode()
    # The same URI with another serial matches no token.
    serial = url.split("serial=")[1].split(";")[0]
    other = url.replace(f"serial={serial}", "serial=0000000000000000")
    wrong = p11tool(utoken, "--list-all", other)
    assert "urikey" not in wrong.stdout.decode()


@pytest.mark.parametrize("selector", [
    f"token={ENCODED};object=urikey;type=private",
    f"token={ENCODED};id=%{KEY_ID};type=private",
    (f"manufacturer=Craton%20HSM;model=Craton%20HSM;id=%{KEY_ID}"
     ";type=private"),
], ids=["object", "id", "manufacturer-model"])
def test_p11tool_test_sign_by_uri(utoken: Token, selector: str) -> None:
    res = run([require_tool("p11tool"), "--provider", str(utoken.lib),
               "--login", "--test-sign", f"pkcs11:{selector}"],
              utoken.env | {"GNUTLS_PIN": USER_PIN})
    assert res.rc == 0, res.text
    assert "Verifying against public key in the token... ok" in res.text


@pytest.mark.parametrize("pin", ["pin-value", "pin-source"])
def test_engine_takes_uri_with_pin(utoken: Token, tmp_path: Path,
                                   pin: str) -> None:
    if pin == "pin-value":
        query = f"pin-value={USER_PIN}"
    else:
        pin_file = tmp_path / "pin"
        pin_file.write_text(USER_PIN)
        query = f"pin-source=file:{pin_file}"
    uri = f"pkcs11:token={ENCODED};id=%{KEY_ID};type=private?{query}"
    csr = tmp_path / "req.csr"
    made = openssl("req", "-new", "-engine", "pkcs11", "-keyform", "engine",
                   "-key", uri, "-subj", "/CN=uri", "-out", csr,
                   env=engine_env(utoken))
    assert made.rc == 0, made.text
    assert x509.load_pem_x509_csr(csr.read_bytes()).is_signature_valid


def test_certtool_takes_uri_with_pin_value(utoken: Token,
                                           tmp_path: Path) -> None:
    tpl = tmp_path / "t.cfg"
    tpl.write_text('cn = "uri"\nexpiration_days = 1\n')
    cert = tmp_path / "c.pem"
    uri = (f"{token_url(utoken)};object=urikey;type=private"
           f"?pin-value={USER_PIN}")
    res = run([require_tool("certtool"), "--provider", str(utoken.lib),
               "--generate-self-signed", "--load-privkey", uri,
               "--template", str(tpl), "--outfile", str(cert)], utoken.env)
    assert res.rc == 0, res.text
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    loaded.verify_directly_issued_by(loaded)
