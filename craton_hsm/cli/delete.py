"""``delete``: C_DestroyObject on the objects named by --label/--id,
after showing them and asking (--yes for scripts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import PyKCS11

from craton_hsm.cli._common import (
    EXIT_USAGE,
    Failure,
    describe_selector,
    emit_json,
    find,
    json_option,
    parse_id,
    pin_options,
    pkcs11_failure,
    select_options,
    slot_option,
    user_session,
)

# Every class an operator stores; CKO_PROFILE objects are the module's
# own and read-only (v3.0 4.13), so they are never offered.
_CLASSES = (PyKCS11.CKO_PRIVATE_KEY, PyKCS11.CKO_PUBLIC_KEY,
            PyKCS11.CKO_SECRET_KEY, PyKCS11.CKO_CERTIFICATE,
            PyKCS11.CKO_DATA)


def _by_handle(session: Any, slot: int, handle: int) -> list[tuple[Any, int]]:
    for h, cls in find(session, slot, _CLASSES, None, None, any_ok=True):
        if int(h.value()) == handle:
            return [(h, cls)]
    return []


@click.command("delete")
@slot_option
@select_options
@click.option("--handle", type=int,
              help="Select by object handle, as list-objects printed it "
                   "(handles can change between runs: prefer --label/--id).")
@click.option("--yes", is_flag=True,
              help="Do not ask for confirmation (for scripts).")
@pin_options("pin")
@json_option
def delete(slot: int, label: str | None, hex_id: str | None,
           handle: int | None, yes: bool, pin_env: str | None,
           pin_file: Path | None, as_json: bool) -> None:
    """Delete every object matching --label/--id (or the one --handle).

    Lists what would be deleted and asks for confirmation on the
    terminal unless --yes is given.  Logs in as the user, so private
    objects are included.
    """
    oid = parse_id(hex_id)
    if handle is not None and (label is not None or oid is not None):
        raise Failure("give --handle alone, or --label/--id", EXIT_USAGE)
    with user_session(slot, pin_env, pin_file, rw=True) as session:
        if handle is not None:
            found = _by_handle(session, slot, handle)
            what = f"handle {handle}"
        else:
            found = find(session, slot, _CLASSES, label, oid)
            what = describe_selector(label, oid)
        if not found:
            raise Failure(f"no object matches {what} on slot {slot}; check "
                          f"with `craton-hsm list-objects --slot {slot} "
                          "--login`")
        names = [PyKCS11.CKO[cls] for _, cls in found]
        if not yes:
            click.echo(f"will delete {len(found)} object(s) matching {what}"
                       f": {', '.join(names)}", err=True)
            if not click.confirm("Delete?", err=True):
                raise Failure("nothing deleted (not confirmed; --yes skips "
                              "the question)")
        for h, cls in found:
            try:
                session.destroyObject(h)
            except PyKCS11.PyKCS11Error as e:
                raise pkcs11_failure(e, f"C_DestroyObject ({PyKCS11.CKO[cls]})"
                                        f" on slot {slot}") from None
    if as_json:
        emit_json({"slot": slot, "deleted": names})
    else:
        click.echo(f"slot {slot}: deleted {len(names)} object(s): "
                   f"{', '.join(names)}")


COMMANDS = (delete,)
