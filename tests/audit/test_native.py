"""The one-call append of ffi/audit.c (craton_audit_append; docs/audit.md
"Overhead"): the lines it writes are byte for byte what the Python
encoder (record.seal, json.dumps canonical form) writes for the same
record, its SHA-256 is libcrypto's checked against hashlib, records it
cannot write (escapes, lists, genesis, checkpoints, rotation, another
writer's head) go to the Python path under the same lock, and without a
usable libcrypto the trail falls back to hashing in Python."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from craton_hsm._generated_ck import CKM
from craton_hsm.audit import record as rec
from craton_hsm.audit import trail as trail_mod
from craton_hsm.audit import verify
from craton_hsm.audit.trail import Policy, Trail
from tests.abi.test_hostile import NULL, expect, ffi
from tests.audit.conftest import Hsm, read_records

# Values that go through C (str/int without escapes, non-ASCII included)
# and ones that must not (escapes, controls, lists, bools, None).
FAST_VALUES: list[Any] = [
    "CKM_ECDSA", "", "été ☃ 𝄞 日本", "\u2028\u2029\x7f", "%s %% %(x)s",
    0, -1, 1 << 70, 12345678901234567890,
]
SLOW_VALUES: list[Any] = [
    'quote"d', "back\\slash", "new\nline", "\x00\x1f", "tab\t",
    ["CKA_LABEL", "CKA_ID"], True, None, 1.5, {"nested": 1},
]
# Key sets on both sides of "hash", "prev", "seq" and "time".
KEY_SETS = [("session",), ("a", "zz"), ("hash_like", "id", "object_id"),
            ("args_unreadable", "mech", "user", "zeta"), ("pr", "sz", "u")]


def _native() -> Any:
    from craton_hsm.abi import audited
    return audited


def _records() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for keys in KEY_SETS:
        for i, value in enumerate(FAST_VALUES + SLOW_VALUES):
            fields = {k: value if j == i % len(keys) else j
                      for j, k in enumerate(keys)}
            fields["rv"] = "CKR_OK"
            out.append((f"C_Test{len(out)}", fields))
    return out


def _check_lines(audit: Path) -> list[dict[str, Any]]:
    """Each line is the Python encoder's and json's canonical bytes of
    its record, its hash the SHA-256 of that record without "hash", and
    the whole chain verifies."""
    chain = rec.Chain(rec.SHA256)
    lines = (audit / "audit.log").read_bytes().splitlines(keepends=True)
    records = []
    for line in lines:
        record = json.loads(line)
        body = {k: v for k, v in record.items() if k != "hash"}
        assert rec.seal(chain, body) == (line, record["hash"])
        assert line == json.dumps(record, sort_keys=True,
                                  separators=(",", ":"),
                                  ensure_ascii=False).encode() + b"\n"
        assert record["hash"] == hashlib.sha256(rec.canonical(body)) \
            .hexdigest()
        records.append(record)
    public, chain_key = verify.load_keys(audit, None, None)
    report = verify.verify_dir(audit, public, chain_key)
    assert report.ok, report.as_dict()
    return records


class _Counting:
    """Counts the records the Python path wrote for a trail."""

    def __init__(self, trail: Trail) -> None:
        self.events: list[str] = []
        inner = trail._append_locked

        def counted(event: str, *args: Any) -> None:
            self.events.append(event)
            inner(event, *args)
        trail._append_locked = counted  # type: ignore[method-assign]


def test_c_path_writes_the_python_encoders_bytes(hsm: Hsm,
                                                 tmp_path: Path) -> None:
    assert _native()._Native().fast
    trail = Trail(tmp_path, Policy(rec.SHA256, "never", 64 << 20, 1000))
    assert trail._ct is not None
    python_path = _Counting(trail)
    sent = _records()
    first: dict[tuple[str, ...], tuple[type, ...]] = {}
    for _, fields in sent:
        first.setdefault(tuple(fields), tuple(map(type, fields.values())))
    for event, fields in sent:
        trail.append(event, dict(fields), False)
    trail.checkpoint()
    trail.close()
    records = _check_lines(tmp_path)
    assert [r["event"] for r in records] == \
        ["genesis"] + [e for e, _ in sent] + ["checkpoint"]
    for record, (_, fields) in zip(records[1:], sent):
        assert {k: record[k] for k in fields} == fields
        assert record["pid"] == os.getpid()
    # Only the records C must refuse went through Python: the first
    # (genesis), those with a value json escapes or that is no str/int,
    # and those whose value types differ from the first record with
    # the same keys (the template was made for those).
    assert python_path.events == [sent[0][0]] + [
        e for e, f in sent[1:] if not _c_writable(f, first[tuple(f)])]


def _c_writable(fields: dict[str, Any], types: tuple[type, ...]) -> bool:
    values = tuple(fields.values())
    return tuple(map(type, values)) == types and all(
        t in (str, int) for t in types) and all(
        json.dumps(v, ensure_ascii=False) == f'"{v}"'
        for v in values if isinstance(v, str))


def test_rotation_checkpoints_and_an_interleaved_python_writer(
        hsm: Hsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A C-path trail and a pure-Python one (a process without the
    library) share a directory: each resyncs after the other, rotation
    and checkpoints (every 7) land between them, one chain results."""
    policy = Policy(rec.SHA256, "never", 2048, 7)
    fast = Trail(tmp_path, policy)
    monkeypatch.setattr(trail_mod, "_native", None)
    slow = Trail(tmp_path, policy)
    assert fast._ct is not None and slow._ct is None
    for i in range(60):
        for t in (fast, fast, slow):
            t.append("C_GenerateRandom", {"session": i, "length": 32,
                                          "rv": "CKR_OK"}, False)
    fast.checkpoint()
    fast.close()
    slow.close()
    records = read_records(tmp_path)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert sum(r["event"] == "rotate" for r in records) >= 3
    assert sum(r["event"] == "checkpoint" for r in records) >= 2
    public, chain_key = verify.load_keys(tmp_path, None, None)
    report = verify.verify_dir(tmp_path, public, chain_key)
    assert report.ok, report.as_dict()


def test_c_sha256_matches_hashlib(hsm: Hsm) -> None:
    audited = _native()
    ffi, lib = audited.ffi, audited.lib
    out = ffi.new("char[64]")
    for n in (0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 4095):
        data = os.urandom(n)
        assert lib.craton_audit_sha256_hex(data, n, out) == 0
        assert ffi.unpack(out, 64).decode() == hashlib.sha256(data) \
            .hexdigest()
    assert audited.c_sha256_ok(b"libcrypto.so.3")


def test_without_libcrypto_the_trail_hashes_in_python(
        hsm: Hsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    audited = _native()
    assert audited.lib.craton_audit_crypto_load(
        b"libcraton-no-such-crypto.so.0") == -1
    native = audited._Native(b"libcraton-no-such-crypto.so.0")
    assert not native.fast
    monkeypatch.setattr(trail_mod, "_native", native)
    trail = Trail(tmp_path, Policy(rec.SHA256, "never", 64 << 20, 1000))
    assert trail._ct is None
    for event, fields in _records():
        trail.append(event, fields, False)
    trail.close()
    _check_lines(tmp_path)


def test_keyed_blake3_chain_keeps_the_python_hash(hsm: Hsm,
                                                  tmp_path: Path) -> None:
    trail = Trail(tmp_path, Policy(rec.BLAKE3_KEYED, "never", 64 << 20, 9))
    assert trail._ct is not None and not trail._ct.fast
    for i in range(30):
        trail.append("C_SignInit", {"session": i, "mech": "CKM_ECDSA",
                                    "rv": "CKR_OK"}, False)
    trail.checkpoint()
    trail.close()
    records = read_records(tmp_path)
    assert records[0]["chain"] == rec.BLAKE3_KEYED
    public, chain_key = verify.load_keys(tmp_path, None, None)
    report = verify.verify_dir(tmp_path, public, chain_key)
    assert report.ok, report.as_dict()


def test_library_records_are_canonical(hsm: Hsm) -> None:
    """The records the module itself wrote through C in this run,
    escapes (a refusal's name) and non-ASCII labels included."""
    tok = hsm.tok
    h = tok.ready()
    mech = tok.mechanism(CKM.SHA256)
    out, n = ffi.new("CK_BYTE[32]"), ffi.new("CK_ULONG *")
    for _ in range(20):
        expect(tok.lib.C_DigestInit(h, mech), "OK")
        n[0] = 32
        expect(tok.lib.C_Digest(h, b"abc", 3, out, n), "OK")
    expect(tok.lib.C_DigestInit(h, NULL), "ARGUMENTS_BAD")
    records = _check_lines(hsm.audit)
    digests = [r for r in records if r["event"] == "C_DigestInit"]
    assert len(digests) == 21
    assert digests[-1]["rv"] == "CKR_ARGUMENTS_BAD"
    assert all(r["mech"] == "CKM_SHA256" for r in digests[:20])


def test_threads_share_one_c_trail(hsm: Hsm, tmp_path: Path) -> None:
    """The state's mutex orders this process's threads (they share the
    flock's descriptor); the GIL is released inside the C call, so they
    do run into it concurrently."""
    trail = Trail(tmp_path, Policy(rec.SHA256, "never", 64 << 20, 50))
    assert trail._c_fast

    def work(k: int) -> None:
        for i in range(300):
            trail.append("C_GenerateRandom", {"session": k, "length": i,
                                              "rv": "CKR_OK"}, False, True)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    trail.close()
    records = _check_lines(tmp_path)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    mine = [r for r in records if r["event"] == "C_GenerateRandom"]
    assert sorted((r["session"], r["length"]) for r in mine) == \
        [(k, i) for k in range(4) for i in range(300)]


def test_template_bodies_are_bounded_and_exact() -> None:
    """record.Template keeps the bodies of recent value tuples (a
    repeated record skips the format); the cache stays small."""
    fields = {"session": 1, "mech": "CKM_ECDSA", "rv": "CKR_OK",
              "event": "C_SignInit"}
    plan = rec.Template(fields, 4242)
    for i in range(100):
        values = plan.take({**fields, "session": i})
        assert plan.body(values) == (plan.fmt % values).encode()
        assert len(plan.bodies) <= rec._BODIES_MAX
    values = plan.take({**fields, "session": 99})
    assert plan.bodies[values] == (plan.fmt % values).encode()
