"""The system policy file (config.py): its keys pin the user config, each
override is logged, unsafe files are refused; and through the .so a
pinned approved-only mode holds against a user config that turns it
off."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from craton_hsm._generated_ck import CKM
from craton_hsm.config import ConfigError, load_config
from tests.abi.conftest import libpath  # noqa: F401  (fixture)
from tests.abi.test_hostile import NULL, ffi, name

POLICY = ('[algorithms]\nfips_approved_only = true\n'
          '[crypto]\nprofile = "governance"\n')


def _files(tmp_path: Path, user: str,
           policy: str = POLICY) -> dict[str, str]:
    (tmp_path / "user.toml").write_text(user)
    (tmp_path / "policy.toml").write_text(policy)
    os.chmod(tmp_path / "policy.toml", 0o644)
    return {"HOME": str(tmp_path / "home"),
            "CRATON_HSM_CONFIG": str(tmp_path / "user.toml"),
            "CRATON_HSM_POLICY": str(tmp_path / "policy.toml")}


def test_policy_pins_and_logs_each_override(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    env = _files(tmp_path, '[algorithms]\nfips_approved_only = false\n'
                 '[crypto]\nprofile = "governance"\n[slots]\ncount = 2\n')
    with caplog.at_level(logging.WARNING, logger="craton_hsm.config"):
        config = load_config(env)
    assert config.fips_approved_only is True
    assert config.slot_count == 2            # not pinned: the user's
    assert config.policy_source == tmp_path / "policy.toml"
    assert config.pinned == ("algorithms.fips_approved_only",
                             "crypto.profile")
    # One line per key whose user value differed; none for an equal one.
    assert [r.getMessage() for r in caplog.records] == [
        ("policy pins algorithms.fips_approved_only = True; user config "
         "value False ignored")]


def test_policy_applies_without_a_user_config(tmp_path: Path) -> None:
    env = _files(tmp_path, "")
    del env["CRATON_HSM_CONFIG"]
    config = load_config(env)
    assert (config.fips_approved_only, config.source) == (True, None)


def test_missing_default_policy_is_no_policy(tmp_path: Path) -> None:
    # The default path (/etc/craton-hsm/policy.toml) is absent here.
    assert not Path("/etc/craton-hsm/policy.toml").exists()
    config = load_config({"HOME": str(tmp_path)})
    assert (config.policy_source, config.pinned) == (None, ())


def test_named_policy_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config({"HOME": str(tmp_path),
                     "CRATON_HSM_POLICY": str(tmp_path / "nope.toml")})


def test_writable_policy_refused(tmp_path: Path) -> None:
    env = _files(tmp_path, "")
    os.chmod(tmp_path / "policy.toml", 0o664)
    with pytest.raises(ConfigError, match="group- or world-writable"):
        load_config(env)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_policy_owned_by_another_user_refused(tmp_path: Path) -> None:
    env = _files(tmp_path, "")
    os.chown(tmp_path / "policy.toml", 65534, 65534)
    with pytest.raises(ConfigError, match="owned by uid 65534"):
        load_config(env)


def test_policy_schema_errors_name_the_policy(tmp_path: Path) -> None:
    env = _files(tmp_path, "", "[crypto]\nprofile = \"fast\"\n")
    with pytest.raises(ConfigError, match="policy.toml: crypto.profile"):
        load_config(env)


def test_pinned_mode_holds_through_the_so(
        libpath: Path, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    env = _files(tmp_path, "[algorithms]\nfips_approved_only = false\n")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CRATON_HSM_DATA_DIR", str(tmp_path / "data"))
    lib = ffi.dlopen(str(libpath))
    assert name(lib.C_Initialize(NULL)) == "OK"
    try:
        info = ffi.new("CK_MECHANISM_INFO *")
        assert name(lib.C_GetMechanismInfo(
            0, CKM.CHACHA20_POLY1305, info)) == "MECHANISM_INVALID"
        assert name(lib.C_GetMechanismInfo(0, CKM.AES_GCM, info)) == "OK"
    finally:
        assert name(lib.C_Finalize(NULL)) == "OK"
