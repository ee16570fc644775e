"""``craton-hsm backup`` / ``restore`` end to end (issue 4).

Tokens are built and judged through the built module by a separate
PyKCS11 process (backup_client.py); the CLI runs as the installed
console script.  Each test restores into its own fresh data dir.  The
tamper and age tests share one read-only source archive (made once per
module: each costs a token set-up) and copy it before changing it.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    encode_dss_signature,
)

from craton_hsm.backup.archive import check_age, create_backup
from craton_hsm.backup.container import Header
from craton_hsm.config import ConfigError, load_config

from .conftest import LIB, Result, Run

CLIENT = Path(__file__).with_name("backup_client.py")
SO, USER = "so-secret-1", "user-pin-1"
PASS = "correct horse battery"
MESSAGE = "signed after the restore"
BASE_OBJECTS = {"ec-pub", "ec-priv", "aes", "data-public", "data-private"}


def client(module: Path, data_dir: Path, mode: str,
           **args: Any) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CRATON_HSM_")}
    env["CRATON_HSM_DATA_DIR"] = str(data_dir)
    proc = subprocess.run(
        [sys.executable, str(CLIENT), str(module), mode, json.dumps(args)],
        check=False, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def backup(run: Run, out: Path, *extra: str, **env: str) -> Result:
    return run("backup", "--slot", "0", "--output", str(out),
               "--passphrase-env", "PW", *extra, **({"PW": PASS} | env))


def restore(run: Run, archive: Path, target: Path, *extra: str,
            **env: str) -> Result:
    return run("restore", "--input", str(archive), "--passphrase-env", "PW",
               *extra, CRATON_HSM_DATA_DIR=str(target),
               **({"PW": PASS} | env))


def ec_public(point_der: str) -> ec.EllipticCurvePublicKey:
    raw = bytes.fromhex(point_der)
    assert raw[:2] == b"\x04\x41"           # DER OCTET STRING of 65 bytes
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                        raw[2:])


def verify(pub: ec.EllipticCurvePublicKey, sig_hex: str, msg: str) -> None:
    sig = bytes.fromhex(sig_hex)
    der = encode_dss_signature(int.from_bytes(sig[:32]),
                               int.from_bytes(sig[32:]))
    pub.verify(der, msg.encode(), ec.ECDSA(hashes.SHA256()))


@pytest.fixture(scope="module")
def source(module: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Path, dict[str, Any]]:
    """A set-up token's data dir and its pre-backup facts (read-only)."""
    data = tmp_path_factory.mktemp("source") / "data"
    return data, client(module, data, "setup", so=SO, user=USER)


@pytest.fixture(scope="module")
def archive(source: tuple[Path, dict[str, Any]],
            tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("archive") / "token.chsm"
    create_backup(source[0], 0, out, PASS.encode())
    return out


# -- round trip ------------------------------------------------------------

def test_backup_wipe_restore_preserves_every_object_and_key(
        run: Run, module: Path, data_dir: Path, tmp_path: Path) -> None:
    before = client(module, data_dir, "setup", so=SO, user=USER)
    probe = {"user": USER, "message": MESSAGE,
             "ciphertext": before["ciphertext"], "iv": before["iv"]}
    dump_before = client(module, data_dir, "probe", **probe)["objects"]
    assert set(dump_before) == BASE_OBJECTS
    out = tmp_path / "token.chsm"

    made = backup(run, out)
    assert made.rc == 0, made.err
    assert "snapshot pages" in made.err and "encrypt bytes" in made.err
    assert "backed up to" in made.out
    assert out.stat().st_mode & 0o777 == 0o600
    shutil.rmtree(data_dir)

    res = restore(run, out, data_dir, "--json")
    assert res.rc == 0, res.err
    assert res.err == ""                    # no progress bar in --json
    doc = res.json()
    assert (doc["slot"], doc["objects"], doc["label"]) == (0, 5,
                                                           "backup-test")
    assert doc["kdf"] == {"name": "pbkdf2-hmac-sha256",
                          "iterations": 600_000}
    slot_file = data_dir / "slot-0.sqlite3"
    assert slot_file.stat().st_mode & 0o777 == 0o600

    after = client(module, data_dir, "probe", **probe)
    assert after["objects"] == dump_before  # every attribute of every object
    pub = ec_public(before["ec_point"])
    verify(pub, after["signature"], MESSAGE)    # new signature, old key
    assert after["plaintext"] == "encrypted before the backup"


def test_profile_picks_the_backup_kdf_and_archives_open_under_any(
        run: Run, source: tuple[Path, dict[str, Any]],
        tmp_path: Path) -> None:
    """Issue 5 "Crypto profiles": leading-edge seals with Argon2id; the
    header records it, so a governance installation still restores."""
    edge = tmp_path / "edge.toml"
    edge.write_text('[crypto]\nprofile = "leading-edge"\n')
    out = tmp_path / "edge.chsm"
    made = run("backup", "--slot", "0", "--output", str(out),
               "--passphrase-env", "PW", "--json", PW=PASS,
               CRATON_HSM_DATA_DIR=str(source[0]),
               CRATON_HSM_CONFIG=str(edge))
    assert made.rc == 0, made.err
    assert made.json()["kdf"] == {"name": "argon2id-m19456-p1",
                                  "iterations": 2}
    res = restore(run, out, tmp_path / "fresh", "--json")
    assert res.rc == 0, res.err
    assert res.json()["objects"] == 5
    wrong = restore(run, out, tmp_path / "other", PW="not the passphrase")
    assert wrong.rc == 1 and "wrong passphrase" in wrong.err


# -- refusals ----------------------------------------------------------------

def test_wrong_passphrase_is_refused(run: Run, archive: Path,
                                     tmp_path: Path) -> None:
    res = restore(run, archive, tmp_path / "fresh", PW="not the passphrase")
    assert res.rc == 1
    assert "wrong passphrase" in res.err
    assert not (tmp_path / "fresh" / "slot-0.sqlite3").exists()


def _header_end(data: bytes) -> int:
    return 12 + int.from_bytes(data[8:12])


def _in_header(field: str, skip: int = 0) -> Any:
    def where(data: bytes) -> int:
        return data.index(f'"{field}":'.encode()) + len(field) + 3 + skip
    return where


# (name, position finder, expected message fragment)
TAMPER = [
    ("magic", lambda d: 0, "not a Craton HSM backup archive"),
    ("header-length", lambda d: 11, "archive header"),
    ("format", _in_header("format"), "format version"),
    ("slot", _in_header("slot"), "failed authentication"),
    ("serial", _in_header("token_serial", 1), "failed authentication"),
    ("created-at", _in_header("created_at", 4), "failed authentication"),
    ("iterations", _in_header("iterations"), "work factor"),
    ("iterations-low-digit", _in_header("iterations", 5),
     "wrong passphrase"),
    ("salt", _in_header("salt", 2), "wrong passphrase"),
    ("key-check", _in_header("check", 2), "wrong passphrase"),
    ("first-ciphertext-byte", _header_end, "failed authentication"),
    ("middle-ciphertext", lambda d: (_header_end(d) + len(d)) // 2,
     "failed authentication"),
    ("tag", lambda d: len(d) - 1, "failed authentication"),
]


@pytest.mark.parametrize("where,finder,message", TAMPER,
                         ids=[t[0] for t in TAMPER])
def test_tampered_archive_is_refused(run: Run, archive: Path,
                                     tmp_path: Path, where: str,
                                     finder: Any, message: str) -> None:
    data = bytearray(archive.read_bytes())
    pos = finder(bytes(data))
    # A digit or hex digit changes to another valid one (so the header
    # still parses and authentication must catch it); other bytes flip.
    char = chr(data[pos])
    data[pos] = ord("3" if char == "2" else "2") if char.isalnum() \
        else data[pos] ^ 0x01
    bad = tmp_path / "bad.chsm"
    bad.write_bytes(bytes(data))
    res = restore(run, bad, tmp_path / "fresh")
    assert res.rc == 1, (where, res.out, res.err)
    assert message in res.err, res.err
    assert not (tmp_path / "fresh" / "slot-0.sqlite3").exists()


@pytest.mark.parametrize("cut", ["truncated", "extended"])
def test_truncated_or_extended_archive_is_refused(
        run: Run, archive: Path, tmp_path: Path, cut: str) -> None:
    data = archive.read_bytes()
    bad = tmp_path / "bad.chsm"
    bad.write_bytes(data[:-16] if cut == "truncated" else data + b"\x00")
    res = restore(run, bad, tmp_path / "fresh")
    assert res.rc == 1
    assert "truncated or has extra bytes" in res.err


def test_archive_older_than_max_age_is_refused(
        run: Run, source: tuple[Path, dict[str, Any]],
        tmp_path: Path) -> None:
    old = tmp_path / "old.chsm"
    create_backup(source[0], 0, old, PASS.encode(),
                  now=datetime.now(UTC) - timedelta(days=400))
    res = restore(run, old, tmp_path / "a")
    assert res.rc == 1
    assert "maximum accepted age is 365 days" in res.err
    assert not (tmp_path / "a" / "slot-0.sqlite3").exists()
    res = restore(run, old, tmp_path / "b", "--max-age-days", "500")
    assert res.rc == 0, res.err


def test_config_max_age_days_applies(run: Run, archive: Path,
                                     source: tuple[Path, dict[str, Any]],
                                     tmp_path: Path) -> None:
    week_old = tmp_path / "week.chsm"
    create_backup(source[0], 0, week_old, PASS.encode(),
                  now=datetime.now(UTC) - timedelta(days=7))
    cfg = tmp_path / "craton.toml"
    cfg.write_text("[backup]\nmax_age_days = 3\n")
    res = restore(run, week_old, tmp_path / "a",
                  CRATON_HSM_CONFIG=str(cfg))
    assert res.rc == 1
    assert "maximum accepted age is 3 days" in res.err
    # The option overrides the config key.
    res = restore(run, week_old, tmp_path / "b", "--max-age-days", "0",
                  CRATON_HSM_CONFIG=str(cfg))
    assert res.rc == 1 and "maximum accepted age is 0 days" in res.err


def test_future_dated_archive_is_refused() -> None:
    header = Header(1, "pbkdf2-hmac-sha256", 600_000, "", "", "aes-256-gcm",
                    65536, "", 0, "S", "L", "t",
                    "2030-01-02T00:00:00Z", 0, 0)
    now = datetime(2030, 1, 1, tzinfo=UTC) - timedelta(hours=1)
    with pytest.raises(Exception, match="in the future"):
        check_age(header, 365, now)
    check_age(header, 365, datetime(2030, 1, 2, tzinfo=UTC))


@pytest.mark.parametrize("value,ok", [(30, True), (0, True), (-1, False),
                                      ('"30"', False), (36_501, False)])
def test_config_key_is_validated(tmp_path: Path, value: Any,
                                 ok: bool) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[backup]\nmax_age_days = {value}\n")
    env = {"CRATON_HSM_CONFIG": str(cfg),
           "CRATON_HSM_DATA_DIR": str(tmp_path / "d")}
    if ok:
        assert load_config(env).backup_max_age_days == value
    else:
        with pytest.raises(ConfigError, match="max_age_days"):
            load_config(env)


def test_restore_over_initialised_token_needs_force(
        run: Run, module: Path, data_dir: Path, tmp_path: Path) -> None:
    before = client(module, data_dir, "setup", so=SO, user=USER)
    out = tmp_path / "t.chsm"
    assert backup(run, out, "--json").rc == 0
    res = restore(run, out, data_dir)
    assert res.rc == 1
    assert "already holds an initialised token" in res.err
    assert "--force" in res.err
    res = restore(run, out, data_dir, "--force", "--json")
    assert res.rc == 0, res.err
    after = client(module, data_dir, "probe", user=USER, message=MESSAGE,
                   ciphertext=before["ciphertext"], iv=before["iv"])
    verify(ec_public(before["ec_point"]), after["signature"], MESSAGE)


def test_backup_refusals_and_passphrase_sources(
        run: Run, source: tuple[Path, dict[str, Any]],
        tmp_path: Path) -> None:
    env = {"CRATON_HSM_DATA_DIR": str(source[0])}
    out = tmp_path / "p.chsm"
    # Prompt (twice, no echo), then the file source.
    res = run("backup", "--slot", "0", "--output", str(out), "--json",
              stdin=f"{PASS}\n{PASS}\n", **env)
    assert res.rc == 0, res.err
    assert res.json()["serial"]
    again = backup(run, out, **env)
    assert again.rc == 1 and "already exists" in again.err
    pw_file = tmp_path / "pw"
    pw_file.write_text(PASS + "\n")
    res = run("restore", "--input", str(out), "--passphrase-file",
              str(pw_file), "--json",
              CRATON_HSM_DATA_DIR=str(tmp_path / "r"))
    assert res.rc == 0, res.err
    short = backup(run, tmp_path / "s.chsm", PW="short", **env)
    assert short.rc == 1 and "at least 8" in short.err
    empty = backup(run, tmp_path / "e.chsm")    # fresh dir: no token
    assert empty.rc == 1 and "the slot has no token" in empty.err
    bad_slot = backup(run, tmp_path / "e.chsm", "--slot", "9")
    assert bad_slot.rc == 1


def test_memory_mode_has_nothing_to_back_up(run: Run,
                                            tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text('[storage]\nmode = "memory"\n')
    res = backup(run, tmp_path / "x.chsm", "--json",
                 CRATON_HSM_CONFIG=str(cfg))
    assert res.rc == 1
    assert res.json()["error"]["exit_code"] == 1
    assert "memory" in res.err


# -- online consistency ------------------------------------------------------

def test_backup_while_another_process_writes_is_consistent(
        run: Run, module: Path, data_dir: Path, tmp_path: Path) -> None:
    client(module, data_dir, "setup", so=SO, user=USER)
    stop, started = tmp_path / "stop", tmp_path / "started"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CRATON_HSM_")}
    env["CRATON_HSM_DATA_DIR"] = str(data_dir)
    args = {"prefix": "w", "count": 100_000, "stop": str(stop),
            "started": str(started)}
    writer = subprocess.Popen(
        [sys.executable, str(CLIENT), str(LIB), "write", json.dumps(args)],
        env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert writer.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        out = tmp_path / "live.chsm"
        res = backup(run, out, "--json")
        assert res.rc == 0, res.err
    finally:
        stop.touch()
        stdout, _ = writer.communicate(timeout=60)
    assert writer.returncode == 0
    written = json.loads(stdout)["created"]
    archived = res.json()["objects"]
    assert len(BASE_OBJECTS) + 20 <= archived <= len(BASE_OBJECTS) + written

    target = tmp_path / "restored"
    assert restore(run, out, target).rc == 0
    db = sqlite3.connect(target / "slot-0.sqlite3")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        db.close()
    labels = set(client(module, target, "probe", user=USER,
                        message=MESSAGE, ciphertext="", iv="00" * 12,
                        decrypt=False)["objects"])
    # One snapshot: the writer's objects form an unbroken prefix.
    mine = labels - BASE_OBJECTS
    assert mine == {f"w-{i}" for i in range(len(mine))}
    assert len(mine) + len(BASE_OBJECTS) == archived
