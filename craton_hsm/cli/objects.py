"""``list-objects``: handles and non-secret attributes, never values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import PyKCS11

from craton_hsm.cli._common import (
    console,
    emit_json,
    json_option,
    library,
    log_in,
    open_session,
    pin_options,
    pkcs11_failure,
    read_pin,
    require_token,
    stored_objects,
)

# Attributes read per object.  CKA_VALUE and every other secret-bearing
# attribute are deliberately absent: this command never asks for them.
_ATTRS = (PyKCS11.CKA_CLASS, PyKCS11.CKA_KEY_TYPE, PyKCS11.CKA_LABEL,
          PyKCS11.CKA_ID, PyKCS11.CKA_TOKEN, PyKCS11.CKA_PRIVATE,
          PyKCS11.CKA_SENSITIVE)


def _name(table: dict[Any, Any], value: Any) -> str | None:
    if value is None:
        return None
    name = table.get(int(value))
    return name if isinstance(name, str) else f"0x{int(value):08x}"


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _describe(session: Any, handle: Any) -> dict[str, Any]:
    try:
        cls, ktype, label, oid, token, private, sensitive = \
            session.getAttributeValue(handle, list(_ATTRS))
    except PyKCS11.PyKCS11Error as e:
        raise pkcs11_failure(
            e, f"C_GetAttributeValue on object {handle.value()}") from None
    return {
        "handle": int(handle.value()),
        "class": _name(PyKCS11.CKO, cls),
        "key_type": _name(PyKCS11.CKK, ktype),
        "label": label,
        "id": None if oid is None else bytes(oid).hex(),
        "token": _flag(token),
        "private": _flag(private),
        "sensitive": _flag(sensitive),
    }


@click.command("list-objects")
@click.option("--slot", type=int, required=True, help="Slot to list.")
@click.option("--login", is_flag=True,
              help="Log in as the user first, to see private objects "
                   "(implied by --pin-env/--pin-file).")
@pin_options("pin")
@json_option
def list_objects(slot: int, login: bool, pin_env: str | None,
                 pin_file: Path | None, as_json: bool) -> None:
    """List the objects on the token in SLOT.

    Shows handle, class, key type, label, CKA_ID (hex) and the token /
    private / sensitive flags; never any attribute value.  Without
    --login only public objects are visible.  The user PIN is prompted
    for without echo unless --pin-env VAR or --pin-file FILE is given.
    Handles are valid only within this run (they are session-scoped).
    """
    login = login or bool(pin_env or pin_file)
    with library() as lib:
        require_token(lib, slot)
        session = open_session(lib, slot)
        try:
            if login:
                log_in(session, slot, read_pin("pin", pin_env, pin_file))
            rows = [_describe(session, h)
                    for h in stored_objects(session, slot)]
        finally:
            session.closeSession()
    rows.sort(key=lambda r: r["handle"])
    if as_json:
        emit_json({"slot": slot, "logged_in": login, "objects": rows})
        return
    from rich.table import Table
    table = Table(title=f"Objects on slot {slot}"
                  + ("" if login else " (public only; --login for all)"))
    for col in ("Handle", "Class", "Key type", "Label", "ID",
                "Token", "Private", "Sensitive"):
        table.add_column(col)

    def yn(v: bool | None) -> str:
        return "-" if v is None else ("yes" if v else "no")

    for r in rows:
        table.add_row(str(r["handle"]), (r["class"] or "-").removeprefix(
            "CKO_"), (r["key_type"] or "-").removeprefix("CKK_"),
            r["label"] or "-", r["id"] or "-", yn(r["token"]),
            yn(r["private"]), yn(r["sensitive"]))
    console().print(table)


COMMANDS = (list_objects,)
