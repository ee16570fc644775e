"""Every repository path a docs page names in backticks (`craton_hsm/...`,
`tests/...`, `conformance/...`, `tools/...`, `bench/...`, `ffi/...`)
exists: the compliance mapping and the other pages name the source file
and the test behind each claim, and a renamed file must not leave a
claim pointing nowhere."""

from __future__ import annotations

import re

from tests.docs.blocks import ROOT, pages

PATH = re.compile(r"`((?:craton_hsm|tests|conformance|tools|bench|ffi)"
                  r"/[A-Za-z0-9_./-]+)`")


def test_named_paths_exist() -> None:
    missing = sorted({
        (page.relative_to(ROOT).as_posix(), m)
        for page in pages()
        for m in PATH.findall(page.read_text())
        if "*" not in m and not (ROOT / m.rstrip("/")).exists()})
    assert missing == []


TEST_NAME = re.compile(r"`(test_\w+)`")


def test_named_tests_exist_in_the_files_beside_them() -> None:
    """A line that names `test_x` and test files: `test_x` is defined in
    one of those files (the compliance tables cite tests this way)."""
    wrong = []
    for page in pages():
        for n, line in enumerate(page.read_text().splitlines(), 1):
            names = TEST_NAME.findall(line)
            files = [ROOT / m for m in PATH.findall(line)
                     if m.endswith(".py") and (ROOT / m).is_file()]
            if not names or not files:
                continue
            text = "".join(f.read_text() for f in files)
            wrong += [(page.name, n, name) for name in names
                      if not re.search(rf"def {name}\b", text)]
    assert wrong == []
