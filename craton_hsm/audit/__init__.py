"""The audit trail (docs/audit.md): hash-chained, checkpoint-signed
records of every state change, key use and refusal (seed 004: "the audit
log entry is written before the PKCS#11 function returns").

Outside the layers, like ``latch``: it imports only ``backend`` and the
leaves, so any layer may report an event.  One process-wide trail, opened
by C_Initialize (:func:`start`) and closed by C_Finalize (:func:`stop`).
Events reported while no trail is open (self-tests run inside
C_Initialize) wait in a short queue and are written when it opens.

Records never carry secrets: fields are names, numbers and handles;
bytes given to :func:`event` are replaced by a digest.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from pathlib import Path
from typing import Any

from craton_hsm import latch
from craton_hsm._generated_ck import CKR
from craton_hsm.audit import files, keys, verify
from craton_hsm.audit import record as rec
from craton_hsm.audit.trail import Policy, Trail
from craton_hsm.config import Config
from craton_hsm.errors import DeviceError

_log = logging.getLogger("craton_hsm")
TAIL_RECORDS = 256          # records re-verified at start-up
_PENDING_MAX = 256

_trail: Trail | None = None
_failed: str | None = None  # why the trail is unusable; calls fail closed
# Events that found the disk full (written as one audit-gap record when
# a record fits again); bounded so a long outage costs no memory.
_lost: list[str] = []
_LOST_MAX = 64
_pending: list[tuple[str, dict[str, Any]]] = []
# True between a C_Initialize that found auditing off and C_Finalize:
# records are dropped then, not queued for a later trail.
_off = False
_state_lock = threading.Lock()


class AuditUnavailable(DeviceError):  # type: ignore[misc, valid-type]
    """CKR_DEVICE_ERROR: the audit log cannot be written, so the call
    is refused (fail closed; docs/audit.md "Durability")."""


class AuditFull(AuditUnavailable):
    """CKR_DEVICE_MEMORY (v3.0 5.1.3: not enough memory for the
    function): the audit log's file system is full.  Unlike other write
    failures this one clears itself: once a record fits again, an
    ``audit-gap`` record names what was lost and calls go on."""

    rv = int(CKR.DEVICE_MEMORY)


def directory(config: Config) -> Path | None:
    """Where the trail lives, or None when auditing is off.  Memory mode
    keeps nothing on disk, so it audits only to an explicit path."""
    if not config.audit_enabled:
        return None
    if config.audit_path is not None:
        return config.audit_path
    if config.storage_mode == "memory":
        return None
    return config.data_dir / "audit"


def start(config: Config) -> None:
    """Open the trail for this process (C_Initialize): verify the chain's
    tail, then write queued events.  Raises AuditUnavailable."""
    global _trail, _failed, _off
    where = directory(config)
    stop_quietly()
    _off = where is None
    if where is None:
        if config.audit_enabled:
            _log.warning("audit: storage mode is memory and no [audit] "
                         "path is set; no audit trail is written")
        _pending.clear()
        return
    algorithm = rec.BLAKE3_KEYED \
        if config.crypto_profile == "leading-edge" else rec.SHA256
    policy = Policy(algorithm, config.audit_fsync,
                    config.audit_max_file_bytes,
                    config.audit_checkpoint_every)
    try:
        trail = Trail(where, policy)
    except (OSError, ValueError) as e:
        raise AuditUnavailable(f"audit log {where}: {e}") from None
    if trail.chain.algorithm != algorithm:
        _log.warning("audit: %s continues its %s chain; the configured "
                     "profile applies to a new audit directory", where,
                     trail.chain.algorithm)
    with _state_lock:
        _trail, _failed = trail, None
        _lost.clear()
    _check_tail(config, trail)
    queued, _pending[:] = list(_pending), []
    for name, fields in queued:
        append(name, fields, durable=True)


def _check_tail(config: Config, trail: Trail) -> None:
    """Seed 004 / issue 6: a broken chain found at start-up is reported
    and, by policy, latches the module in its error state."""
    if not (trail.directory / files.ACTIVE).exists():
        return
    try:
        public, chain_key = verify.load_keys(trail.directory, None, None)
        # Under the appenders' lock: other processes (a parent whose
        # threads keep appending while it forks this one) write the same
        # log, and an unlocked read can catch a record half written.
        report = verify.verify_tail(trail.directory, public, chain_key,
                                    TAIL_RECORDS, trail.locked())
        bad = report.first_bad
        reason = None if bad is None else \
            f"{bad.file} line {bad.line} seq {bad.seq}: {bad.reason}"
    except (OSError, ValueError) as e:
        reason = f"cannot verify: {e}"
    if reason is None:
        return
    _log.error("audit: chain broken at start-up: %s", reason)
    append("chain-broken", {"detail": reason}, durable=True)
    if config.audit_on_broken_chain == "latch":
        latch.latch("audit-chain", reason)


def stop() -> None:
    """C_Finalize: a final checkpoint, then close."""
    global _trail, _off
    with _state_lock:
        trail, _trail, _off = _trail, None, False
    if trail is None or trail.pid != os.getpid():
        return
    try:
        trail.checkpoint()
    # As in append(): a head record that is not ours is a write failure.
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise AuditUnavailable(f"audit checkpoint: {e}") from None
    finally:
        trail.close()


def stop_quietly() -> None:
    try:
        stop()
    except AuditUnavailable as e:
        _log.error("audit: %s", e)


def ready() -> None:
    """Raise AuditUnavailable when an earlier write failed: every
    audited call is refused until C_Finalize and C_Initialize -- except
    after a full disk, which is retried here with an ``audit-gap``
    record naming the events that could not be written."""
    global _failed
    if _failed is None:
        return
    trail = _trail
    if _lost and trail is not None:
        try:
            trail.append("audit-gap", {"lost": list(_lost)}, True)
        except OSError as e:
            raise AuditFull(f"audit log still full: {e}") from None
        _lost.clear()
        _failed = None
        _log.warning("audit: log writable again; the gap is recorded")
        return
    raise AuditUnavailable(f"audit log unavailable: {_failed}")


def active() -> bool:
    trail = _trail
    return trail is not None and trail.pid == os.getpid()


def append(name: str, fields: dict[str, Any], durable: bool,
           typed: bool = False) -> None:
    """Write one record; raises AuditUnavailable (and fails closed from
    then on) when it cannot be written.  ``typed``: see Trail.append."""
    global _failed
    trail = _trail   # None in a forked child (_forget_in_child)
    if trail is None:
        if not _off and len(_pending) < _PENDING_MAX:
            _pending.append((name, fields))
        return
    try:
        trail.append(name, fields, durable, typed)
    # ValueError/KeyError: the head record on disk is not one of ours
    # (damaged or replaced); appending blindly would fork the chain.
    except (OSError, ValueError, KeyError, TypeError) as e:
        full = isinstance(e, OSError) and e.errno == errno.ENOSPC and \
            (_failed is None or bool(_lost))
        _failed = str(e)
        _log.error("audit: cannot write %s: %s", trail.directory, e)
        if full:
            if len(_lost) < _LOST_MAX:
                _lost.append(name)
            raise AuditFull(f"audit log: {e}") from None
        _lost.clear()       # any other failure stays until re-init
        raise AuditUnavailable(f"audit log: {e}") from None


def _forget_in_child() -> None:
    # A forked child does not write its parent's trail (the descriptors
    # and the thread lock are the parent's) until its own C_Initialize;
    # dropping it here spares append() a getpid() per record.
    global _trail
    _trail = None


os.register_at_fork(after_in_child=_forget_in_child)


def event(name: str, **fields: Any) -> None:
    """A non-PKCS#11 event, e.g. ``event("selftest", test="kat-aes",
    result="pass")`` or ``event("policy", override="config.pinned")``.
    Bytes become digests.  Never raises: a write failure makes the
    following audited calls fail closed instead."""
    clean: dict[str, Any] = {}
    for key, value in fields.items():
        if key in rec.CORE:
            raise ValueError(f"audit field {key!r} is reserved")
        clean[key] = rec.digest_bytes(bytes(value)) \
            if isinstance(value, (bytes, bytearray, memoryview)) else value
    try:
        append(name, clean, durable=True)
    except AuditUnavailable as e:
        _log.error("audit: event %s lost: %s", name, e)


__all__ = ["AuditUnavailable", "active", "append", "directory", "event",
           "keys", "ready", "start", "stop"]


def _on_latch(failure: latch.Failure) -> None:
    # Self-test, health-test and chain failures are audit events
    # (issue 6 "Coverage": self-test results).
    event("error-state", test=failure.test, detail=failure.detail)


latch.listen(_on_latch)
