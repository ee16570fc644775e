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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from _craton_hsm_abi import ffi

from craton_hsm import audit
from craton_hsm._generated_ck import CKA, CKM, CKR, CKU
from craton_hsm.audit.record import digest_bytes
from craton_hsm.core import hsm as hsm_mod
from craton_hsm.errors import rv_name

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
    the call up front while the log is unwritable."""

    roles: tuple[tuple[int, str], ...]
    durable: bool = True
    gate: bool = True


S = (0, "session")
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
    "C_OpenSession": Audited(((0, "slot"), (1, "flags"),
                              (4, "out_session"))),
    "C_CloseSession": Audited((S,), gate=False),
    "C_CloseAllSessions": Audited(((0, "slot"),), gate=False),
    "C_CreateObject": Audited((S, (1, "template"), (3, "out_object"))),
    "C_CopyObject": Audited((S, (1, "object"), (2, "template"),
                             (4, "out_object"))),
    "C_DestroyObject": Audited((S, (1, "object"))),
    "C_SetAttributeValue": Audited((S, (1, "object"), (2, "attrs"))),
    "C_GenerateKey": Audited((S, (1, "mech"), (2, "template"),
                              (4, "out_object"))),
    "C_GenerateKeyPair": Audited((S, (1, "mech"), (4, "template"),
                                  (6, "out_object"), (7, "out_object2"))),
    "C_DeriveKey": Audited((S, (1, "mech"), (2, "object"),
                            (3, "template"), (5, "out_object"))),
    "C_WrapKey": Audited((S, (1, "mech"), (2, "object"), (3, "object2")),
                         durable=False),
    "C_UnwrapKey": Audited((S, (1, "mech"), (2, "object"), (5, "template"),
                            (7, "out_object"))),
    "C_EncryptInit": _KEY_INIT,
    "C_DecryptInit": _KEY_INIT,
    "C_SignInit": _KEY_INIT,
    "C_VerifyInit": _KEY_INIT,
    "C_SignRecoverInit": _KEY_INIT,
    "C_VerifyRecoverInit": _KEY_INIT,
    # No key, but one record per digest operation costs little and
    # shows which hash an application used.
    "C_DigestInit": Audited((S, (1, "mech")), durable=False),
    "C_DigestKey": Audited((S, (1, "object")), durable=False),
    "C_EncapsulateKey": Audited((S, (1, "mech"), (2, "object"),
                                 (3, "template"), (7, "out_object"))),
    "C_DecapsulateKey": Audited((S, (1, "mech"), (2, "object"),
                                 (3, "template"), (7, "out_object"))),
    "C_SetOperationState": Audited((S, (3, "object"), (4, "object2")),
                                   durable=False),
    "C_GenerateRandom": Audited((S, (2, "length")), durable=False),
    "C_SeedRandom": Audited((S, (2, "length"))),
}


def wrap(name: str, call: Callable[..., int]) -> Callable[..., int]:
    """``call`` (already guarded) with its audit record, if audited."""
    spec = TABLE.get(name)
    if spec is None:
        return call

    def audited(*args: Any) -> int:
        if spec.gate and name != "C_Initialize":
            try:
                audit.ready()
            except audit.AuditUnavailable as e:
                _log.error("%s refused: %s", name, e)
                return DEVICE_ERROR
        fields = _safely(_inputs, spec, args)
        rv = call(*args)
        if rv == OK:
            fields.update(_safely(_outputs, spec, args))
        return _record(name, spec, fields, rv)

    audited.__name__ = name
    return audited


def _record(name: str, spec: Audited, fields: dict[str, Any],
            rv: int) -> int:
    fields["rv"] = rv_name(rv)
    try:
        if name == "C_Initialize" and rv == OK:
            audit.start(hsm_mod.current().config)
        audit.append(name, fields, spec.durable)
        if name == "C_Finalize" and rv == OK:
            audit.stop()
    except audit.AuditUnavailable as e:
        _log.error("%s: %s", name, e)
        if name in ("C_Initialize", "C_Finalize") and rv == OK:
            audit.stop_quietly()
        if name == "C_Initialize" and rv == OK:
            # Fail closed: the module does not stay initialised without
            # its audit trail.
            hsm_mod.finalize()
        # A call that only gives up capability (finalize, close, logout)
        # keeps its result: refusing it would protect nothing.
        return DEVICE_ERROR if rv == OK and spec.gate else rv
    return rv


def _safely(read: Callable[[Audited, tuple[Any, ...]], dict[str, Any]],
            spec: Audited, args: tuple[Any, ...]) -> dict[str, Any]:
    """Argument roles, or a marker: a record is never lost to a
    malformed argument."""
    try:
        return read(spec, args)
    except Exception as exc:  # noqa: BLE001  (the record must be written)
        return {"args_unreadable": type(exc).__name__}


def _inputs(spec: Audited, args: tuple[Any, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, role in spec.roles:
        value = args[index]
        if role in ("session", "slot", "flags", "length"):
            out[role] = int(value)
        elif role == "user":
            out[role] = _enum_name(CKU, "CKU_", int(value))
        elif role == "mech":
            if value != NULL:
                out[role] = _enum_name(CKM, "CKM_", int(value.mechanism))
        elif role in ("object", "object2"):
            out[role] = int(value)
            ident = _object_id(int(value))
            if ident is not None:
                out[role + "_id"] = ident
        elif role == "template":
            ident = _template_id(value, int(args[index + 1]))
            if ident is not None:
                out["id"] = ident
        elif role == "attrs":
            out[role] = _attribute_names(value, int(args[index + 1]))
    return out


def _outputs(spec: Audited, args: tuple[Any, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, role in spec.roles:
        if role.startswith("out_") and args[index] != NULL:
            handle = int(args[index][0])
            if handle:
                out[_OUT_NAMES[role]] = handle
    return out


_OUT_NAMES = {"out_session": "session", "out_object": "new_object",
              "out_object2": "new_object2"}
_names: dict[tuple[str, int], str] = {}


def _enum_name(enum: Any, prefix: str, value: int) -> str:
    key = (prefix, value)
    found = _names.get(key)
    if found is None:
        try:
            found = prefix + enum(value).name
        except ValueError:
            found = f"{prefix}0x{value:08x}"
        _names[key] = found
    return found


def _object_id(handle: int) -> str | None:
    """Digest of the object's CKA_ID, read from this process's handle
    table (a dict lookup: no store access)."""
    try:
        obj = hsm_mod.current().handles.get(handle)
    except Exception:  # noqa: BLE001  (not initialised: no id)
        return None
    value = None if obj is None else obj.attrs.get(CKA.ID)
    return digest_bytes(bytes(value)) \
        if isinstance(value, (bytes, bytearray)) and value else None


def _template_id(p: Any, count: int) -> str | None:
    if p == NULL:
        return None
    for i in range(min(count, _MAX_SCAN)):
        a = p[i]
        if int(a.type) == CKA.ID and a.pValue != NULL:
            n = min(int(a.ulValueLen), _MAX_ID)
            return digest_bytes(bytes(ffi.buffer(a.pValue, n))) if n \
                else None
    return None


def _attribute_names(p: Any, count: int) -> list[str]:
    if p == NULL:
        return []
    return [_enum_name(CKA, "CKA_", int(p[i].type))
            for i in range(min(count, _MAX_SCAN))]
