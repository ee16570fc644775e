"""The shell blocks of the docs pages, and the convention that marks the
few that must not run.

Every fenced block whose info string is ``sh``, ``bash`` or ``console``
is a shell command against the demo token (``make demo``'s token:
label ``craton-demo``, SO PIN 12345678, user PIN 1234, EC key
``demo-ec``), typed at the repository root.  For ``console`` blocks only
the lines after a ``$ `` prompt run (and the ``\\``-continued lines
after them); the rest is shown output.

A block that must not run says why on the line right above its fence,
in an HTML comment (invisible on GitHub and in the site, and the
Python-Markdown fence syntax has no room for a flag):

    <!-- docs-test: skip: REASON -->

REASON is one of :data:`REASONS`, or ``covered by <path>`` naming the
test file that runs those commands (it must exist).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELLS = ("sh", "bash", "console")
MARK = re.compile(r"^<!--\s*docs-test:\s*skip:\s*(?P<reason>.+?)\s*-->$")
COVERED = re.compile(r"^covered by (?P<path>\S+)$")
# The whole list of reasons a block may give for not running.
REASONS = {
    "builds the module or runs the suite": "make demo / make test",
    "starts a server": "a foreground server the reader stops",
    "needs root": "writes system directories",
    "needs a remote host": "ssh user@host",
    "prompts on the terminal": "a PIN or passphrase prompt",
}
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Block:
    page: str        # repository path
    line: int        # line of the opening fence (1-based)
    lang: str
    body: str
    skip: str | None  # the reason, or None for a block that runs

    def script(self) -> str:
        if self.lang != "console":
            return self.body
        lines, take = [], False
        for raw in self.body.splitlines():
            if raw.startswith("$ "):
                lines.append(raw[2:])
                take = raw.endswith("\\")
            elif take:
                lines.append(raw)
                take = raw.endswith("\\")
        return "\n".join(lines) + "\n"


def pages() -> list[Path]:
    return sorted((ROOT / "docs").rglob("*.md")) \
        + sorted((ROOT / "fips").rglob("*.md"))


def blocks(path: Path) -> list[Block]:
    text = path.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(text):
        m = _FENCE.match(text[i])
        if not m:
            i += 1
            continue
        start, indent, ticks = i, len(m["indent"]), m["ticks"]
        lang = m["info"].strip()
        body: list[str] = []
        i += 1
        while i < len(text) and not text[i].strip().startswith(ticks):
            # a fence indented in a list item indents its body too
            line = text[i]
            cut = len(line) - len(line.lstrip())
            body.append(line[min(indent, cut):])
            i += 1
        i += 1
        if lang not in SHELLS:
            continue
        prev = next((t.strip() for t in reversed(text[:start])
                     if t.strip()), "")
        mark = MARK.match(prev)
        found.append(Block(path.relative_to(ROOT).as_posix(), start + 1,
                           lang, "\n".join(body) + "\n",
                           mark["reason"] if mark else None))
    return found


def reason_ok(reason: str) -> bool:
    covered = COVERED.match(reason)
    if covered:
        return (ROOT / covered["path"]).is_file()
    return reason in REASONS
