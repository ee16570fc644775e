"""Fixtures for black-box runs of build/libcraton_hsm.so under real hosts.

Every token lives in its own data directory (CRATON_HSM_DATA_DIR), so no
test sees another's objects or PINs.  The hosts are the Debian builds of
OpenSC pkcs11-tool, OpenSSL 3 and libp11's `pkcs11` engine; `make test`
installs them (tools/install-test-deps.sh), so a missing one is a failure,
never a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "build" / "libcraton_hsm.so"
ENGINE = Path("/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so")

SO_PIN = "12345678"
USER_PIN = "1234"
# Variables from the caller's shell that would change what a host loads.
_SCRUBBED = ("CRATON_HSM_CONFIG", "CRATON_HSM_DATA_DIR", "OPENSSL_CONF",
             "PKCS11SPY", "OPENSSL_ENGINES")


def require_tool(name: str) -> str:
    """The absolute path of a host program; fail (not skip) if absent."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; run tools/install-test-deps.sh")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without variables that redirect the module or OpenSSL."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update(extra)
    return env


@dataclass(frozen=True)
class Result:
    """One finished host run; `text` is stdout and stderr together."""

    rc: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace") + self.stderr


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None,
        stdin: bytes | None = None) -> Result:
    proc = subprocess.run(argv, env=env, cwd=cwd, input=stdin,
                          capture_output=True, timeout=300, check=False)
    return Result(proc.returncode, proc.stdout,
                  proc.stderr.decode(errors="replace"))


def openssl(*args: str | Path, stdin: bytes | None = None,
            env: dict[str, str] | None = None) -> Result:
    """Plain OpenSSL: no engine, no module, the default configuration."""
    argv = [require_tool("openssl"), *map(str, args)]
    return run(argv, env if env is not None else clean_env(), stdin=stdin)


@dataclass(frozen=True)
class Token:
    """An initialised token in slot 0 of a private data directory."""

    lib: Path
    data_dir: Path
    label: str

    @property
    def env(self) -> dict[str, str]:
        return clean_env(CRATON_HSM_DATA_DIR=str(self.data_dir))

    def tool(self, *args: str | Path, login: str | None = None,
             slot: bool = False) -> Result:
        """pkcs11-tool against this token; `login` is a user PIN."""
        argv = [require_tool("pkcs11-tool"), "--module", str(self.lib)]
        argv += ["--slot", "0"] if slot else ["--token-label", self.label]
        if login is not None:
            argv += ["--login", "--pin", login]
        return run(argv + [str(a) for a in args], self.env,
                   cwd=self.data_dir)

    def ok(self, *args: str | Path, login: str | None = USER_PIN) -> Result:
        """Like tool(), logged in by default, asserting exit status 0."""
        res = self.tool(*args, login=login)
        assert res.rc == 0, f"pkcs11-tool {args} failed:\n{res.text}"
        return res

    def keypair(self, key_type: str, label: str, key_id: str) -> None:
        self.ok("--keypairgen", "--key-type", key_type,
                "--label", label, "--id", key_id)

    def public_key(self, key_id: str, out: Path) -> Path:
        """Export a public key (SubjectPublicKeyInfo) to `out`."""
        self.ok("--read-object", "--type", "pubkey", "--id", key_id,
                "-o", out, login=None)
        return out


def init_token(lib: Path, data_dir: Path, label: str) -> Token:
    """C_InitToken with SO_PIN, then C_InitPIN with USER_PIN."""
    token = Token(lib, data_dir, label)
    res = token.tool("--init-token", "--label", label,
                     "--so-pin", SO_PIN, slot=True)
    assert res.rc == 0, res.text
    assert "Token successfully initialized" in res.text
    res = token.tool("--init-pin", "--login", "--so-pin", SO_PIN,
                     "--pin", USER_PIN)
    assert res.rc == 0, res.text
    assert "User PIN successfully initialized" in res.text
    return token


@pytest.fixture(scope="session")
def libpath() -> Path:
    """The built module; `make build` runs once if it is missing."""
    if not LIB.exists():
        subprocess.run(["make", "-C", str(ROOT), "build"], check=True)
    require_tool("pkcs11-tool")
    require_tool("openssl")
    return LIB


@pytest.fixture
def make_token(libpath: Path, tmp_path: Path) -> Callable[[str], Token]:
    """Factory for fresh initialised tokens, each in its own directory."""
    def make(label: str = "conformance") -> Token:
        data_dir = tmp_path / label
        data_dir.mkdir()
        return init_token(libpath, data_dir, label)
    return make


@pytest.fixture
def token(make_token: Callable[[str], Token]) -> Token:
    """A fresh initialised token with no objects."""
    return make_token("conformance")


@pytest.fixture
def blank_dir(libpath: Path, tmp_path: Path) -> Token:
    """A data directory whose slot 0 is still uninitialised."""
    data_dir = tmp_path / "blank"
    data_dir.mkdir()
    return Token(libpath, data_dir, "blank")
