"""atheris entry point: ``python tests/fuzz/fuzz_abi.py [libFuzzer args]``.

The harness (tests/fuzz/harness.py) loads build/libcraton_hsm.so with
cffi; the module's Python code runs in this interpreter, so it is
imported under ``atheris.instrument_imports`` for coverage feedback.
``make fuzz`` runs this through tests/fuzz/run.py, which adds the corpus
directories and prints the numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.harness import Harness

HARNESS: Harness | None = None


def test_one_input(data: bytes) -> None:
    assert HARNESS is not None
    HARNESS.run(data)


def main() -> None:
    global HARNESS
    with atheris.instrument_imports(include=["craton_hsm"]):
        HARNESS = Harness()
        HARNESS.setup()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
