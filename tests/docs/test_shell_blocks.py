"""Every docs page's shell blocks run against a copy of the demo token
(convention and skip reasons: tests/docs/blocks.py).

Each page's runnable blocks run in order in ONE bash (`set -euo
pipefail`), as a reader types them into one terminal, in a scratch
"repository root": build/libcraton_hsm.so is a copy of the built module
with its own manifest (CRATON_HSM_MODULE names it), build/demo-data is a fresh copy of the demo token, every
other top-level entry links to the checkout; HOME is empty, the PINs
are in SO_PIN and USER_PIN, CRATON_HSM_DATA_DIR names the copy.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.blocks import REASONS, ROOT, Block, blocks, pages, reason_ok

LIB = ROOT / "build" / "libcraton_hsm.so"
SO_PIN, USER_PIN = "12345678", "1234"
PAGES = [p for p in pages() if any(b.skip is None for b in blocks(p))]


@pytest.fixture(scope="module")
def demo_token(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("demo") / "demo-data"
    env = dict(os.environ)
    env.pop("CRATON_HSM_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "demo.py"), "--data-dir",
         str(data)], env=env, capture_output=True, text=True,
        timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo OK" in proc.stdout
    return data


@pytest.fixture(scope="module")
def module_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built .so with its own integrity manifest, written now: the
    pages run for minutes while others may edit the package."""
    lib = tmp_path_factory.mktemp("module") / LIB.name
    shutil.copy2(LIB, lib)
    subprocess.run([sys.executable, str(ROOT / "tools" / "write_manifest.py"),
                    str(lib)], check=True, capture_output=True, timeout=120)
    return lib


def _scratch_root(tmp: Path, demo: Path, lib: Path) -> Path:
    root = tmp / "repo"
    (root / "build").mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name not in ("build", ".git"):
            (root / entry.name).symlink_to(entry)
    (root / "build" / lib.name).symlink_to(lib)
    shutil.copytree(demo, root / "build" / "demo-data")
    return root


def _script(runnable: list[Block]) -> str:
    parts = ["set -euo pipefail"]
    for b in runnable:
        parts.append(f"echo {shlex.quote(f'>>> {b.page}:{b.line}')} >&2")
        parts.append(b.script())
    return "\n".join(parts)


@pytest.mark.parametrize("page", PAGES,
                         ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_page_blocks_run(page: Path, demo_token: Path, module_copy: Path,
                         tmp_path: Path) -> None:
    root = _scratch_root(tmp_path, demo_token, module_copy)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CRATON_HSM_", "OPENSSL_", "GNUTLS_"))}
    env.update(HOME=str(home), SO_PIN=SO_PIN, USER_PIN=USER_PIN,
               CRATON_HSM_MODULE=str(root / "build" / LIB.name),
               CRATON_HSM_DATA_DIR=str(root / "build" / "demo-data"),
               PATH=f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}",
               VIRTUAL_ENV=str(ROOT / ".venv"))
    runnable = [b for b in blocks(page) if b.skip is None]
    proc = subprocess.run(
        ["bash", "-c", _script(runnable)], cwd=root, env=env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=600, check=False)
    # stderr's last ">>> page:line" names the block that failed.
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}"
        f"\n--- stderr\n{proc.stderr[-3000:]}")


def test_skip_marks_give_a_known_reason() -> None:
    bad = [(b.page, b.line, b.skip) for p in pages() for b in blocks(p)
           if b.skip is not None and not reason_ok(b.skip)]
    assert bad == [], f"reasons allowed: {sorted(REASONS)} or 'covered " \
                      "by <existing test file>'"


def test_console_blocks_have_prompts() -> None:
    """A console block without a `$ ` line would run nothing."""
    empty = [(b.page, b.line) for p in pages() for b in blocks(p)
             if b.lang == "console" and not b.script().strip()]
    assert empty == []
