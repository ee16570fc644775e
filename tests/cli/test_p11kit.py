"""``craton-hsm p11-kit install``: the .module file p11-kit reads.

conformance/test_p11kit.py shows p11-kit itself loading the file this
command writes; here: where it goes, what it says, idempotence, dry runs
and the failure exits.
"""

from __future__ import annotations

import os
from pathlib import Path

from .conftest import LIB, Run

EXPECTED = (f"# Craton HSM, written by `craton-hsm p11-kit install`"
            f" (pkcs11.conf(5)).\nmodule: {LIB}\ncritical: no\n")
ROOT_WARNING = "p11-kit does not read user configuration for root"


def user_file(home: Path) -> Path:
    return home / ".config/pkcs11/modules/craton-hsm.module"


def test_user_install_writes_module_file(run: Run, tmp_path: Path) -> None:
    home = tmp_path / "home"
    res = run("p11-kit", "install", HOME=str(home))
    assert res.rc == 0, res.err
    assert res.out == f"wrote {user_file(home)}\n"
    assert user_file(home).read_text() == EXPECTED
    assert user_file(home).stat().st_mode & 0o777 == 0o644
    # p11-kit ignores user configuration for root, and we say so.
    assert (ROOT_WARNING in res.err) == (os.geteuid() == 0)


def test_install_again_changes_nothing(run: Run, tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert run("p11-kit", "install", "--user", HOME=home).rc == 0
    again = run("p11-kit", "install", "--user", "--json", HOME=home)
    assert again.rc == 0, again.err
    doc = again.json()
    assert doc["changed"] is False
    assert doc["scope"] == "user"
    assert doc["module"] == str(LIB)
    assert doc["path"] == str(user_file(tmp_path / "home"))
    assert doc["content"] == EXPECTED


def test_stale_file_is_rewritten(run: Run, tmp_path: Path) -> None:
    home = tmp_path / "home"
    user_file(home).parent.mkdir(parents=True)
    user_file(home).write_text("module: /old/libcraton_hsm.so\n")
    res = run("p11-kit", "install", "--json", HOME=str(home))
    assert res.rc == 0, res.err
    assert res.json()["changed"] is True
    assert user_file(home).read_text() == EXPECTED


def test_dry_run_writes_nothing(run: Run, tmp_path: Path) -> None:
    home = tmp_path / "home"
    res = run("p11-kit", "install", "--dry-run", HOME=str(home))
    assert res.rc == 0, res.err
    assert res.out == f"would write {user_file(home)}:\n{EXPECTED}"
    assert not (tmp_path / "home").exists()


def test_system_dry_run_names_etc_pkcs11(run: Run, tmp_path: Path) -> None:
    res = run("p11-kit", "install", "--system", "--dry-run", "--json",
              HOME=str(tmp_path))
    assert res.rc == 0, res.err
    doc = res.json()
    assert doc["path"] == "/etc/pkcs11/modules/craton-hsm.module"
    assert doc["scope"] == "system"
    assert doc["dry_run"] is True and doc["changed"] is False
    assert doc["warning"] is None
    assert not Path(doc["path"]).exists() or os.geteuid() == 0


def test_dir_install(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "stage" / "modules"
    res = run("p11-kit", "install", "--dir", str(target), "--json")
    assert res.rc == 0, res.err
    assert res.json()["scope"] == "dir"
    assert (target / "craton-hsm.module").read_text() == EXPECTED


def test_unwritable_target_is_exit_1(run: Run, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    res = run("p11-kit", "install", "--dir", str(blocker / "modules"),
              "--json")
    assert res.rc == 1
    error = res.json()["error"]
    assert error["exit_code"] == 1
    assert error["message"].startswith(
        f"cannot write {blocker / 'modules' / 'craton-hsm.module'}")


def test_missing_module_is_exit_1(run: Run, tmp_path: Path) -> None:
    res = run("p11-kit", "install", "--dry-run", HOME=str(tmp_path),
              CRATON_HSM_MODULE=str(tmp_path / "nope.so"))
    assert res.rc == 1
    assert "CRATON_HSM_MODULE" in res.err and "no such file" in res.err


def test_no_home_is_exit_1(run: Run) -> None:
    res = run("p11-kit", "install", "--dry-run", HOME="")
    assert res.rc == 1
    assert "HOME is not set" in res.err
