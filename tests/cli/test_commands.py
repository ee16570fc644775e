"""Every ``craton-hsm`` subcommand: --help for the whole click tree, and
a --json run of each against a demo token, with results checked by
independent tools (cryptography, openssl, PyKCS11 in a child process).
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID

from craton_hsm.cli import cli
from craton_hsm.cli.keygen import TYPES

from .conftest import Result, Run

SO, USER, USER2 = "so-secret-1", "user-pin-1", "user-pin-2"


def command_paths(group: click.Group = cli,
                  prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every leaf command of the click tree, as its argv prefix."""
    out: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        if isinstance(command, click.Group):
            out += command_paths(command, path)
        else:
            out.append(path)
    return out


ALL = command_paths()


def test_tree_has_the_issue_10_commands() -> None:
    names = {" ".join(p) for p in ALL}
    assert {"init-token", "init-pin", "change-pin", "list-slots",
            "list-objects", "keygen", "import", "export-public", "delete",
            "status", "selftest", "audit verify", "audit export", "backup",
            "restore", "config check", "module-path",
            "p11-kit install"} <= names


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_help(path: tuple[str, ...]) -> None:
    res = CliRunner().invoke(cli, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert f"Usage: craton-hsm {' '.join(path)}" in res.output
    assert "--json" in res.output


@pytest.mark.parametrize("argv", [
    ["keygen", "--slot", "0", "--type", "rsa:1024"],
    ["keygen", "--slot", "0", "--type", "aes:256", "--id", "xyz"],
    ["export-public", "--slot", "0", "--label", "k", "--der"],
    ["delete", "--slot", "0", "--handle", "3", "--label", "k"],
    ["change-pin", "--slot", "0", "--new-pin", "1234"],
])
def test_bad_command_lines_exit_2(argv: list[str]) -> None:
    res = CliRunner().invoke(cli, [*argv, "--json"])
    assert res.exit_code == 2, res.output


# -- the --json runs ------------------------------------------------------

class Session:
    """craton-hsm runs that must succeed and print JSON; records which
    command each argv ran so the test can check it ran every one."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.ran: set[tuple[str, ...]] = set()

    def ok(self, *args: str, stdin: str | None = None, **env: str) -> Any:
        res = self.run(*args, "--json", stdin=stdin, **env)
        assert res.rc == 0, (args, res.err)
        self.ran |= {p for p in ALL if tuple(args[:len(p)]) == p}
        return res.json()

    def fails(self, code: int, *args: str, **env: str) -> Result:
        res = self.run(*args, "--json", **env)
        assert res.rc == code, (args, res.out, res.err)
        assert res.json()["error"]["exit_code"] == code
        return res


SIGN = r"""
import sys, PyKCS11 as P
lib = P.PyKCS11Lib(); lib.load(sys.argv[1])
s = lib.openSession(0, P.CKF_SERIAL_SESSION); s.login(sys.argv[2])
key, = s.findObjects([(P.CKA_CLASS, P.CKO_PRIVATE_KEY),
                      (P.CKA_LABEL, sys.argv[3])])
mech = P.Mechanism(int(sys.argv[4], 0), None)
sys.stdout.write(bytes(s.sign(key, b"signed by the token", mech)).hex())
"""
DATA = b"signed by the token"


def token_sign(module: Path, data_dir: Path, pin: str, label: str,
               mechanism: int) -> bytes:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CRATON_HSM_")}
    env["CRATON_HSM_DATA_DIR"] = str(data_dir)
    proc = subprocess.run([sys.executable, "-c", SIGN, str(module), pin,
                           label, hex(mechanism)], env=env, check=False,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return bytes.fromhex(proc.stdout)


def ski(public: Any) -> str:
    return bytes(x509.SubjectKeyIdentifier.from_public_key(public)
                 .digest).hex()


def self_signed(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cli test")])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(4242)
            .not_valid_before(now).not_valid_after(
                now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


CKM_SHA256_RSA_PKCS, CKM_ECDSA_SHA256, CKM_EDDSA = 0x40, 0x1044, 0x1057


def test_every_command_with_json(run: Run, module: Path, data_dir: Path,
                                 tmp_path: Path) -> None:
    s = Session(run)
    pins = {"SO": SO, "P": USER}

    # module, slots, token, PINs
    assert Path(s.ok("module-path")["module"]) == module.resolve()
    assert s.ok("init-token", "--slot", "0", "--label", "demo",
                "--so-pin-env", "SO", **pins)["initialized"] is True
    doc = s.ok("init-pin", "--slot", "0", "--so-pin-env", "SO",
               "--pin-env", "P", **pins)
    assert doc["user_pin_initialized"] is True
    slot0 = s.ok("list-slots")["slots"][0]
    assert slot0["label"] == "demo"
    status = s.ok("status", "--slot", "0")["slots"][0]
    assert status["flags"]["user_pin_initialized"] is True
    posture = s.ok("status", "--security-posture")
    assert "fips_approved_only" in str(posture)

    # keygen: every type but rsa:8192 (seconds of prime search)
    made: dict[str, dict[str, Any]] = {}
    for key_type in TYPES:
        if key_type == "rsa:8192":
            continue
        made[key_type] = s.ok("keygen", "--slot", "0", "--type", key_type,
                              "--label", f"k-{key_type}", "--pin-env", "P",
                              **pins)
    listed = {(o["label"], o["class"]): o for o in s.ok(
        "list-objects", "--slot", "0", "--pin-env", "P", **pins)["objects"]}
    for key_type, doc in made.items():
        label = f"k-{key_type}"
        if key_type.startswith(("aes:", "generic:")):
            secret = listed[(label, "CKO_SECRET_KEY")]
            assert (secret["private"], secret["sensitive"]) == (True, True)
            continue
        private = listed[(label, "CKO_PRIVATE_KEY")]
        assert (private["private"], private["sensitive"]) == (True, True)
        pem = s.ok("export-public", "--slot", "0", "--label", label)["pem"]
        public = serialization.load_pem_public_key(pem.encode())
        # CKA_ID of both halves is the public key's SKI (method 1)
        assert doc["id"] == private["id"] == ski(public), key_type
        assert listed[(label, "CKO_PUBLIC_KEY")]["id"] == doc["id"]

    # a token signature checked by openssl with the exported key
    pub_pem = tmp_path / "rsa.pem"
    s.ok("export-public", "--slot", "0", "--label", "k-rsa:2048",
         "--output", str(pub_pem))
    sig = tmp_path / "rsa.sig"
    sig.write_bytes(token_sign(module, data_dir, USER, "k-rsa:2048",
                               CKM_SHA256_RSA_PKCS))
    msg = tmp_path / "msg"
    msg.write_bytes(DATA)
    verify = subprocess.run(["openssl", "dgst", "-sha256", "-verify",
                             str(pub_pem), "-signature", str(sig), str(msg)],
                            capture_output=True, text=True, check=False)
    assert verify.returncode == 0 and "Verified OK" in verify.stdout
    # and an Ed25519 one checked by cryptography
    ed_pem = s.ok("export-public", "--slot", "0", "--label", "k-ed25519")
    ed_pub = serialization.load_pem_public_key(ed_pem["pem"].encode())
    assert isinstance(ed_pub, ed25519.Ed25519PublicKey)
    ed_pub.verify(token_sign(module, data_dir, USER, "k-ed25519",
                             CKM_EDDSA), DATA)

    # import: a PKCS#8 EC key and its certificate in one PEM file
    key = ec.generate_private_key(ec.SECP256R1())
    cert = self_signed(key)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()) + cert.public_bytes(
        serialization.Encoding.PEM))
    doc = s.ok("import", "--slot", "0", str(bundle), "--label", "web",
               "--pin-env", "P", **pins)
    assert doc["objects"] == ["CKO_PRIVATE_KEY", "CKO_PUBLIC_KEY",
                              "CKO_CERTIFICATE"]
    assert doc["id"] == ski(key.public_key()) == cert.extensions \
        .get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex()
    der = tmp_path / "cert.der"
    s.ok("export-public", "--slot", "0", "--label", "web", "--certificate",
         "--der", "--output", str(der))
    assert der.read_bytes() == cert.public_bytes(serialization.Encoding.DER)
    got = s.ok("export-public", "--slot", "0", "--id", doc["id"])["pem"]
    assert got.encode() == key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = token_sign(module, data_dir, USER, "web", CKM_ECDSA_SHA256)
    key.public_key().verify(encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
        DATA, ec.ECDSA(hashes.SHA256()))
    # a traditional (PKCS#1) RSA key as DER, with an explicit --id
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_der = tmp_path / "rsa.der"
    rsa_der.write_bytes(rsa_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    doc = s.ok("import", "--slot", "0", str(rsa_der), "--label", "legacy",
               "--id", "a1:b2", "--pin-env", "P", **pins)
    assert doc["id"] == "a1b2"
    rsa_key.public_key().verify(
        token_sign(module, data_dir, USER, "legacy", CKM_SHA256_RSA_PKCS),
        DATA, padding.PKCS1v15(), hashes.SHA256())

    # delete: a "no" keeps it, --yes deletes key pair and certificate
    kept = run("delete", "--slot", "0", "--label", "web", "--pin-env", "P",
               stdin="n\n", **pins)
    assert kept.rc == 1 and "not confirmed" in kept.err
    doc = s.ok("delete", "--slot", "0", "--label", "web", "--yes",
               "--pin-env", "P", **pins)
    assert sorted(doc["deleted"]) == ["CKO_CERTIFICATE", "CKO_PRIVATE_KEY",
                                      "CKO_PUBLIC_KEY"]
    s.fails(1, "export-public", "--slot", "0", "--label", "web")

    # change-pin: the new PIN works, the old one is refused
    s.ok("change-pin", "--slot", "0", "--old-pin-env", "P",
         "--new-pin-env", "N", N=USER2, **pins)
    res = s.fails(1, "list-objects", "--slot", "0", "--pin-env", "P", **pins)
    assert res.json()["error"]["ckr"] == "CKR_PIN_INCORRECT"
    s.ok("list-objects", "--slot", "0", "--pin-env", "N", N=USER2)
    s.ok("change-pin", "--so", "--slot", "0", "--old-pin-env", "SO",
         "--new-pin-env", "N", N="so-secret-2", **pins)

    # config check, good and bad (the line is named)
    good = tmp_path / "good.toml"
    good.write_text("[slots]\ncount = 2\n")
    doc = s.ok("config", "check", "--config", str(good))
    rows = {r["key"]: r for r in doc["settings"]}
    assert rows["slots.count"] == {"key": "slots.count", "value": 2,
                                   "source": "config"}
    assert rows["pin.max_len"]["source"] == "default"
    assert rows["storage.path"]["source"] == "environment"
    bad = tmp_path / "bad.toml"
    bad.write_text("[slots]\ncount = 2\n\n[pin]\nmin_len = 6\n"
                   "max_failures = 0\n")
    res = s.fails(1, "config", "check", "--config", str(bad))
    assert "pin.max_failures = 0 is out of range" in res.err
    assert "(line 6)" in res.err
    err = res.json()["error"]
    assert (err["key"], err["line"]) == ("pin.max_failures", 6)

    # the rest of the tree
    assert s.ok("selftest")["passed"] is True
    archive = tmp_path / "slot0.chsm"
    s.ok("backup", "--slot", "0", "--output", str(archive),
         "--passphrase-env", "BK", BK="backup-passphrase")
    s.ok("restore", "--input", str(archive), "--force",
         "--passphrase-env", "BK", BK="backup-passphrase")
    assert s.ok("audit", "verify")["records"] > 0
    s.ok("audit", "export", "--output", str(tmp_path / "audit.ndjson"))
    assert "BEGIN PUBLIC KEY" in s.ok("audit", "pubkey")["pem"]
    s.ok("p11-kit", "install", "--dir", str(tmp_path / "p11"))

    assert s.ran == set(ALL), set(ALL) - s.ran
