"""Which audit records are fsync'd under ``[audit] fsync = "state"``
(docs/audit.md "Durability and failure"): those of persistent state
changes.  Object records count as such only for token objects -- a
session object ends with its process, like a session, and an fsync
per session key was three quarters of C_GenerateKey's cost.

Counted with strace (-y names each descriptor's file): the fsyncs of
the audit log in a client that makes, changes and destroys ``n`` sets
of objects (tests/audit/fsync_child.py), minus those of the same client
with ``n = 0``.  Checkpoints are kept out of the count by
``checkpoint_every``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.audit.conftest import read_records, write_config

ROOT = Path(__file__).resolve().parents[2]
# Per set: C_GenerateKey, C_SetAttributeValue, C_GenerateKeyPair,
# C_CreateObject, C_CopyObject and five C_DestroyObject.
RECORDS_PER_SET = 10
SETS = 3


def _audit_fsyncs(libpath: Path, tmp_path: Path, kind: str, n: int
                  ) -> tuple[int, int]:
    """(fsyncs of audit log files, records written) of one client run."""
    run = tmp_path / f"{kind}-{n}"
    data = run / "data"
    data.mkdir(parents=True, mode=0o700)
    config = write_config(run, checkpoint_every=100000, fsync="state")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CRATON_HSM_")}
    env |= {"CRATON_HSM_DATA_DIR": str(data),
            "CRATON_HSM_CONFIG": str(config)}
    trace = run / "strace.out"
    done = subprocess.run(
        ["strace", "-f", "-qq", "-y", "-e", "trace=fsync,fdatasync",
         "-o", str(trace), sys.executable, "-m", "tests.audit.fsync_child",
         str(libpath), kind, str(n)],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300)
    assert done.returncode == 0, done.stderr
    audit_dir = str(data / "audit")
    synced = [line for line in trace.read_text().splitlines()
              if re.search(r"f(data)?sync\(\d+<" + re.escape(audit_dir) +
                           r"/audit[^>]*\.log>\) = 0", line)]
    return len(synced), len(read_records(data / "audit"))


@pytest.mark.parametrize("kind", ["session", "token"])
def test_object_records_are_synced_only_for_token_objects(
        libpath: Path, tmp_path: Path, kind: str) -> None:
    base, base_records = _audit_fsyncs(libpath, tmp_path, kind, 0)
    synced, records = _audit_fsyncs(libpath, tmp_path, kind, SETS)
    # Every call has its record either way (written before it returns).
    assert records - base_records == SETS * RECORDS_PER_SET
    assert base > 0             # the token's own set-up is synced
    if kind == "session":
        assert synced == base
    else:
        assert synced - base == SETS * RECORDS_PER_SET
