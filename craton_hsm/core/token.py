"""One slot's token: PINs, login state, master key and token objects.

PKCS#11 v3.0 sections 5.5 (C_InitToken, C_InitPIN, C_SetPIN) and 5.6
(C_Login, C_Logout).  Login state belongs to the application (this
process) and the token, and is shared by all its sessions (spec 2.6).
Failure counters and lockout live in the store, so every process sees
them (seed 004, "Lockout").
"""

from __future__ import annotations

import datetime
import logging
import threading

from craton_hsm import secmem
from craton_hsm._generated_ck import CKA, CKF, CKO, CKU
from craton_hsm.config import Config
from craton_hsm.core import pins, vault
from craton_hsm.core.locking import ModuleLock
from craton_hsm.core.objects import NO_SECRETS, HandleTable, Obj
from craton_hsm.drbg import random_bytes
from craton_hsm.errors import (
    CKRError,
    PinIncorrect,
    PinLenRange,
    PinLocked,
    TokenNotRecognized,
    UserPinNotInitialized,
)
from craton_hsm.store import open_slot_store
from craton_hsm.store.base import SlotStore, StoredObject, TokenState
from craton_hsm.store.codec import encode_attrs

log = logging.getLogger("craton_hsm")
ROLE_NAME: dict[int, str] = {CKU.SO: "so", CKU.USER: "user"}


def pad(text: bytes, size: int) -> bytes:
    """Blank-padded fixed-size field (spec 3.2: not NUL-terminated)."""
    return text[:size].ljust(size, b" ")


class Token:
    """The token in one slot, as this process sees it."""

    def __init__(self, slot_id: int, config: Config,
                 handles: HandleTable, lock: ModuleLock | None = None) -> None:
        self.slot_id = slot_id
        self.config = config
        self.handles = handles
        # Serialises login state, PINs and token objects; the
        # application's mutex when it asked for that (core/locking.py).
        self.lock: ModuleLock = lock or threading.RLock()
        self.store: SlotStore = open_slot_store(config, slot_id)
        self.state: TokenState | None = None
        self.login_role: int | None = None
        # In the key-material arena (secmem.py) while logged in.
        self.mk: secmem.Secret | None = None
        self.objects: dict[str, Obj] = {}       # token objects by uid
        self._generation: int | None = None
        try:
            self.sync()
        except CKRError as exc:
            # An unreadable or foreign slot file fails only this slot:
            # C_Initialize succeeds, and every call on the slot that
            # reads the token (C_GetTokenInfo, C_OpenSession, ...)
            # raises the same error again.
            log.warning("slot %d: %s", slot_id, exc)

    # -- state -----------------------------------------------------------

    def sync(self) -> None:
        """Reload state and objects if another process changed them."""
        with self.lock:
            gen = self.store.generation()
            if gen == self._generation:
                return
            self.state = self.store.load_state()
            self._reload_objects()
            self._generation = gen

    def _reload_objects(self) -> None:
        stored = {o.uid: o for o in self.store.list_objects()}
        for uid in list(self.objects):
            if uid not in stored:
                gone = self.objects.pop(uid)
                self.handles.remove(gone.handle)
                gone.release()
        for uid, rec in stored.items():
            old = self.objects.get(uid)
            damage = rec.damage or _missing_secret(rec)
            if old is not None and old.sealed == rec.secret and \
                    old.damage == damage and _same_public(old, rec):
                continue
            handle = old.handle if old else self.handles.new_handle()
            # rec is this load's own copy (both stores hand out fresh
            # records), so its dict becomes the object's without a copy.
            obj = Obj(handle, uid, rec.attrs, self.slot_id,
                      sealed=rec.secret)
            obj.stored = rec.blob
            obj.damage = damage
            if old is not None:
                old.release()
            self.objects[uid] = obj
            self.handles.add(obj)
            if obj.damage is not None:
                log.warning("slot %d: %s", self.slot_id, obj.damage)
        # Sealed secrets are opened when an object is used
        # (dispatch/common.py key(), open_secrets), not here or at login:
        # a process that loads 1,000 keys to use one decrypts one
        # (issue 9, cold start).  A tampered record is logged and
        # refused at that use (Obj.open_secrets).

    def mark_synced(self) -> None:
        """After our own write: adopt the generation it committed, but
        only if no other process wrote since our last sync.  Reading
        ``generation()`` here instead would swallow a write another
        process committed just after ours, and this process would not
        see that change until some later write."""
        start, end = self.store.last_write()
        if start == self._generation:
            self._generation = end

    @property
    def initialized(self) -> bool:
        return self.state is not None

    def require_initialized(self) -> TokenState:
        if self.state is None:
            raise TokenNotRecognized(f"token in slot {self.slot_id} is not "
                                     "initialised")
        return self.state

    def flags(self) -> int:
        f = CKF.RNG | CKF.LOGIN_REQUIRED | CKF.DUAL_CRYPTO_OPERATIONS
        st = self.state
        if st is None:
            return int(f)
        f |= CKF.TOKEN_INITIALIZED
        if st.user_pin is not None:
            f |= CKF.USER_PIN_INITIALIZED
        f |= self._pin_flags(st.user_failures, CKF.USER_PIN_COUNT_LOW,
                             CKF.USER_PIN_FINAL_TRY, CKF.USER_PIN_LOCKED)
        f |= self._pin_flags(st.so_failures, CKF.SO_PIN_COUNT_LOW,
                             CKF.SO_PIN_FINAL_TRY, CKF.SO_PIN_LOCKED)
        return int(f)

    def _pin_flags(self, failures: int, low: int, final: int,
                   locked: int) -> int:
        limit = self.config.max_login_failures
        if failures >= limit:
            return locked
        if failures == limit - 1:
            return low | final
        return low if failures > 0 else 0

    # -- PIN management --------------------------------------------------

    def check_pin_length(self, pin: bytes) -> None:
        if not self.config.pin_min_len <= len(pin) <= \
                self.config.pin_max_len:
            raise PinLenRange(f"PIN length {len(pin)} outside "
                              f"{self.config.pin_min_len}.."
                              f"{self.config.pin_max_len}")

    def verify(self, role: int, pin: bytes) -> secmem.Secret:
        """Check a PIN with lockout; return the KEK it unlocks (the
        caller frees it)."""
        st = self.require_initialized()
        name = ROLE_NAME[role]
        record = st.so_pin if role == CKU.SO else st.user_pin
        if record is None:
            raise UserPinNotInitialized("user PIN not initialised")
        failures = st.so_failures if role == CKU.SO else st.user_failures
        if failures >= self.config.max_login_failures:
            raise PinLocked(f"{name} PIN locked")
        kek = pins.check_pin(pin, record)
        count = self.store.record_login(name, kek is not None)
        if role == CKU.SO:
            st.so_failures = count
        else:
            st.user_failures = count
        self.mark_synced()
        if kek is None:
            raise PinIncorrect(f"{name} PIN incorrect")
        return kek

    def init_token(self, so_pin: bytes, label: bytes) -> None:
        """C_InitToken: new serial and master key; old keys shredded."""
        self.check_pin_length(so_pin)
        if self.state is not None:
            self.verify(CKU.SO, so_pin).free()
        serial = random_bytes(8).hex().upper()
        record, kek = pins.make_pin_record(
            so_pin, self.config.pbkdf2_iterations,
            self.config.crypto_profile)
        mk = vault.new_master_key()
        try:
            wrapped = vault.wrap_master_key(mk.view, kek.view, serial, "so")
        finally:
            mk.free()
            kek.free()
        state = TokenState(
            serial=serial, label=pad(label, 32), so_pin=record,
            user_pin=None, mk_wrapped_so=wrapped, mk_wrapped_user=None,
            created_at=datetime.datetime.now(datetime.UTC).isoformat(),
        )
        self.store.init_token(state)
        self._drop_login()
        for obj in self.objects.values():
            self.handles.remove(obj.handle)
            obj.release()
        self.objects.clear()
        self.state = state
        self.mark_synced()

    def set_user_pin(self, pin: bytes) -> None:
        """C_InitPIN by the SO: new user PIN, counter reset."""
        st = self.require_initialized()
        self.check_pin_length(pin)
        assert self.mk is not None
        record, kek = pins.make_pin_record(
            pin, self.config.pbkdf2_iterations,
            self.config.crypto_profile)
        st.user_pin = record
        try:
            st.mk_wrapped_user = vault.wrap_master_key(
                self.mk.view, kek.view, st.serial, "user")
        finally:
            kek.free()
        st.user_failures = 0
        self.store.save_state(st)
        self.mark_synced()

    def change_pin(self, role: int, old: bytes, new: bytes) -> None:
        """C_SetPIN: verify old, re-wrap the master key under new."""
        st = self.require_initialized()
        self.check_pin_length(new)
        name = ROLE_NAME[role]
        mk = self._unwrap(role, self.verify(role, old))
        try:
            record, new_kek = pins.make_pin_record(
                new, self.config.pbkdf2_iterations,
                self.config.crypto_profile)
            wrapped = vault.wrap_master_key(mk.view, new_kek.view,
                                            st.serial, name)
            new_kek.free()
        finally:
            mk.free()
        if role == CKU.SO:
            st.so_pin, st.mk_wrapped_so = record, wrapped
        else:
            st.user_pin, st.mk_wrapped_user = record, wrapped
        self.store.save_state(st)
        self.mark_synced()

    def _unwrap(self, role: int, kek: secmem.Secret) -> secmem.Secret:
        """The master key under ``kek``, which is freed here."""
        try:
            st = self.require_initialized()
            blob = st.mk_wrapped_so if role == CKU.SO else \
                st.mk_wrapped_user
            if blob is None:
                raise UserPinNotInitialized("no wrapped master key for "
                                            "role")
            return vault.unwrap_master_key(blob, kek.view, st.serial,
                                           ROLE_NAME[role])
        finally:
            kek.free()

    # -- login -----------------------------------------------------------

    def login(self, role: int, pin: bytes) -> None:
        kek = self.verify(role, pin)
        mk = self._unwrap(role, kek)
        self.login_role = role
        self.mk = mk

    def logout(self) -> None:
        self._drop_login()

    def _drop_login(self) -> None:
        self.login_role = None
        for obj in self.objects.values():
            obj.close_secrets()
        if self.mk is not None:
            self.mk.free()
        self.mk = None

    # -- token objects ---------------------------------------------------

    def save_object(self, obj: Obj, secret_types: frozenset[int]) -> None:
        """Persist a token object; secret attributes sealed."""
        st = self.require_initialized()
        # A copy less the few secret types: cheaper than a filtering
        # comprehension over every attribute (issue 9).
        public = dict(obj.attrs)
        for t in secret_types:
            public.pop(t, None)
        # Encoded once: the same bytes are the sealed blob's AAD and the
        # stored record (issue 9: create encoded them twice).
        blob = encode_attrs(public)
        sealed = None
        if secret_types:
            if self.mk is None:
                from craton_hsm.errors import UserNotLoggedIn
                raise UserNotLoggedIn("storing key material needs a login")
            secrets = {t: obj.attrs[t] for t in secret_types
                       if t in obj.attrs}
            sealed = vault.seal(self.mk.view, st.serial, obj.uid, secrets,
                                public_blob=blob)
        self.store.put_object(StoredObject(obj.uid, public, sealed,
                                           blob=blob))
        obj.sealed = sealed
        obj.stored = blob
        obj.secret_types = secret_types if sealed is not None else \
            NO_SECRETS
        self.objects[obj.uid] = obj
        self.mark_synced()

    def delete_object(self, obj: Obj) -> None:
        self.store.delete_object(obj.uid)
        self.objects.pop(obj.uid, None)
        self.mark_synced()

    def close(self) -> None:
        self._drop_login()
        self.store.close()


def _missing_secret(rec: StoredObject) -> str | None:
    """Keys always have sealed material; a record without it was cut."""
    if rec.secret is None and rec.attrs.get(CKA.CLASS) in (
            CKO.SECRET_KEY, CKO.PRIVATE_KEY):
        return f"object {rec.uid}: sealed key material is missing"
    return None


def _same_public(obj: Obj, rec: StoredObject) -> bool:
    """Whether ``obj`` holds the public attributes ``rec`` stores."""
    if obj.stored is not None and rec.blob is not None:
        return obj.stored == rec.blob
    public = {t: v for t, v in obj.attrs.items()
              if t not in obj.secret_types}
    return public == rec.attrs
