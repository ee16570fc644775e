"""NSS: modutil, certutil and a selfserv TLS server on the module.

The module is added to a fresh NSS database; certutil generates RSA and
EC keys on the token and stores self-signed certificates there; NSS's
`selfserv` then serves TLS with those token keys and `openssl s_client`
(no NSS, no token) completes the handshake.  SoftHSMv2 breaks this
server because NSS copies token keys with C_CopyObject and an empty
template; test_selfserv_copies_keys_through_c_copy_object shows NSS does
call it here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from .conftest import (
    USER_PIN,
    Result,
    Token,
    clean_env,
    init_token,
    require_tool,
    run,
)
from .servers import free_port, run_client, sent_certificate, serving

LABEL = "nss"
NICKS = {"rsa": "rsacert", "ec": "eccert"}


@dataclass(frozen=True)
class NssDb:
    token: Token
    db: str  # "sql:<dir>"
    pwfile: Path

    def run(self, tool: str, *args: str | Path, **extra: str) -> Result:
        argv = [require_tool(tool), *map(str, args)]
        return run(argv, self.token.env | extra, cwd=self.token.data_dir)

    def certutil(self, *args: str | Path) -> Result:
        return self.run("certutil", "-d", self.db, *args)

    def pem(self, nick: str) -> bytes:
        res = self.certutil("-L", "-h", LABEL, "-f", self.pwfile,
                            "-n", f"{LABEL}:{nick}", "-a")
        assert res.rc == 0, res.text
        return res.stdout


@pytest.fixture(scope="module")
def nss(libpath: Path, tmp_path_factory: pytest.TempPathFactory) -> NssDb:
    base = tmp_path_factory.mktemp("nss")
    token = init_token(libpath, base, LABEL)
    (base / "db").mkdir()
    pwfile = base / "pin.txt"
    pwfile.write_text(USER_PIN + "\n")
    (base / "noise").write_bytes(bytes(range(64)))
    nss = NssDb(token, f"sql:{base / 'db'}", pwfile)

    made = nss.certutil("-N", "--empty-password")
    assert made.rc == 0, made.text
    added = nss.run("modutil", "-dbdir", nss.db, "-add", "craton",
                    "-libfile", libpath, "-force")
    assert added.rc == 0, added.text
    assert 'Module "craton" added to database.' in added.text
    for key_type, extra in (("rsa", ["-g", "2048"]),
                            ("ec", ["-q", "nistp256"])):
        made = nss.certutil(
            "-S", "-h", LABEL, "-f", pwfile, "-z", base / "noise",
            # NSS ties a nickname to a subject: one subject per key.
            "-n", NICKS[key_type], "-s", f"CN=localhost,O={key_type}", "-x",
            "-t", "CT,,", "-k", key_type, *extra, "-v", "1",
            "--extSAN", "dns:localhost,ip:127.0.0.1")
        assert made.rc == 0, made.text
    return nss


def test_modutil_lists_module_and_token(nss: NssDb, libpath: Path) -> None:
    res = nss.run("modutil", "-dbdir", nss.db, "-list", "craton")
    assert res.rc == 0, res.text
    assert f"Library file: {libpath}" in res.text
    assert f"Token Name: {LABEL}" in res.text
    assert "Manufacturer: Craton HSM" in res.text
    listed = nss.run("modutil", "-dbdir", nss.db, "-list")
    assert f"token: {LABEL}" in listed.text
    assert ("uri: pkcs11:library-manufacturer=Craton%20HSM;"
            in listed.text), listed.text


def test_certutil_lists_token_keys(nss: NssDb) -> None:
    res = nss.certutil("-K", "-h", LABEL, "-f", nss.pwfile)
    assert res.rc == 0, res.text
    assert f'Checking token "{LABEL}"' in res.text
    lines = res.stdout.decode().splitlines()
    assert any(" rsa " in ln and f"{LABEL}:rsacert" in ln for ln in lines)
    assert any(" ec " in ln and f"{LABEL}:eccert" in ln for ln in lines)


def test_certificates_live_on_the_token(nss: NssDb, tmp_path: Path) -> None:
    listed = nss.certutil("-L", "-h", LABEL, "-f", nss.pwfile)
    assert listed.rc == 0, listed.text
    for nick in NICKS.values():
        assert f"{LABEL}:{nick}" in listed.text
        cert = x509.load_pem_x509_certificate(nss.pem(nick))
        cert.verify_directly_issued_by(cert)
    # pkcs11-tool, a different host, sees them as token objects too.
    objs = nss.token.ok("--list-objects", "--type", "cert", login=None)
    for nick in NICKS.values():
        assert f"label:      {nick}" in objs.text


@pytest.mark.parametrize(("sigalg", "nick", "peer_sig"), [
    ("rsa_pss_rsae_sha256", "rsacert", "RSA-PSS"),
    ("ecdsa_secp256r1_sha256", "eccert", "ECDSA"),
])
def test_selfserv_with_token_keys(nss: NssDb, tmp_path: Path, sigalg: str,
                                  nick: str, peer_sig: str) -> None:
    cas = tmp_path / "ca.pem"
    cas.write_bytes(b"".join(nss.pem(n) for n in NICKS.values()))
    port = free_port()
    server = [require_tool("selfserv"), "-d", nss.db, "-f", str(nss.pwfile),
              "-p", str(port), "-n", f"{LABEL}:rsacert",
              "-e", f"{LABEL}:eccert", "-V", "tls1.2:tls1.3"]
    with serving(server, nss.token.env, port, tmp_path / "selfserv.log"):
        client = run_client(
            [require_tool("openssl"), "s_client", "-connect",
             f"127.0.0.1:{port}", "-CAfile", str(cas), "-sigalgs", sigalg,
             "-verify_return_error", "-showcerts"], clean_env())
    text = client.text
    assert client.rc == 0, text
    assert "Verify return code: 0 (ok)" in text
    assert f"Peer signature type: {peer_sig}" in text
    assert x509.load_pem_x509_certificate(sent_certificate(text)) == \
        x509.load_pem_x509_certificate(nss.pem(nick))


def test_selfserv_copies_keys_through_c_copy_object(
        nss: NssDb, tmp_path: Path) -> None:
    """NSS calls C_CopyObject on the token keys while serving.  With the
    call failing (test-only fault switch) NSS logs it and falls back; the
    handshakes above show the real call succeeds."""
    port = free_port()
    log = tmp_path / "selfserv.log"
    server = [require_tool("selfserv"), "-d", nss.db, "-f", str(nss.pwfile),
              "-p", str(port), "-n", f"{LABEL}:rsacert"]
    env = nss.token.env | {"CRATON_HSM_TEST_RAISE": "C_CopyObject"}
    with serving(server, env, port, log):
        run_client([require_tool("openssl"), "s_client", "-connect",
                    f"127.0.0.1:{port}"], clean_env())
    assert "C_CopyObject raised" in log.read_text(errors="replace")


COPY_SCRIPT = """
import sys, pkcs11
from pkcs11 import Attribute as A, KeyType, ObjectClass
token = pkcs11.lib(sys.argv[1]).get_token(token_label=sys.argv[3])
with token.open(rw=True, user_pin=sys.argv[2]) as s:
    key = s.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC)
    copy = key.copy({})
    for a in (A.KEY_TYPE, A.EC_PARAMS, A.SENSITIVE, A.SIGN, A.ID, A.TOKEN):
        assert copy[a] == key[a], a
    assert copy.handle != key.handle
    copy.destroy()
    print("copied", key.handle, "->", copy.handle)
"""


def test_copy_object_with_empty_template(nss: NssDb) -> None:
    """C_CopyObject with an empty template, as NSS issues it: the copy
    keeps every attribute of the original (PKCS#11 v3.0 5.7)."""
    res = run([sys.executable, "-c", COPY_SCRIPT, str(nss.token.lib),
               USER_PIN, LABEL], nss.token.env)
    assert res.rc == 0, res.text
    assert res.stdout.decode().startswith("copied ")
