"""p11-kit: the .module file `craton-hsm p11-kit install` writes is what
makes p11-kit, its proxy module and p11tool (without --provider) load us.

p11-kit reads user modules from $HOME/.config/pkcs11/modules, but not in
processes running as root (observed with Debian's p11-kit 0.24: the user
directory is never opened).  Under root - CI - the p11-kit clients here
therefore run as `nobody` via setpriv, in a world-accessible directory.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import USER_PIN, Result, Token, init_token, require_tool, run

LABEL = "p11kit"
PROXY = Path("/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so")
NOBODY = 65534


@dataclass(frozen=True)
class Home:
    token: Token
    home: Path

    @property
    def env(self) -> dict[str, str]:
        return self.token.env | {"HOME": str(self.home)}

    def client(self, tool: str, *args: str | Path) -> Result:
        """A p11-kit client as a user whose $HOME p11-kit honours."""
        argv = [require_tool(tool), *map(str, args)]
        if os.geteuid() == 0:
            argv = [require_tool("setpriv"), f"--reuid={NOBODY}",
                    f"--regid={NOBODY}", "--clear-groups", *argv]
        return run(argv, self.env, cwd=self.home)


def _hand_over(data_dir: Path) -> None:
    """Give the token directory to `nobody` when the clients run as it
    (the module refuses a data directory others may write to)."""
    if os.geteuid() != 0:
        return
    for p in [data_dir, *data_dir.rglob("*")]:
        os.chown(p, NOBODY, NOBODY)


@pytest.fixture(scope="module")
def installed(libpath: Path) -> Iterator[Home]:
    base = Path(tempfile.mkdtemp(prefix="craton-p11kit-", dir="/tmp"))
    try:
        base.chmod(0o755)
        (base / "data").mkdir()
        token = init_token(libpath, base / "data", LABEL)
        token.keypair("EC:prime256v1", "eckey", "41")
        home = Home(token, base / "home")
        cli = Path(sys.executable).parent / "craton-hsm"
        res = run([str(cli), "p11-kit", "install", "--user"], home.env)
        assert res.rc == 0, res.text
        assert "wrote " in res.text
        _hand_over(base / "data")
        yield home
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_list_modules_shows_ours(installed: Home, libpath: Path) -> None:
    res = installed.client("p11-kit", "list-modules")
    assert res.rc == 0, res.text
    out = res.stdout.decode()
    assert f"craton-hsm: {libpath}" in out, out
    block = out.split(f"craton-hsm: {libpath}", 1)[1]
    assert "library-manufacturer: Craton HSM" in block
    assert f"token: {LABEL}" in block


def test_pkcs11_tool_through_the_proxy(installed: Home) -> None:
    assert PROXY.exists(), f"{PROXY} missing; install p11-kit-modules"
    slots = installed.client("pkcs11-tool", "--module", PROXY,
                             "--list-token-slots")
    assert slots.rc == 0, slots.text
    assert f"token label        : {LABEL}" in slots.text
    objs = installed.client("pkcs11-tool", "--module", PROXY,
                            "--token-label", LABEL, "--login", "--pin",
                            USER_PIN, "--list-objects", "--type", "privkey")
    assert objs.rc == 0, objs.text
    assert "label:      eckey" in objs.text


def test_p11tool_without_provider_signs(installed: Home) -> None:
    urls = installed.client("p11tool", "--list-token-urls")
    assert urls.rc == 0, urls.text
    assert any(u.endswith(f";token={LABEL}")
               for u in urls.stdout.decode().split())
    signed = installed.client(
        "p11tool", "--login", "--set-pin", USER_PIN, "--test-sign",
        f"pkcs11:token={LABEL};object=eckey;type=private")
    assert signed.rc == 0, signed.text
    assert "Verifying against public key in the token... ok" in signed.text
