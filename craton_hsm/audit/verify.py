"""Verification of an audit chain, offline or at start-up
(docs/audit.md "Verifying").

One ``Verifier`` walks records in order and names the first one that
breaks a rule: a line that is not canonical JSON, a gap or repeat in
``seq``, a ``prev`` that is not the previous ``hash``, a ``hash`` that
does not recompute, a file that does not start with ``genesis`` or
``rotate``, or a checkpoint whose Ed25519 signature does not verify
under the expected public key.
"""

from __future__ import annotations

import contextlib
import os
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from craton_hsm.audit import files, keys
from craton_hsm.audit import record as rec
from craton_hsm.backend import audit_primitives as prim


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    seq: int | None
    reason: str


@dataclass
class Report:
    records: int = 0
    checkpoints: int = 0
    last_checkpoint_seq: int | None = None
    last_seq: int | None = None
    algorithm: str | None = None
    key_id: str | None = None
    first_bad: Finding | None = None
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.first_bad is None

    @property
    def unsigned_tail(self) -> int:
        """Records after the last checkpoint: no signature covers them."""
        if self.last_seq is None:
            return 0
        return self.last_seq - (self.last_checkpoint_seq or 0)

    def as_dict(self) -> dict[str, Any]:
        bad = self.first_bad
        return {"ok": self.ok, "records": self.records,
                "checkpoints": self.checkpoints,
                "last_checkpoint_seq": self.last_checkpoint_seq,
                "last_seq": self.last_seq,
                "unsigned_tail": self.unsigned_tail,
                "algorithm": self.algorithm, "key_id": self.key_id,
                "files": self.files,
                "first_bad": None if bad is None else bad.__dict__}


class Bad(Exception):
    """One rule broken; the message is the reason."""


class Verifier:
    def __init__(self, public: bytes, chain_key: bytes | None,
                 mid_chain: bool = False) -> None:
        self.public = public
        self.key_id = keys.key_id(public)
        self.chain_key = chain_key
        self.chain: rec.Chain | None = None
        self.seq: int | None = None
        self.head: str | None = None
        self.mid_chain = mid_chain   # start-up check: no genesis needed
        self.report = Report(key_id=self.key_id)
        self.file_name: str | None = None

    def feed(self, line: bytes, first_in_file: bool) -> None:
        """Check one line (with its newline); raises Bad."""
        if not line.endswith(b"\n"):
            raise Bad("truncated record (no end of line)")
        try:
            record = files.parse(line)
        except ValueError:
            raise Bad("not a JSON record") from None
        if rec.canonical(record) + b"\n" != line:
            raise Bad("not in canonical form (edited by hand?)")
        missing = {"seq", "time", "pid", "event", "prev", "hash"} - \
            record.keys()
        if missing:
            raise Bad(f"missing fields {sorted(missing)}")
        self._position(record, first_in_file)
        assert self.chain is not None
        if rec.rehash(self.chain, record) != record["hash"]:
            raise Bad("hash does not match the record (modified)")
        if record["event"] == "checkpoint":
            self._checkpoint(record)
        self.seq, self.head = record["seq"], record["hash"]
        self.report.records += 1
        self.report.last_seq = self.seq

    def _position(self, record: dict[str, Any], first_in_file: bool
                  ) -> None:
        event, seq = record["event"], record["seq"]
        if self.seq is not None and seq != self.seq + 1:
            raise Bad(f"sequence break: expected {self.seq + 1}, found "
                      f"{seq} (record deleted, inserted or reordered)")
        if self.head is not None and record["prev"] != self.head:
            raise Bad("prev is not the previous record's hash")
        if event in ("genesis", "rotate") and not first_in_file:
            raise Bad(f"{event} record inside a file")
        if first_in_file and self.chain is None and not self.mid_chain \
                and event != "genesis":
            raise Bad("the chain does not start with genesis (earlier "
                      "files missing?)")
        if first_in_file and self.chain is not None and event != "rotate":
            raise Bad("a continued file does not start with rotate")
        if event == "genesis" and (seq != 1 or
                                   record["prev"] != rec.GENESIS_PREV):
            raise Bad("genesis is not record 1")
        if event == "rotate" and self.file_name is not None and \
                record.get("prev_file") not in (None, self.file_name):
            raise Bad("rotate names another previous file")
        if event in ("genesis", "rotate"):
            self._adopt(str(record.get("chain")))

    def _adopt(self, algorithm: str) -> None:
        if self.chain is not None and self.chain.algorithm != algorithm:
            raise Bad("the chain algorithm changed")
        if algorithm not in rec.ALGORITHMS:
            raise Bad(f"unknown chain algorithm {algorithm!r}")
        if algorithm == rec.BLAKE3_KEYED and self.chain_key is None:
            raise Bad("keyed BLAKE3 chain: the chain key is needed "
                      "(--chain-key)")
        self.chain = rec.Chain(algorithm, self.chain_key
                               if algorithm == rec.BLAKE3_KEYED else None)
        self.report.algorithm = algorithm

    def _checkpoint(self, record: dict[str, Any]) -> None:
        if record.get("signed_seq") != record["seq"] - 1 or \
                record.get("signed_hash") != record["prev"]:
            raise Bad("checkpoint does not sign the record before it")
        if record.get("key") != self.key_id:
            raise Bad("checkpoint signed by another key")
        try:
            sig = bytes.fromhex(str(record.get("sig")))
        except ValueError:
            raise Bad("checkpoint signature is not hex") from None
        message = rec.checkpoint_message(record["seq"] - 1, record["prev"])
        if not prim.verify(self.public, sig, message):
            raise Bad("checkpoint signature does not verify")
        self.report.checkpoints += 1
        self.report.last_checkpoint_seq = record["seq"]


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    out = [line + b"\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])    # a last line without its newline
    return out


def _run(verifier: Verifier, name: str, lines: list[bytes], start: int,
         first_is_header: bool) -> bool:
    for number, line in enumerate(lines, start):
        seq: int | None = None
        try:
            seq = files.parse(line).get("seq")
        except ValueError:
            pass
        try:
            verifier.feed(line, first_is_header and number == 1)
        except (Bad, KeyError, TypeError) as e:
            verifier.report.first_bad = Finding(
                name, number, seq if isinstance(seq, int) else None,
                str(e) if isinstance(e, Bad) else f"malformed ({e!r})")
            return False
    return True


def verify_dir(directory: Path, public: bytes,
               chain_key: bytes | None) -> Report:
    """Verify every file of the chain in ``directory``."""
    verifier = Verifier(public, chain_key)
    paths = files.chain_files(directory)
    verifier.report.files = [p.name for p in paths]
    if not paths:
        verifier.report.first_bad = Finding("", 0, None, "no audit log")
    for path in paths:
        if not _run(verifier, path.name, _lines(path.read_bytes()), 1,
                    True):
            break
        verifier.file_name = path.name
    return verifier.report


def verify_tail(directory: Path, public: bytes, chain_key: bytes | None,
                count: int,
                lock: AbstractContextManager[object] | None = None
                ) -> Report:
    """The start-up check: the active file's header record and its last
    ``count`` records (the checkpoints among them included).

    ``lock``: the appenders' lock (Trail.locked), held while the file is
    opened and read.  Another process may be appending meanwhile, and a
    reader that does not hold it can find a record half written -- a
    write(2) is not atomic for a reader of a regular file: past a page
    boundary the size grows page by page -- which would be judged a
    truncated record, a broken chain.  Under the lock the file ends where
    the last append ended, so an incomplete last line is a real one (a
    crash mid-write).  Verifying needs no lock: the bytes are read."""
    path = directory / files.ACTIVE
    verifier = Verifier(public, chain_key, mid_chain=True)
    with lock if lock is not None else contextlib.nullcontext():
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            header = files.first_line(fd)
            tail = files.tail_lines(fd, size, count)
            complete = os.pread(fd, 1, size - 1) == b"\n" if size else True
        finally:
            os.close(fd)
    if not header:
        return verifier.report
    tail = [line + b"\n" for line in tail]
    if not complete:
        tail[-1] = tail[-1][:-1]
    if tail and tail[0] == header + b"\n":
        _run(verifier, path.name, tail, 1, True)
        return verifier.report
    if not _run(verifier, path.name, [header + b"\n"], 1, True):
        return verifier.report
    verifier.seq = verifier.head = None    # the tail starts mid-chain
    _run(verifier, path.name, tail, 0, False)
    return verifier.report


def load_keys(directory: Path, pubkey: Path | None,
              chain_key: Path | None) -> tuple[bytes, bytes | None]:
    """The public key (pinned file, else the directory's) and the chain
    key (given file, else the directory's, else None)."""
    public = keys.read_pubkey(pubkey or directory / keys.PUBKEY)
    source = chain_key or directory / keys.CHAIN_KEY
    return public, source.read_bytes() if source.exists() else None
