"""The module instance: slots, sessions, handles (HsmCore of seed 004).

Created by C_Initialize, dropped by C_Finalize.  A forked child is
treated as not initialised until it calls C_Initialize itself (spec 5.4:
a child must initialise its own copy): the at-fork hook below forgets
the parent's instance in the child, so the per-call look-ups
(:func:`current`, :data:`SESSIONS`) need no ``getpid()`` (issue 9).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator

from craton_hsm import audit, drbg, forksafe, secmem
from craton_hsm.config import Config, load_config
from craton_hsm.core.locking import Locks, MutexOps
from craton_hsm.core.objects import HandleTable
from craton_hsm.core.session import Session
from craton_hsm.core.token import Token
from craton_hsm.errors import (
    CKRError,
    CryptokiNotInitialized,
    SessionCount,
    SessionHandleInvalid,
    SlotIdInvalid,
)
from craton_hsm.selftest import power_on


class Hsm:
    def __init__(self, config: Config, locks: Locks | None = None) -> None:
        self.config = config
        # The [drbg] settings of the process DRBG (docs/drbg.md).
        drbg.configure(config.drbg_reseed_interval,
                       config.drbg_prediction_resistance)
        self.pid = os.getpid()
        # The module-wide lock (sessions, handles); application mutexes
        # when C_Initialize asked for them (core/locking.py says why).
        self.locks = locks or Locks()
        self.lock = self.locks.new()
        self.handles = HandleTable()
        self.tokens: dict[int, Token] = {}
        # The process-wide SESSIONS dict, not one of its own: the entry
        # points find a session with one dict get, without reaching the
        # instance first (only one instance is live per process).
        SESSIONS.clear()
        self.sessions: dict[int, Session] = SESSIONS
        self._session_ids = itertools.count(1)
        # Open sessions per slot id (drop_session).
        self._per_slot: dict[int, int] = {}
        for slot_id in range(config.slot_count):
            self.tokens[slot_id] = Token(slot_id, config, self.handles,
                                        self.locks.new())
        self._ensure_free_slot()

    def _ensure_free_slot(self) -> None:
        """Keep one uninitialised token available, as SoftHSMv2 does."""
        while all(t.initialized for t in self.tokens.values()):
            slot_id = max(self.tokens) + 1
            self.tokens[slot_id] = Token(slot_id, self.config,
                                        self.handles, self.locks.new())

    def slot_ids(self) -> list[int]:
        with self.lock:
            for token in self.tokens.values():
                # A broken slot file is reported by the calls that use
                # that slot; it must not hide the other slots.
                with contextlib.suppress(CKRError):
                    token.sync()
            self._ensure_free_slot()
            return sorted(self.tokens)

    def token(self, slot_id: int) -> Token:
        token = self.tokens.get(slot_id)
        if token is None:
            raise SlotIdInvalid(f"no slot {slot_id}")
        return token

    def open_session(self, slot_id: int, flags: int) -> Session:
        token = self.token(slot_id)
        with self.lock:
            if len(self.sessions) >= self.config.max_sessions:
                raise SessionCount("session limit reached")
            handle = next(self._session_ids)
            session = Session(handle, slot_id, flags, token)
            self.sessions[handle] = session
            per_slot = self._per_slot
            per_slot[slot_id] = per_slot.get(slot_id, 0) + 1
            return session

    def drop_session(self, session: Session) -> bool | None:
        """Forget an open session: None if it was not open (closed by
        another thread), else whether it was its slot's last one (then
        the application is logged out, spec 5.6), counted per slot so
        a close does not visit every other session."""
        with self.lock:
            if self.sessions.pop(session.handle, None) is None:
                return None
            left = self._per_slot[session.slot_id] - 1
            self._per_slot[session.slot_id] = left
            return left == 0

    def session(self, handle: int) -> Session:
        session = self.sessions.get(handle)
        if session is None:
            raise SessionHandleInvalid(f"no session {handle}")
        return session

    def slot_sessions(self, slot_id: int) -> Iterator[Session]:
        return iter([s for s in list(self.sessions.values())
                     if s.slot_id == slot_id])

    def close(self) -> None:
        for token in self.tokens.values():
            token.close()
        self.sessions.clear()
        self._per_slot.clear()
        for obj in self.handles.values():
            obj.release()
        self.locks.destroy()


# The open sessions of the live instance, by handle; empty while the
# module is not initialised in this process (C_Finalize clears it, and
# so does the at-fork hook in a child).  One dict for the life of the
# process, so hot paths bind ``SESSIONS.get`` once at import.
SESSIONS: dict[int, Session] = {}
_STATE: Hsm | None = None
_STATE_LOCK = forksafe.lock()
_ABANDONED: list[Hsm] = []


def current() -> Hsm:
    """The initialised module, or CKR_CRYPTOKI_NOT_INITIALIZED."""
    hsm = _STATE
    if hsm is None:
        raise CryptokiNotInitialized("C_Initialize has not been called")
    return hsm


def _forget_in_child() -> None:
    """A forked child has no module until its own C_Initialize.  The
    parent's instance is abandoned, never closed (its store connections
    and mutexes belong to the parent; sqlite.py, fork).  ``initialize``
    still compares pids, for a child forked without this hook (a raw
    fork() in a host whose interpreter we did not start; the C shim
    answers CKR_CRYPTOKI_NOT_INITIALIZED there until C_Initialize)."""
    global _STATE
    if _STATE is not None:
        _ABANDONED.append(_STATE)
        _STATE = None
    SESSIONS.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def initialize(mutexes: MutexOps | None = None) -> Hsm:
    """``mutexes``: the application's callbacks, to be used for the
    module's locks (spec 5.4), or None for OS locks."""
    global _STATE
    with _STATE_LOCK:
        if _STATE is not None and _STATE.pid == os.getpid():
            from craton_hsm.errors import CryptokiAlreadyInitialized
            raise CryptokiAlreadyInitialized("already initialised")
        if _STATE is not None:
            # A child forked without the at-fork hook: the parent's
            # instance is abandoned, as in _forget_in_child.
            _ABANDONED.append(_STATE)
            _STATE = None
            SESSIONS.clear()
        # Power-on self-tests before any service, at every C_Initialize
        # (ISO/IEC 19790 7.10.2); a failure latches and raises.
        power_on.run()
        locks = Locks(mutexes)
        try:
            config = load_config()
            # Made once per process (re-locked in a forked child); the
            # log says when it could not be locked (docs/memory.md).
            secmem.start(config.memory_arena_bytes)
            hsm = Hsm(config, locks)
        except BaseException:
            # A failed C_Initialize leaves no application mutex behind.
            locks.destroy()
            raise
        _STATE = hsm
        if hsm.config.pinned:
            # Issue 6 "Coverage": policy overrides are audit events.
            audit.event("policy", source=str(hsm.config.policy_source),
                        pinned=list(hsm.config.pinned))
        return _STATE


def finalize() -> None:
    global _STATE
    with _STATE_LOCK:
        hsm = current()
        _STATE = None
        hsm.close()
        # Everything the instance held is freed above; this also zeroes
        # whatever a path forgot (docs/memory.md).
        secmem.wipe_all()
