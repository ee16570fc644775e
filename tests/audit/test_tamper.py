"""Any tampering with a copy of the log, at another path, is found by
``craton-hsm audit verify`` (exit 1, first bad record named), issue 6
"Done when"."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from craton_hsm.audit import record as rec
from craton_hsm.backend import audit_primitives as prim
from tests.abi.test_hostile import NULL, expect
from tests.audit.conftest import cli, write_config

Lines = list[bytes]


@pytest.fixture(scope="module")
def original(lib: Any, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Path, Path]:
    """A log of ~40 records with a checkpoint every 4, and its public
    key saved elsewhere (as an operator would, early)."""
    base = tmp_path_factory.mktemp("tamper")
    config = write_config(base, checkpoint_every=4)
    mp = pytest.MonkeyPatch()
    mp.setenv("CRATON_HSM_DATA_DIR", str(base / "data"))
    mp.setenv("CRATON_HSM_CONFIG", str(config))
    try:
        for _ in range(3):
            expect(lib.C_Initialize(NULL), "OK")
            for _ in range(8):
                lib.C_GenerateRandom(1, NULL, 0)   # refused, recorded
            expect(lib.C_Finalize(NULL), "OK")
    finally:
        mp.undo()
    pinned = base / "pinned.pem"
    shutil.copy(base / "data" / "audit" / "audit-pubkey.pem", pinned)
    return base / "data" / "audit", pinned


def _copy(original: tuple[Path, Path], tmp_path: Path) -> Path:
    elsewhere = tmp_path / "elsewhere" / "audit"
    shutil.copytree(original[0], elsewhere)
    return elsewhere


def _verify(directory: Path, pinned: Path) -> tuple[int, Any]:
    return cli("verify", "--path", str(directory), "--pubkey", str(pinned),
               "--json")


def _rechain(lines: Lines, start: int,
             sign: Callable[[int, str], str] | None = None) -> Lines:
    """An attacker's repair: recompute every hash from ``start`` (and,
    with a key, every checkpoint signature)."""
    chain = rec.Chain(rec.SHA256)
    out = lines[:start]
    prev = json.loads(out[-1])["hash"]
    for line in lines[start:]:
        r = json.loads(line)
        r.pop("hash")
        r["prev"] = prev
        if r["event"] == "checkpoint":
            r["signed_hash"] = prev
            if sign is not None:
                r["sig"] = sign(r["signed_seq"], prev)
        new, prev = rec.seal(chain, r)
        out.append(new)
    return out


def _edit_rv(lines: Lines, i: int) -> Lines:
    r = json.loads(lines[i])
    r["rv"] = "CKR_OK"
    return lines[:i] + [rec.canonical(r) + b"\n"] + lines[i + 1:]


def _checkpoint_index(lines: Lines, after: int) -> int:
    return next(i for i, line in enumerate(lines)
                if i > after and b'"event":"checkpoint"' in line)


TAMPER: dict[str, tuple[Callable[[Lines], Lines], int, str]] = {
    # name: (change, 1-based line of the first bad record, reason part)
    "modify": (lambda ls: _edit_rv(ls, 9), 10, "hash does not match"),
    "reformat": (lambda ls: ls[:9] + [ls[9].replace(b",", b", ", 1)]
                 + ls[10:], 10, "canonical"),
    "delete": (lambda ls: ls[:9] + ls[10:], 10, "sequence break"),
    "insert": (lambda ls: ls[:9] + [ls[4]] + ls[9:], 10, "sequence break"),
    "reorder": (lambda ls: ls[:9] + [ls[10], ls[9]] + ls[11:], 10,
                "sequence break"),
    "truncate": (lambda ls: ls[:9] + [ls[9][:40]], 10, "truncated"),
    "drop-genesis": (lambda ls: ls[1:], 1, "genesis"),
}


@pytest.mark.parametrize("kind", sorted(TAMPER))
def test_tampering_is_named(original, tmp_path, kind):
    change, line, reason = TAMPER[kind]
    copy = _copy(original, tmp_path)
    log = copy / "audit.log"
    log.write_bytes(b"".join(change(log.read_bytes().splitlines(True))))
    rc, out = _verify(copy, original[1])
    assert rc == 1, out
    bad = out["first_bad"]
    assert (bad["file"], bad["line"]) == ("audit.log", line)
    assert reason in bad["reason"]


def test_untouched_copy_verifies(original, tmp_path):
    rc, out = _verify(_copy(original, tmp_path), original[1])
    assert rc == 0, out
    assert out["checkpoints"] >= 6 and out["unsigned_tail"] == 0


def test_rehashed_chain_is_caught_at_the_next_checkpoint(original,
                                                         tmp_path):
    copy = _copy(original, tmp_path)
    log = copy / "audit.log"
    lines = _rechain(_edit_rv(log.read_bytes().splitlines(True), 9), 9)
    log.write_bytes(b"".join(lines))
    rc, out = _verify(copy, original[1])
    assert rc == 1
    assert out["first_bad"]["line"] == _checkpoint_index(lines, 9) + 1
    assert "checkpoint" in out["first_bad"]["reason"]


def test_replaced_checkpoint_signature(original, tmp_path):
    copy = _copy(original, tmp_path)
    log = copy / "audit.log"
    lines = log.read_bytes().splitlines(True)
    i = _checkpoint_index(lines, 9)
    lines = _rechain(lines, i, sign=lambda s, h: "00" * 64)
    log.write_bytes(b"".join(lines))
    rc, out = _verify(copy, original[1])
    assert rc == 1
    assert out["first_bad"]["line"] == i + 1
    assert out["first_bad"]["reason"] == \
        "checkpoint signature does not verify"


def test_swapped_key_is_caught_by_the_pinned_pubkey(original, tmp_path):
    """A forger who rewrites the log and re-signs it with a key of their
    own passes a check that trusts the directory, not a pinned key."""
    copy = _copy(original, tmp_path)
    key = prim.new_signing_key()
    public = prim.public_raw(key)
    (copy / "audit-pubkey.pem").write_bytes(prim.public_pem(public))
    key_id = prim.sha256_hex(public)[:32]
    log = copy / "audit.log"
    lines = _edit_rv(log.read_bytes().splitlines(True), 9)

    def sign(seq: int, head: str) -> str:
        return prim.sign(key, rec.checkpoint_message(seq, head)).hex()

    lines = [json.dumps({**json.loads(x), **(
        {"key": key_id} if b'"checkpoint"' in x else {})},
        sort_keys=True, separators=(",", ":")).encode() + b"\n"
        for x in lines]
    log.write_bytes(b"".join(_rechain(lines, 1, sign=sign)))
    rc, out = cli("verify", "--path", str(copy), "--json")
    assert rc == 0, out       # the directory's own (swapped) key
    rc, out = _verify(copy, original[1])
    assert rc == 1
    assert out["first_bad"]["reason"] == "checkpoint signed by another key"
