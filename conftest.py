"""Session start for every test run (tests/ and conformance/): the build
step.  `make build` rebuilds build/libcraton_hsm.so when its inputs
changed and always rewrites the integrity manifest beside it
(docs/selftests.md): with the editable install, an edit of any
craton_hsm file changes what the library runs, and C_Initialize's
integrity self-test refuses a package that differs from the manifest.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


def pytest_sessionstart(session: pytest.Session) -> None:
    subprocess.run(["make", "-s", "-C", str(ROOT), "build"], check=True,
                   stdout=subprocess.DEVNULL)


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data dir for the module in this process (and children):
    CRATON_HSM_DATA_DIR set, any CRATON_HSM_CONFIG cleared."""
    data = tmp_path / "data"
    monkeypatch.setenv("CRATON_HSM_DATA_DIR", str(data))
    monkeypatch.delenv("CRATON_HSM_CONFIG", raising=False)
    return data
