"""`make docs`: the site builds with `mkdocs build --strict` (no warning:
no broken link, anchor or nav entry), and its nav names every page of
docs/ and of the repo-root fips/ folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _nav_pages(node: object) -> set[str]:
    if isinstance(node, str):
        return {node}
    if isinstance(node, list):
        return set().union(*(_nav_pages(n) for n in node))
    if isinstance(node, dict):
        return set().union(*(_nav_pages(v) for v in node.values()))
    return set()


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict",
         "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    site = tmp_path / "site"
    # fips/ pages are in the site although the folder stays at the root.
    assert (site / "fips" / "security-policy" / "index.html").is_file()
    assert (site / "getting-started" / "index.html").is_file()


def test_nav_names_every_page() -> None:
    # mkdocs.yml has no !!python tags, so the safe loader reads it.
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = _nav_pages(config["nav"])
    pages = {p.relative_to(ROOT / "docs").as_posix()
             for p in (ROOT / "docs").rglob("*.md")}
    pages |= {p.relative_to(ROOT).as_posix()
              for p in (ROOT / "fips").rglob("*.md")}
    assert sorted(pages - nav) == []
    assert sorted(p for p in nav
                  if not p.startswith(("fips/", "bench/"))
                  and p not in pages) == []
