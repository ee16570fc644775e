"""OpenSSH (Debian 12, 9.2p1) with keys on the token.

`ssh-keygen -D` must list exactly the token's public keys, byte-identical
to the public key objects another client reads.  `ssh -I` then logs into an
sshd the test starts on 127.0.0.1 (its own configuration, host key and
authorized_keys in tmp; the current user, root in CI) with each token key
in turn, the PIN coming from an SSH_ASKPASS script; sshd's own log names
the key it accepted.  The same login works through `ssh-agent` after
`ssh-add -s`.  The commands are those docs/clients.md gives a user.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from .conftest import USER_PIN, Result, Token, init_token, require_tool, run

# (pkcs11-tool key type, label, CKA_ID, OpenSSH key type)
KEYS = [("rsa:2048", "sshrsa", "21", "ssh-rsa"),
        ("EC:prime256v1", "sshec", "22", "ecdsa-sha2-nistp256")]
PRIVSEP_DIR = Path("/run/sshd")


@dataclass(frozen=True)
class SshToken:
    token: Token
    # OpenSSH key type -> "type base64" as pkcs11-tool reads the key
    public: dict[str, str]


@pytest.fixture(scope="module")
def ssh_token(libpath: Path,
              tmp_path_factory: pytest.TempPathFactory) -> SshToken:
    tok = init_token(libpath, tmp_path_factory.mktemp("ssh"), "ssh")
    public = {}
    for key_type, label, key_id, ssh_type in KEYS:
        tok.keypair(key_type, label, key_id)
        der = tok.public_key(key_id, tok.data_dir / f"{label}.der")
        key = serialization.load_der_public_key(der.read_bytes())
        line = key.public_bytes(serialization.Encoding.OpenSSH,
                                serialization.PublicFormat.OpenSSH).decode()
        assert line.startswith(ssh_type + " ")
        public[ssh_type] = line
    return SshToken(tok, public)


def keygen_d(st: SshToken) -> Result:
    return run([require_tool("ssh-keygen"), "-D", str(st.token.lib)],
               st.token.env)


def test_ssh_keygen_lists_token_public_keys(ssh_token: SshToken) -> None:
    res = keygen_d(ssh_token)
    assert res.rc == 0, res.text
    lines = [" ".join(line.split()[:2])
             for line in res.stdout.decode().splitlines()]
    assert sorted(lines) == sorted(ssh_token.public.values())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sshd:
    port: int
    authorized: Path
    log: Path
    home: Path

    def authorize(self, line: str) -> None:
        self.authorized.write_text(line + "\n")


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    """An sshd on a free 127.0.0.1 port admitting the current user by key."""
    binary = Path("/usr/sbin/sshd")
    if not binary.exists():
        pytest.fail("sshd is not installed; run tools/install-test-deps.sh")
    if not PRIVSEP_DIR.is_dir():
        # sshd refuses to start without its privilege separation directory,
        # which the Debian package otherwise creates only at service start.
        try:
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True)
        except PermissionError:
            pytest.fail(f"sshd needs {PRIVSEP_DIR}; create it as root")
    host_key = tmp_path / "host_ed25519"
    made = run([require_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "",
                "-f", str(host_key)], os.environ.copy())
    assert made.rc == 0, made.text
    port = free_port()
    authorized = tmp_path / "authorized_keys"
    authorized.write_text("")
    config = tmp_path / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {host_key}\n"
        f"AuthorizedKeysFile {authorized}\nPidFile {tmp_path / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nLogLevel VERBOSE\n")
    log = tmp_path / "sshd.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([str(binary), "-D", "-e", "-f", str(config)],
                                stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"sshd did not start:\n{log.read_text()}")
                time.sleep(0.05)
        yield Sshd(port, authorized, log, tmp_path)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def askpass_env(st: SshToken, home: Path) -> dict[str, str]:
    """The PIN comes from an SSH_ASKPASS program, as for a GUI user."""
    script = home / "askpass.sh"
    script.write_text(f"#!/bin/sh\necho {USER_PIN}\n")
    script.chmod(0o700)
    env = st.token.env
    env.update(SSH_ASKPASS=str(script), SSH_ASKPASS_REQUIRE="force",
               DISPLAY=":0")
    env.pop("SSH_AUTH_SOCK", None)
    return env


def ssh_argv(server: Sshd, *opts: str) -> list[str]:
    # Not IdentitiesOnly=yes: ssh_config(5) says it drops the identities a
    # PKCS11Provider offers; sshd's log proves which key was accepted.
    return [require_tool("ssh"), "-F", "/dev/null", "-p", str(server.port),
            "-o", "StrictHostKeyChecking=no",
            "-o", f"UserKnownHostsFile={server.home / 'known_hosts'}",
            "-o", "PasswordAuthentication=no", *opts,
            f"{getpass.getuser()}@127.0.0.1", "echo ok"]


def login(argv: list[str], env: dict[str, str]) -> Result:
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60, check=False)
    return Result(proc.returncode, proc.stdout,
                  proc.stderr.decode(errors="replace"))


def fingerprint(line: str, home: Path) -> str:
    pub = home / "key.pub"
    pub.write_text(line + "\n")
    res = run([require_tool("ssh-keygen"), "-l", "-f", str(pub)],
              os.environ.copy())
    assert res.rc == 0, res.text
    return res.stdout.decode().split()[1]


@pytest.mark.parametrize("ssh_type", [k[3] for k in KEYS])
def test_ssh_login_with_token_key(ssh_token: SshToken, sshd: Sshd,
                                  ssh_type: str) -> None:
    line = ssh_token.public[ssh_type]
    sshd.authorize(line)
    res = login(ssh_argv(sshd, "-I", str(ssh_token.token.lib),
                         "-o", "IdentityAgent=none"),
                askpass_env(ssh_token, sshd.home))
    assert res.rc == 0, f"{res.text}\nsshd:\n{sshd.log.read_text()}"
    assert res.stdout == b"ok\n"
    # sshd accepted exactly this key: the proof of possession was made
    # by the token's private key.
    accepted = [x for x in sshd.log.read_text().splitlines()
                if "Accepted publickey" in x]
    assert len(accepted) == 1, sshd.log.read_text()
    assert accepted[0].endswith(fingerprint(line, sshd.home))


def test_ssh_login_refused_without_authorized_token_key(
        ssh_token: SshToken, sshd: Sshd) -> None:
    """The control: with another key authorized, the token keys fail."""
    other = sshd.home / "other"
    run([require_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f",
         str(other)], os.environ.copy())
    sshd.authorize(Path(f"{other}.pub").read_text().strip())
    res = login(ssh_argv(sshd, "-I", str(ssh_token.token.lib),
                         "-o", "IdentityAgent=none"),
                askpass_env(ssh_token, sshd.home))
    assert res.rc == 255, res.text
    assert "Permission denied (publickey)" in res.text
    assert res.stdout == b""


def test_ssh_agent_holds_token_keys(ssh_token: SshToken, sshd: Sshd) -> None:
    """ssh-add -s loads the token into ssh-agent; ssh logs in via the agent."""
    lib = ssh_token.token.lib
    env = askpass_env(ssh_token, sshd.home)
    sock = sshd.home / "agent.sock"
    # -P: the agent loads PKCS#11 providers only from allow-listed paths.
    agent = subprocess.Popen([require_tool("ssh-agent"), "-D", "-a",
                              str(sock), "-P", str(lib)], env=env,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.05)
        env["SSH_AUTH_SOCK"] = str(sock)
        added = login([require_tool("ssh-add"), "-s", str(lib)], env)
        assert added.rc == 0, added.text
        assert "Card added" in added.text
        listed = login([require_tool("ssh-add"), "-L"], env)
        assert listed.rc == 0, listed.text
        keys = sorted(" ".join(x.split()[:2])
                      for x in listed.stdout.decode().splitlines())
        assert keys == sorted(ssh_token.public.values())
        line = ssh_token.public["ecdsa-sha2-nistp256"]
        sshd.authorize(line)
        res = login(ssh_argv(sshd), env)
        assert res.rc == 0, f"{res.text}\nsshd:\n{sshd.log.read_text()}"
        assert res.stdout == b"ok\n"
        assert fingerprint(line, sshd.home) in sshd.log.read_text()
    finally:
        agent.terminate()
        agent.wait(timeout=10)
