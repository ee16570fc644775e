"""Java's SunPKCS11 provider (OpenJDK 17) over the module.

keytool makes RSA and EC key pairs with self-signed certificates on the
token and lists them; jarsigner signs jars with them; the JDK then verifies
the jars with no token, and OpenSSL checks the PKCS#7 signature blocks.
conformance/java/CratonClient.java runs the Signature and Cipher scenarios
in one JVM (a JVM start costs about a second) and prints JSON that
`cryptography` checks here.  The JDK's tools are run exactly as
docs/clients.md tells a user to run them.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .conftest import (
    ROOT,
    USER_PIN,
    Result,
    Token,
    init_token,
    openssl,
    require_tool,
    run,
)

# -providerName makes keytool generate the key pair in the token
# (C_GenerateKeyPair, then C_CopyObject to a token object); without it the
# JDK's own provider makes the keys and C_CreateObject imports them.
PROVIDER_CLASS = "sun.security.pkcs11.SunPKCS11"
PROVIDER_NAME = "SunPKCS11-Craton"
ALIASES = {"jrsa": ("RSA", ["-keysize", "2048"]),
           "jec": ("EC", ["-groupname", "secp256r1"])}
SOURCE = ROOT / "conformance" / "java" / "CratonClient.java"
# The module's secret and private keys default to sensitive and
# non-derivable (core/schema.py); SunPKCS11's ECDH reads the derived secret
# back (CKA_VALUE), so a provider that does ECDH asks for these defaults.
JAVA_ECDH_ATTRIBUTES = """\
attributes(generate, CKO_PRIVATE_KEY, CKK_EC) = {
  CKA_DERIVE = true
}
attributes(generate, CKO_SECRET_KEY, CKK_GENERIC_SECRET) = {
  CKA_SENSITIVE = false
  CKA_EXTRACTABLE = true
}
"""


@dataclass(frozen=True)
class JavaToken:
    token: Token
    cfg: Path

    def jdk(self, tool: str, *args: str | Path) -> Result:
        """A JDK tool with the token as its PKCS11 keystore."""
        argv = [require_tool(tool), "-keystore", "NONE",
                "-storetype", "PKCS11", "-providerClass", PROVIDER_CLASS,
                "-providerArg", str(self.cfg), "-providerName", PROVIDER_NAME,
                "-storepass", USER_PIN, *map(str, args)]
        return run(argv, self.token.env, cwd=self.token.data_dir)

    def cert(self, alias: str) -> x509.Certificate:
        """The certificate keytool stored, read back by pkcs11-tool."""
        out = self.token.data_dir / f"{alias}.der"
        self.token.ok("--read-object", "--type", "cert", "--label", alias,
                      "-o", out, login=None)
        return x509.load_der_x509_certificate(out.read_bytes())


@pytest.fixture(scope="module")
def jtok(libpath: Path,
         tmp_path_factory: pytest.TempPathFactory) -> JavaToken:
    """A token holding keytool's RSA 2048 and EC P-256 keys."""
    tok = init_token(libpath, tmp_path_factory.mktemp("java"), "java")
    cfg = tok.data_dir / "craton.cfg"
    # The provider configuration a user writes (docs/clients.md).
    cfg.write_text(f"name = Craton\nlibrary = {libpath}\nslot = 0\n"
                   + JAVA_ECDH_ATTRIBUTES)
    jt = JavaToken(tok, cfg)
    for alias, (alg, opts) in ALIASES.items():
        res = jt.jdk("keytool", "-genkeypair", "-alias", alias,
                     "-keyalg", alg, *opts, "-dname", f"CN={alias}",
                     "-validity", "30")
        assert res.rc == 0, f"keytool -genkeypair {alias}:\n{res.text}"
    return jt


def test_keytool_lists_generated_entries(jtok: JavaToken) -> None:
    res = jtok.jdk("keytool", "-list")
    assert res.rc == 0, res.text
    assert "Keystore provider: SunPKCS11-Craton" in res.text
    assert "Your keystore contains 2 entries" in res.text
    listed = dict(re.findall(
        r"^(\w+), PrivateKeyEntry, \n"
        r"Certificate fingerprint \(SHA-256\): ([0-9A-F:]+)$",
        res.text, re.MULTILINE))
    assert set(listed) == set(ALIASES)
    # Each fingerprint is that of the certificate another client reads
    # from the token.
    for alias, fingerprint in listed.items():
        digest = jtok.cert(alias).fingerprint(hashes.SHA256())
        assert fingerprint == digest.hex(":").upper()


def objects(tok: Token) -> list[dict[str, str]]:
    """pkcs11-tool --list-objects as one dict per object."""
    found: list[dict[str, str]] = []
    for line in tok.ok("--list-objects").stdout.decode().splitlines():
        if not line.startswith(" "):
            found.append({"kind": line})
        elif found and ":" in line:
            name, _, value = line.strip().partition(":")
            found[-1][name] = value.strip()
    return found


def test_keytool_keys_are_generated_in_the_token(jtok: JavaToken) -> None:
    """keytool's keys are private, sensitive token keys generated on the
    token (CKA_LOCAL), each sharing its CKA_ID with its certificate."""
    found = objects(jtok.token)
    for alias, (alg, _) in ALIASES.items():
        key_id = alias.encode().hex()
        certs = [o for o in found if o["kind"].startswith("Certificate")
                 and o.get("label") == alias]
        assert len(certs) == 1, found
        assert certs[0]["ID"] == key_id
        keys = [o for o in found if o["kind"].startswith("Private Key")
                and o["ID"] == key_id]
        assert len(keys) == 1, found
        assert alg in keys[0]["kind"]
        access = keys[0]["Access"].split(", ")
        assert {"sensitive", "local", "never extractable"} <= set(access)
        assert "sign" in keys[0]["Usage"]
        # keytool self-signs with the token key: the signature verifies.
        cert = jtok.cert(alias)
        assert cert.subject.rfc4514_string() == f"CN={alias}"
        cert.verify_directly_issued_by(cert)


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_jarsigner_signs_and_jdk_verifies(jtok: JavaToken, tmp_path: Path,
                                          alias: str) -> None:
    jar = tmp_path / "app.jar"
    with zipfile.ZipFile(jar, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
        zf.writestr("hello.txt", "hello from the token\n")
    signed = tmp_path / "signed.jar"
    res = jtok.jdk("jarsigner", "-signedjar", signed, jar, alias)
    assert res.rc == 0, res.text
    assert "jar signed." in res.text

    # Verification needs no token: plain JDK, no provider, no module.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CRATON_HSM")}
    jarsigner = require_tool("jarsigner")
    res = run([jarsigner, "-verify", "-verbose", str(signed)], env)
    assert res.rc == 0, res.text
    assert "jar verified." in res.text
    assert re.search(r"^sm\s+\d+ .* hello\.txt$", res.text, re.MULTILINE)

    # OpenSSL checks the signature block over the signature file.
    block_ext = "RSA" if alias == "jrsa" else "EC"
    sf, block = tmp_path / "x.SF", tmp_path / "x.block"
    with zipfile.ZipFile(signed) as zf:
        sf.write_bytes(zf.read(f"META-INF/{alias.upper()}.SF"))
        block.write_bytes(zf.read(f"META-INF/{alias.upper()}.{block_ext}"))
    res = openssl("cms", "-verify", "-noverify", "-binary", "-inform", "DER",
                  "-in", block, "-content", sf, "-out", os.devnull)
    assert res.rc == 0, res.text
    assert "Verification successful" in res.text

    # A changed entry breaks the signature.
    tampered = tmp_path / "tampered.jar"
    with zipfile.ZipFile(signed) as src, \
            zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "hello.txt":
                data = b"HELLO from the token\n"
            dst.writestr(item, data)
    res = run([jarsigner, "-verify", str(tampered)], env)
    assert res.rc != 0, res.text
    assert "SecurityException" in res.text or "not verified" in res.text


def test_signature_and_cipher_program(jtok: JavaToken,
                                      tmp_path: Path) -> None:
    classes = tmp_path / "classes"
    res = run([require_tool("javac"), "-d", str(classes), str(SOURCE)],
              jtok.token.env)
    assert res.rc == 0, res.text

    msg = b"signed and encrypted through SunPKCS11"
    rsa_pub = jtok.cert("jrsa").public_key()
    ec_pub = jtok.cert("jec").public_key()
    assert isinstance(rsa_pub, rsa.RSAPublicKey)
    assert isinstance(ec_pub, ec.EllipticCurvePublicKey)
    rsa_ct = rsa_pub.encrypt(b"rsa secret", padding.PKCS1v15())
    key, iv = os.urandom(16), os.urandom(12)
    gcm_in = AESGCM(key).encrypt(iv, b"gcm secret", b"craton")
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_der = peer.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)

    res = run([require_tool("java"), "-cp", str(classes), "CratonClient",
               str(jtok.cfg), USER_PIN, msg.hex(), rsa_ct.hex(), key.hex(),
               iv.hex(), gcm_in.hex(), peer_der.hex()], jtok.token.env)
    assert res.rc == 0, res.text
    out = json.loads(res.stdout)
    assert out["provider"] == "SunPKCS11-Craton"

    rsa_pub.verify(bytes.fromhex(out["SHA256withRSA"]), msg,
                   padding.PKCS1v15(), hashes.SHA256())
    ec_pub.verify(bytes.fromhex(out["SHA256withECDSA"]), msg,
                  ec.ECDSA(hashes.SHA256()))
    assert bytes.fromhex(out["RSA/ECB/PKCS1Padding"]) == b"rsa secret"
    gcm_out = bytes.fromhex(out["AES/GCM/NoPadding encrypt"])
    assert AESGCM(key).decrypt(iv, gcm_out, b"craton") == msg
    assert bytes.fromhex(out["AES/GCM/NoPadding decrypt"]) == b"gcm secret"
    assert bytes.fromhex(out["generated AES round trip"]) == msg
    rsa_pub.verify(bytes.fromhex(out["SHA256withRSASSA-PSS"]), msg,
                   padding.PSS(padding.MGF1(hashes.SHA256()), 32),
                   hashes.SHA256())
    assert out["HmacSHA256"] == hmac.new(key, msg, "sha256").hexdigest()
    token_pub = serialization.load_der_public_key(
        bytes.fromhex(out["ECDH public"]))
    assert isinstance(token_pub, ec.EllipticCurvePublicKey)
    assert bytes.fromhex(out["ECDH secret"]) == peer.exchange(ec.ECDH(),
                                                              token_pub)
