"""`craton-hsm status --security-posture` run for real: profile,
approved-only mode, self-test state, mlock probe, policy file and the
keys it pins, as JSON and as text."""

from __future__ import annotations

import os
import resource
from pathlib import Path

from tests.cli.conftest import Run


def test_posture_json_reports_policy_and_pins(run: Run,
                                              tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[algorithms]\nfips_approved_only = true\n")
    os.chmod(policy, 0o644)
    user = tmp_path / "user.toml"
    user.write_text('[crypto]\nprofile = "leading-edge"\n')
    r = run("status", "--security-posture", "--json",
            CRATON_HSM_POLICY=str(policy), CRATON_HSM_CONFIG=str(user))
    assert r.rc == 0, r.err
    doc = r.json()
    assert doc["crypto_profile"] == "leading-edge"
    assert doc["fips_approved_only"] is True
    assert doc["policy_file"] == str(policy)
    assert doc["pinned"] == ["algorithms.fips_approved_only"]
    assert doc["self_tests"]["state"] == "passed"
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    # The probe locks one page: possible whenever the soft limit allows
    # a page (or this process may ignore it, as root with CAP_IPC_LOCK).
    if soft == resource.RLIM_INFINITY or soft >= 4096 or os.geteuid() == 0:
        assert doc["mlock"]["available"] is True
    assert doc["mlock"]["rlimit_memlock"]["soft"] in (
        "unlimited", soft)


def test_posture_text_defaults(run: Run) -> None:
    r = run("status", "--security-posture")
    assert r.rc == 0, r.err
    lines = {line.split(None, 1)[0]: line for line in r.out.splitlines()}
    assert "governance" in r.out
    assert "Approved-only   off" in r.out
    assert "Policy file     (none)" in r.out
    assert "passed" in lines["Self-tests"]
