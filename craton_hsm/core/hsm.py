"""The module instance: slots, sessions, handles (HsmCore of seed 004).

Created by C_Initialize, dropped by C_Finalize.  A forked child sees a
different pid and is treated as not initialised until it calls
C_Initialize itself (spec 5.4: a child must initialise its own copy).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
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
        self.sessions: dict[int, Session] = {}
        self._session_ids = itertools.count(1)
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
        with self.lock:
            if len(self.sessions) >= self.config.max_sessions:
                raise SessionCount("session limit reached")
            handle = next(self._session_ids)
            session = Session(handle, slot_id, flags, self.token(slot_id))
            self.sessions[handle] = session
            return session

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
        for obj in self.handles.values():
            obj.release()
        self.locks.destroy()


_STATE: Hsm | None = None
_STATE_LOCK = forksafe.lock()
_ABANDONED: list[Hsm] = []


def current() -> Hsm:
    """The initialised module, or CKR_CRYPTOKI_NOT_INITIALIZED."""
    hsm = _STATE
    if hsm is None or hsm.pid != os.getpid():
        raise CryptokiNotInitialized("C_Initialize has not been called")
    return hsm


def session_lock(handle: int) -> threading.Lock | None:
    """The lock of open session ``handle`` in this process, or None (no
    module, a forked child, or no such session: the call itself then
    returns the right code)."""
    hsm = _STATE
    if hsm is None or hsm.pid != os.getpid():
        return None
    session = hsm.sessions.get(handle)
    return None if session is None else session.lock


def initialize(mutexes: MutexOps | None = None) -> Hsm:
    """``mutexes``: the application's callbacks, to be used for the
    module's locks (spec 5.4), or None for OS locks."""
    global _STATE
    with _STATE_LOCK:
        if _STATE is not None and _STATE.pid == os.getpid():
            from craton_hsm.errors import CryptokiAlreadyInitialized
            raise CryptokiAlreadyInitialized("already initialised")
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
        if _STATE is not None:
            # A forked child: the parent's instance is abandoned, never
            # closed here, so its store connections and mutexes (which
            # belong to the parent) are not touched (sqlite.py, fork).
            _ABANDONED.append(_STATE)
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
