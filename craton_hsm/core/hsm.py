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

from craton_hsm import drbg
from craton_hsm.config import Config, load_config
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
    def __init__(self, config: Config) -> None:
        self.config = config
        # The [drbg] settings of the process DRBG (docs/drbg.md).
        drbg.configure(config.drbg_reseed_interval,
                       config.drbg_prediction_resistance)
        self.pid = os.getpid()
        self.lock = threading.RLock()
        self.handles = HandleTable()
        self.tokens: dict[int, Token] = {}
        self.sessions: dict[int, Session] = {}
        self._session_ids = itertools.count(1)
        for slot_id in range(config.slot_count):
            self.tokens[slot_id] = Token(slot_id, config, self.handles)
        self._ensure_free_slot()

    def _ensure_free_slot(self) -> None:
        """Keep one uninitialised token available, as SoftHSMv2 does."""
        while all(t.initialized for t in self.tokens.values()):
            slot_id = max(self.tokens) + 1
            self.tokens[slot_id] = Token(slot_id, self.config, self.handles)

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


_STATE: Hsm | None = None
_STATE_LOCK = threading.Lock()


def current() -> Hsm:
    """The initialised module, or CKR_CRYPTOKI_NOT_INITIALIZED."""
    hsm = _STATE
    if hsm is None or hsm.pid != os.getpid():
        raise CryptokiNotInitialized("C_Initialize has not been called")
    return hsm


def initialize() -> Hsm:
    global _STATE
    with _STATE_LOCK:
        if _STATE is not None and _STATE.pid == os.getpid():
            from craton_hsm.errors import CryptokiAlreadyInitialized
            raise CryptokiAlreadyInitialized("already initialised")
        # Power-on self-tests before any service, at every C_Initialize
        # (ISO/IEC 19790 7.10.2); a failure latches and raises.
        power_on.run()
        _STATE = Hsm(load_config())
        return _STATE


def finalize() -> None:
    global _STATE
    with _STATE_LOCK:
        hsm = current()
        _STATE = None
        hsm.close()
