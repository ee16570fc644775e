"""Which C functions the audit trail records, and what it records of
their arguments (issue 6; docs/audit.md "Coverage").

``export`` passes every entry point through :func:`wrap`.  A function in
TABLE gets a record with the roles of its arguments (slot, session,
object handles and their CKA_ID digest, mechanism name, user type) and
its result code, success or refusal, written before the call returns.
PINs, data, templates' values and key bytes are never read here, except
a template's CKA_ID, which is kept only as a digest.  The *Update/final
calls of an operation are not recorded one by one: its *Init is.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from _craton_hsm_abi import ffi, lib

from craton_hsm import audit
from craton_hsm._generated_ck import CKA, CKM, CKR, CKU
from craton_hsm.audit import trail
from craton_hsm.audit.record import digest_bytes
from craton_hsm.backend.audit_primitives import sha256_hex
from craton_hsm.core import hsm as hsm_mod
from craton_hsm.errors import CryptokiNotInitialized, rv_name

_log = logging.getLogger("craton_hsm")
NULL = ffi.NULL
OK = int(CKR.OK)
# CKR_DEVICE_ERROR (PKCS#11 v3.0 5.1.3): "some problem has occurred with
# the token"; the audit log is part of the token's storage.  General
# error is kept for the latched error state.
DEVICE_ERROR = int(CKR.DEVICE_ERROR)
_MAX_SCAN = 256       # template entries scanned for CKA_ID
_MAX_ID = 1024        # bytes of a CKA_ID hashed


@dataclass(frozen=True)
class Audited:
    """One audited function: (argument index, role) pairs; ``durable``
    marks a state change (fsync under policy "state"); ``gate`` refuses
    the call up front while the log is unwritable.  ``objects``: durable
    only when the call succeeded and the object it makes (its out_object
    roles) or, without one, the object it changes or destroys (its
    "object" role) is a token object: a session object ends with its
    process, as a session does."""

    roles: tuple[tuple[int, str], ...]
    durable: bool = True
    gate: bool = True
    objects: bool = False


S = (0, "session")


def _objects(*roles: tuple[int, str]) -> Audited:
    return Audited(roles, objects=True)


_KEY_INIT = Audited((S, (1, "mech"), (2, "object")), durable=False)

TABLE: dict[str, Audited] = {
    "C_Initialize": Audited(()),
    "C_Finalize": Audited((), gate=False),
    "C_InitToken": Audited(((0, "slot"),)),
    "C_InitPIN": Audited((S,)),
    "C_SetPIN": Audited((S,)),
    "C_Login": Audited((S, (1, "user"))),
    "C_LoginUser": Audited((S, (1, "user"))),
    "C_Logout": Audited((S,), gate=False),
    # Sessions live only in the process: their records are written
    # before the call returns but not fsync'd under policy "state" (an
    # fsync per open/close cost ~0.25 ms each; docs/audit.md).
    "C_OpenSession": Audited(((0, "slot"), (1, "flags"),
                              (4, "out_session")), durable=False),
    "C_CloseSession": Audited((S,), durable=False, gate=False),
    "C_CloseAllSessions": Audited(((0, "slot"),), durable=False,
                                  gate=False),
    # Object records are fsync'd under policy "state" only for token
    # objects (docs/audit.md "Durability"): an fsync per session key
    # was three quarters of C_GenerateKey's cost.
    "C_CreateObject": _objects(S, (1, "template"), (3, "out_object")),
    "C_CopyObject": _objects(S, (1, "object"), (2, "template"),
                             (4, "out_object")),
    "C_DestroyObject": _objects(S, (1, "object")),
    "C_SetAttributeValue": _objects(S, (1, "object"), (2, "attrs")),
    "C_GenerateKey": _objects(S, (1, "mech"), (2, "template"),
                              (4, "out_object")),
    "C_GenerateKeyPair": _objects(S, (1, "mech"), (4, "template"),
                                  (6, "out_object"), (7, "out_object2")),
    "C_DeriveKey": _objects(S, (1, "mech"), (2, "object"),
                            (3, "template"), (5, "out_object")),
    "C_WrapKey": Audited((S, (1, "mech"), (2, "object"), (3, "object2")),
                         durable=False),
    "C_UnwrapKey": _objects(S, (1, "mech"), (2, "object"), (5, "template"),
                            (7, "out_object")),
    "C_EncryptInit": _KEY_INIT,
    "C_DecryptInit": _KEY_INIT,
    "C_SignInit": _KEY_INIT,
    "C_VerifyInit": _KEY_INIT,
    "C_SignRecoverInit": _KEY_INIT,
    "C_VerifyRecoverInit": _KEY_INIT,
    # The message-based API (v3.0 5.13-5.16): its *Init uses the key;
    # the per-message calls are part of that operation.
    "C_MessageEncryptInit": _KEY_INIT,
    "C_MessageDecryptInit": _KEY_INIT,
    "C_MessageSignInit": _KEY_INIT,
    "C_MessageVerifyInit": _KEY_INIT,
    "C_SessionCancel": Audited((S, (1, "flags")), durable=False),
    # No key, but one record per digest operation costs little and
    # shows which hash an application used.
    "C_DigestInit": Audited((S, (1, "mech")), durable=False),
    "C_DigestKey": Audited((S, (1, "object")), durable=False),
    "C_EncapsulateKey": _objects(S, (1, "mech"), (2, "object"),
                                 (3, "template"), (7, "out_object")),
    "C_DecapsulateKey": _objects(S, (1, "mech"), (2, "object"),
                                 (3, "template"), (7, "out_object")),
    "C_SetOperationState": Audited((S, (3, "object"), (4, "object2")),
                                   durable=False),
    "C_GenerateRandom": Audited((S, (2, "length")), durable=False),
    "C_SeedRandom": Audited((S, (2, "length"))),
}


Reader = Callable[[tuple[Any, ...], dict[str, Any]], None]


class _Native:
    """trail.Native over ffi/audit.c: in the library, an ordinary record
    is one C call (``append``: fill-in, SHA-256, write, head, unlock),
    or two (``enter``/``commit``, the system calls around Python's
    formatting and hashing) for a keyed BLAKE3 chain or when the C hash
    is unavailable."""

    def __init__(self, crypto: bytes = b"libcrypto.so.3") -> None:
        self.enter = lib.craton_audit_enter
        self.commit = lib.craton_audit_commit
        self.append = lib.craton_audit_append
        self.fast = c_sha256_ok(crypto)
        self.lock = lib.craton_audit_lock
        self.unlock = lib.craton_audit_unlock

    def state(self) -> Any:
        state = ffi.new("struct craton_audit_trail *")
        failed = lib.craton_audit_init(state)
        if failed:
            raise OSError(failed, os.strerror(failed))
        return state

    def free(self, state: Any) -> None:
        lib.craton_audit_free(state)

    def hash_of(self, state: Any) -> str:
        return str(ffi.unpack(state.hash, 64).decode("ascii"))

    def pointer(self, head: Any) -> Any:
        return ffi.from_buffer(head)

    def release(self, pointer: Any) -> None:
        # The mmap cannot close while cffi holds its buffer.
        ffi.release(pointer)


# FIPS 180-4 / NIST CSVS examples, and a record-like body with non-ASCII
# text checked against hashlib: the C chain hash must be SHA-256 exactly.
_SHA256_KAT = (
    (b"abc", ("ba7816bf8f01cfea414140de5dae2223"
              "b00361a396177a9cb410ff61f20015ad")),
    (b"", ("e3b0c44298fc1c149afbf4c8996fb924"
           "27ae41e4649b934ca495991b7852b855")),
    (b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
)
_SHA256_CHECK = ('{"event":"C_SignInit","mech":"CKM_ECDSA","pid":1,'
                 '"prev":"' + "0" * 64 + '","rv":"CKR_OK","seq":2,'
                 '"who":"\u00e9t\u00e9 \u2603"}').encode() * 9


def c_sha256_ok(crypto: bytes) -> bool:
    """Resolve libcrypto's SHA-256 for ffi/audit.c and check it (known
    answers, and agreement with hashlib on a long record-like input);
    False means the trail hashes in Python, as before."""
    if lib.craton_audit_crypto_load(crypto) != 0:
        _log.info("audit: no SHA-256 in %s; records are hashed in Python",
                  crypto.decode(errors="replace"))
        return False
    out = ffi.new("char[64]")
    expected = (*_SHA256_KAT, (_SHA256_CHECK, sha256_hex(_SHA256_CHECK)))
    for data, digest in expected:
        if lib.craton_audit_sha256_hex(data, len(data), out) != 0 \
                or ffi.unpack(out, 64) != digest.encode("ascii"):
            _log.error("audit: the C SHA-256 failed its known-answer "
                       "test; records are hashed in Python")
            return False
    return True


trail.use_native(_Native())


def wrap(name: str, call: Callable[..., int]) -> Callable[..., int]:
    """``call`` (already guarded) with its audit record, if audited.

    The argument readers are built here, once per function, from its
    row in TABLE: a call runs only the readers of its own roles."""
    spec = TABLE.get(name)
    if spec is None:
        return call
    read_inputs = _inputs_reader(tuple(
        (i, role) for i, role in spec.roles if not role.startswith("out_")))
    outputs = tuple(_output_reader(i, role) for i, role in spec.roles
                    if role.startswith("out_"))
    if name in ("C_Initialize", "C_Finalize"):
        return _module_call(name, spec, call, read_inputs)
    durable, gate, by_object = spec.durable, spec.gate, spec.objects
    # Audited.objects: the handles that decide durability, the made
    # objects' (pointers, read after the call) or else the changed one's.
    made = tuple(i for i, role in spec.roles
                 if role in ("out_object", "out_object2"))
    changed = () if made else tuple(i for i, role in spec.roles
                                    if role == "object")
    append, ready = audit.append, audit.ready
    rv_names = _rv_names

    def audited(*args: Any) -> int:
        if gate:
            try:
                ready()
            except audit.AuditUnavailable as e:
                _log.error("%s refused: %s", name, e)
                return int(e.rv)
        fields: dict[str, Any] = {}
        try:
            read_inputs(args, fields)
        except Exception as exc:  # noqa: BLE001  (the record must be written)
            fields = {"args_unreadable": type(exc).__name__}
        # Before the call: C_DestroyObject's object is gone after it.
        token = by_object and _any_token(args, changed, False)
        rv = call(*args)
        if rv == OK and outputs:
            try:
                for read in outputs:
                    read(args, fields)
            except Exception as exc:  # noqa: BLE001  (as above)
                fields["args_unreadable"] = type(exc).__name__
        fields["rv"] = rv_names.get(rv) or _rv_name(rv)
        if by_object:
            # A failed call changed nothing persistent.
            durable_now = rv == OK and (token or _any_token(args, made,
                                                            True))
        else:
            durable_now = durable
        try:
            # typed: a key's value always has the same type here (int()
            # of a handle, a name's str), so the trail skips its check.
            append(name, fields, durable_now, True)
        except audit.AuditUnavailable as e:
            _log.error("%s: %s", name, e)
            # A call that only gives up capability (close, logout) keeps
            # its result: refusing it would protect nothing.
            return int(e.rv) if rv == OK and gate else rv
        return rv

    audited.__name__ = name
    return audited


def _any_token(args: tuple[Any, ...], indexes: tuple[int, ...],
               pointers: bool) -> bool:
    """Whether an argument at ``indexes`` (a handle, or a pointer to
    one) names a token object of this process's table; True when one
    cannot be read (durable, to be safe)."""
    try:
        handles = hsm_mod.current().handles
        for i in indexes:
            value = args[i]
            if pointers:
                if value == NULL:
                    continue
                value = value[0]
            obj = handles.get(int(value))
            if obj is not None and obj.is_token:
                return True
    except CryptokiNotInitialized:
        return False
    except Exception:  # noqa: BLE001  (a hostile pointer: keep the record)
        return True
    return False


def _module_call(name: str, spec: Audited, call: Callable[..., int],
                 read_inputs: Reader) -> Callable[..., int]:
    """C_Initialize and C_Finalize: they open and close the trail."""
    def audited(*args: Any) -> int:
        fields: dict[str, Any] = {}
        read_inputs(args, fields)
        rv = call(*args)
        fields["rv"] = _rv_name(rv)
        try:
            if name == "C_Initialize" and rv == OK:
                audit.start(hsm_mod.current().config)
            audit.append(name, fields, spec.durable)
            if name == "C_Finalize" and rv == OK:
                audit.stop()
        except audit.AuditUnavailable as e:
            _log.error("%s: %s", name, e)
            if rv == OK:
                audit.stop_quietly()
            if name == "C_Initialize" and rv == OK:
                # Fail closed: the module does not stay initialised
                # without its audit trail.
                hsm_mod.finalize()
                return DEVICE_ERROR
        return rv

    audited.__name__ = name
    return audited


def _inputs_reader(roles: tuple[tuple[int, str], ...]) -> Reader:
    """All input roles of a function in one call.  The two shapes of the
    hot calls (an *Init with its key, C_DigestInit) get one function of
    their own: a record costs one Python call for its arguments, not
    one per role."""
    if roles == ((0, "session"), (1, "mech"), (2, "object")):
        def key_init(args: tuple[Any, ...], out: dict[str, Any]) -> None:
            out["session"] = int(args[0])
            p = args[1]
            if p != NULL:
                m = int(p.mechanism)
                out["mech"] = _CKM.cache.get(m) or _CKM.lookup(m)
            value = out["object"] = int(args[2])
            ident = _object_id(value)
            if ident is not None:
                out["object_id"] = ident
        return key_init
    if roles == ((0, "session"), (1, "mech")):
        def session_mech(args: tuple[Any, ...], out: dict[str, Any]) -> None:
            out["session"] = int(args[0])
            p = args[1]
            if p != NULL:
                m = int(p.mechanism)
                out["mech"] = _CKM.cache.get(m) or _CKM.lookup(m)
        return session_mech
    readers = tuple(_input_reader(i, role) for i, role in roles)
    if len(readers) == 1:
        return readers[0]

    def each(args: tuple[Any, ...], out: dict[str, Any]) -> None:
        for read in readers:
            read(args, out)
    return each


def _input_reader(index: int, role: str) -> Reader:
    """The reader of one argument role; it adds that role's fields."""
    if role in ("session", "slot", "flags", "length"):
        def number(args: tuple[Any, ...], out: dict[str, Any]) -> None:
            out[role] = int(args[index])
        return number
    if role == "user":
        def user(args: tuple[Any, ...], out: dict[str, Any]) -> None:
            out["user"] = _name(_CKU, int(args[index]))
        return user
    if role == "mech":
        def mech(args: tuple[Any, ...], out: dict[str, Any]) -> None:
            p = args[index]
            if p != NULL:
                out["mech"] = _name(_CKM, int(p.mechanism))
        return mech
    if role in ("object", "object2"):
        id_field = role + "_id"

        def handle(args: tuple[Any, ...], out: dict[str, Any]) -> None:
            value = out[role] = int(args[index])
            ident = _object_id(value)
            if ident is not None:
                out[id_field] = ident
        return handle
    if role == "template":
        def template(args: tuple[Any, ...], out: dict[str, Any]) -> None:
            ident = _template_id(args[index], int(args[index + 1]))
            if ident is not None:
                out["id"] = ident
        return template
    if role == "attrs":
        def attrs(args: tuple[Any, ...], out: dict[str, Any]) -> None:
            out["attrs"] = _attribute_names(args[index],
                                            int(args[index + 1]))
        return attrs
    raise ValueError(f"unknown audit role {role!r}")


def _output_reader(index: int, role: str) -> Reader:
    field = _OUT_NAMES[role]

    def created(args: tuple[Any, ...], out: dict[str, Any]) -> None:
        p = args[index]
        if p != NULL:
            value = int(p[0])
            if value:
                out[field] = value
    return created


_OUT_NAMES = {"out_session": "session", "out_object": "new_object",
              "out_object2": "new_object2"}


class _Names:
    """``CKM_ECDSA`` for CKM.ECDSA, cached per value.  Where the header
    defines two names for one value, Python's enum keeps the first in
    the header's (alphabetical) order, which for two values is the name
    PKCS#11 v3.0 deprecated; records use the v3.0 name."""

    def __init__(self, enum: Any, prefix: str,
                 preferred: tuple[str, ...] = ()) -> None:
        self.enum, self.prefix = enum, prefix
        self.cache: dict[int, str] = {
            int(enum[n]): prefix + n for n in preferred}

    def lookup(self, value: int) -> str:
        try:
            found = self.prefix + str(self.enum(value).name)
        except ValueError:
            found = f"{self.prefix}0x{value:08x}"
        if len(self.cache) < _CACHE_MAX:
            self.cache[value] = found
        return found


def _name(names: _Names, value: int) -> str:
    return names.cache.get(value) or names.lookup(value)


_CACHE_MAX = 4096
# PKCS#11 v3.0 section 6.3.1/2.3: CKM_EC_KEY_PAIR_GEN and CKA_EC_PARAMS;
# CKM_ECDSA_KEY_PAIR_GEN and CKA_ECDSA_PARAMS are the deprecated names.
_CKM = _Names(CKM, "CKM_", ("EC_KEY_PAIR_GEN",))
_CKA = _Names(CKA, "CKA_", ("EC_PARAMS",))
_CKU = _Names(CKU, "CKU_")
_rv_names: dict[int, str] = {}


def _rv_name(rv: int) -> str:
    found = _rv_names.get(rv)
    if found is None:
        found = rv_name(rv)
        if len(_rv_names) < _CACHE_MAX:
            _rv_names[rv] = found
    return found


_CKA_ID = int(CKA.ID)
_ids: dict[bytes, str] = {}


def _digest_id(value: bytes) -> str:
    """The CKA_ID digest, cached by value (bytes keep their hash, so a
    repeated key costs one dict lookup)."""
    found = _ids.get(value)
    if found is None:
        found = digest_bytes(value)
        if len(_ids) >= _CACHE_MAX:
            _ids.clear()
        _ids[value] = found
    return found


def _object_id(handle: int) -> str | None:
    """Digest of the object's CKA_ID, read from this process's handle
    table (a dict lookup: no store access)."""
    try:
        obj = hsm_mod.current().handles.get(handle)
    except CryptokiNotInitialized:
        return None
    if obj is None:
        return None
    value = obj.attrs.get(_CKA_ID)
    if value.__class__ is not bytes:
        if not isinstance(value, (bytes, bytearray)):
            return None
        value = bytes(value)
    return _digest_id(value) if value else None


def _template_id(p: Any, count: int) -> str | None:
    if p == NULL:
        return None
    for i in range(min(count, _MAX_SCAN)):
        a = p[i]
        if int(a.type) == _CKA_ID and a.pValue != NULL:
            n = min(int(a.ulValueLen), _MAX_ID)
            return _digest_id(bytes(ffi.buffer(a.pValue, n))) if n \
                else None
    return None


def _attribute_names(p: Any, count: int) -> list[str]:
    if p == NULL:
        return []
    return [_name(_CKA, int(p[i].type)) for i in range(min(count, _MAX_SCAN))]
