"""Non-PKCS#11 events in the trail (issue 6 "Coverage"): policy
overrides.  Self-test passes and error-state entries are checked where
they are injected (tests/selftest/test_selftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.abi.test_hostile import NULL, expect

from .conftest import read_records


def test_policy_override_is_recorded(lib: Any, env: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch
                                     ) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[algorithms]\nfips_approved_only = true\n")
    user = tmp_path / "user.toml"
    user.write_text("[algorithms]\nfips_approved_only = false\n")
    monkeypatch.setenv("CRATON_HSM_POLICY", str(policy))
    monkeypatch.setenv("CRATON_HSM_CONFIG", str(user))
    expect(lib.C_Initialize(NULL), "OK")
    expect(lib.C_Finalize(NULL), "OK")
    found = [r for r in read_records(env / "audit")
             if r["event"] == "policy"]
    assert [(r["source"], r["pinned"]) for r in found] == \
        [(str(policy), ["algorithms.fips_approved_only"])]


def test_nothing_from_an_unaudited_run_reaches_a_later_trail(
        lib: Any, env: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls made while auditing is off are not queued and written into
    the trail of a later C_Initialize that has it on."""
    off = tmp_path / "off.toml"
    off.write_text("[audit]\nenabled = false\n")
    monkeypatch.setenv("CRATON_HSM_CONFIG", str(off))
    expect(lib.C_Initialize(NULL), "OK")
    for _ in range(300):        # more than the start-up queue holds
        expect(lib.C_Initialize(NULL), "CRYPTOKI_ALREADY_INITIALIZED")
    expect(lib.C_Finalize(NULL), "OK")
    assert not (env / "audit").exists()
    monkeypatch.delenv("CRATON_HSM_CONFIG")
    expect(lib.C_Initialize(NULL), "OK")
    expect(lib.C_Finalize(NULL), "OK")
    events = [(r["event"], r.get("rv")) for r in read_records(env / "audit")
              if r["event"] not in ("genesis", "checkpoint")]
    assert ("selftest", None) in events
    assert ("C_Initialize", "CKR_CRYPTOKI_ALREADY_INITIALIZED") \
        not in events
