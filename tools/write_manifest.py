"""Write the integrity manifest beside the built library (the build step
of docs/selftests.md; `make build` runs it every time, and so does the
test suite's session start, because an editable install means every
edit of a craton_hsm file changes what the library runs).

Run: .venv/bin/python tools/write_manifest.py [build/libcraton_hsm.so]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from craton_hsm.selftest import integrity

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    library = Path(argv[0]) if argv else ROOT / "build" / "libcraton_hsm.so"
    if not library.is_file():
        print(f"{library}: not built; run `make build`", file=sys.stderr)
        return 1
    start = time.perf_counter()
    path = integrity.write_manifest(library)
    print(f"{path} ({time.perf_counter() - start:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
