"""mkdocs hooks: build the site from docs/ plus the repo-root fips/ folder.

The Markdown files are written to be read in the repository (GitHub,
an editor): their links are repository-relative, e.g. fips/README.md
links to ``../docs/audit.md`` and docs pages link to source files such
as ``../craton_hsm/audit/trail.py``.  The site has a different shape,
so this hook

* adds ``fips/*.md`` (kept at the repo root, issue 10) and
  ``bench/REPORT.md`` to the site's files without copying them;
* rewrites every relative link from its repository path to the site
  path of the page it names; a link to a repository file that is not a
  page (source, tests, vectors) becomes its text, because the site
  serves no source tree;
* warns (so ``mkdocs build --strict`` fails) on a link to a path that
  exists nowhere in the repository.
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
LOG = logging.getLogger("mkdocs.hooks.craton_links")

# Repository folders/files served as pages besides docs/.
EXTRA_PAGES = ("fips", "bench/REPORT.md")

_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<url>[^)\s]+)\)")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _extra_files() -> list[str]:
    found: list[str] = []
    for entry in EXTRA_PAGES:
        path = ROOT / entry
        if path.is_dir():
            found += [p.relative_to(ROOT).as_posix()
                      for p in sorted(path.rglob("*.md"))]
        elif path.is_file():
            found.append(entry)
    return found


def on_files(files: Files, config: Any) -> Files:
    for rel in _extra_files():
        files.append(File(rel, str(ROOT), config["site_dir"],
                          config["use_directory_urls"]))
    return files


def _repo_path(src_uri: str, src_dir: str) -> str:
    """The page's path in the repository."""
    if Path(src_dir).resolve() == ROOT:
        return src_uri
    return f"docs/{src_uri}"


def _site_uri(repo_rel: str) -> str | None:
    """The site path of a repository file, or None if it is no page."""
    if repo_rel.startswith("docs/"):
        return repo_rel[len("docs/"):]
    if repo_rel in _extra_files():
        return repo_rel
    return None


def _rewrite(page_repo: str, match: re.Match[str]) -> str:
    text, url = match.group("text"), match.group("url")
    if re.match(r"^[a-z][a-z0-9+.-]*:", url) or url.startswith(("#", "/")):
        return match.group(0)
    path, _, frag = url.partition("#")
    target = posixpath.normpath(
        posixpath.join(posixpath.dirname(page_repo), path))
    if target.startswith("../") or not (ROOT / target).exists():
        LOG.warning("%s links to %r, which is no file of the repository",
                    page_repo, url)
        return match.group(0)
    if (ROOT / target).is_dir():
        readme = posixpath.join(target, "README.md")
        if _site_uri(readme) is not None:
            target = readme
    site = _site_uri(target)
    if site is None:
        return text
    page_site = _site_uri(page_repo) or page_repo
    rel = posixpath.relpath(site, posixpath.dirname(page_site) or ".")
    return f"[{text}]({rel}{'#' + frag if frag else ''})"


def on_page_markdown(markdown: str, page: Any, config: Any,
                     files: Files) -> str:
    page_repo = _repo_path(page.file.src_uri, page.file.src_dir)
    # Links inside fenced code are text, not links: rewrite only the
    # prose between fences (a link's text may span lines).
    out: list[str] = []
    prose: list[str] = []
    fenced = False

    def flush() -> None:
        if prose:
            out.append(_LINK.sub(lambda m: _rewrite(page_repo, m),
                                 "\n".join(prose)))
            prose.clear()

    for line in markdown.split("\n"):
        if _FENCE.match(line):
            flush()
            fenced = not fenced
            out.append(line)
        elif fenced:
            out.append(line)
        else:
            prose.append(line)
    flush()
    return "\n".join(out)
