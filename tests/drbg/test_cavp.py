"""NIST CAVP HMAC_DRBG vectors (CAVS 14.3, drbgtestvectors.zip; shared
vectors ``nist_cavp_drbg/``, PROVENANCE.md there): every [SHA-256]
section of the three response files, i.e. with and without prediction
resistance, with and without an explicit reseed, and every combination
of personalisation string and additional input lengths.  One test per
section (15 COUNTs each); 48 sections, 720 vectors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from craton_hsm.drbg.hmac_drbg import HmacDrbg
from tests.mechanisms.vectors import SHARED

DRBG_DIR = SHARED / "nist_cavp_drbg"
FILES = ("pr_true", "pr_false", "no_reseed")


def _sections(path: Path) -> list[tuple[str, list[list[tuple[str, str]]]]]:
    """The [SHA-256] sections: (header, records); a record keeps its
    ``KEY = value`` lines in order (AdditionalInput repeats)."""
    sections = []
    for chunk in re.split(r"\n(?=\[SHA-)", path.read_text()):
        if not chunk.startswith("[SHA-256]"):
            continue
        header = " ".join(re.findall(r"^\[(.*)\]$", chunk, re.MULTILINE))
        records = []
        for block in re.split(r"\n\s*\n", chunk):
            pairs = re.findall(r"^(\w+) = ?(.*)$", block, re.MULTILINE)
            if pairs and pairs[0][0] == "COUNT":
                records.append(pairs[1:])
        sections.append((header, records))
    return sections


def _params() -> list[object]:
    params = []
    for name in FILES:
        sections = _sections(DRBG_DIR / name / "HMAC_DRBG.rsp")
        assert len(sections) == 16, name    # a short file is an error
        for i, (header, records) in enumerate(sections):
            lens = re.sub(r"[^0-9]+", "-", header.split("]", 1)[-1]).strip("-")
            params.append(pytest.param(name, header, records,
                                       id=f"{name}-{i:02d}-{lens}"))
    return params


def _run(kind: str, rec: list[tuple[str, str]]) -> tuple[bytes, bytes]:
    """Replays one COUNT (the call sequence of the Readme.txt files):
    returns (second generate output, ReturnedBits)."""
    val = {}
    adds, prs = [], []
    for key, hexval in rec:
        data = bytes.fromhex(hexval)
        if key == "AdditionalInput":
            adds.append(data)
        elif key == "EntropyInputPR":
            prs.append(data)
        else:
            val[key] = data
    want = val["ReturnedBits"]
    drbg = HmacDrbg(val["EntropyInput"], val["Nonce"],
                    val["PersonalizationString"])
    if kind == "pr_false":
        drbg.reseed(val["EntropyInputReseed"], val["AdditionalInputReseed"])
    out = b""
    for i, add in enumerate(adds):
        if kind == "pr_true":
            # 9.3.1 step 7: prediction resistance reseeds with the
            # additional input, which is then not used again.
            drbg.reseed(prs[i], add)
            add = b""
        out = drbg.generate(len(want), add)
    assert len(adds) == 2
    return out, want


@pytest.mark.parametrize(("kind", "header", "records"), _params())
def test_hmac_drbg_sha256_cavp(kind: str, header: str,
                               records: list[list[tuple[str, str]]]) -> None:
    assert len(records) == 15, header
    for count, rec in enumerate(records):
        got, want = _run(kind, rec)
        assert got == want, f"{header} COUNT = {count}"


def test_sections_cover_prediction_resistance_both_ways() -> None:
    headers = [p.values[1] for p in _params()]  # type: ignore[attr-defined]
    assert sum("PredictionResistance = True" in h for h in headers) == 16
    assert sum("PredictionResistance = False" in h for h in headers) == 32
    assert any("PersonalizationStringLen = 256" in h
               and "AdditionalInputLen = 256" in h for h in headers)
    assert any("PersonalizationStringLen = 0" in h
               and "AdditionalInputLen = 0" in h for h in headers)
