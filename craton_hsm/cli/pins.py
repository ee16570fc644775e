"""``init-pin`` and ``change-pin``: C_InitPIN and C_SetPIN.

PINs come from a no-echo prompt, an environment variable or a file's
first line, never from argv (see _common.read_pin).  PKCS#11 v3.0 5.6:
C_InitPIN runs in an R/W SO session; C_SetPIN changes the PIN of the
user logged in on the session.  Both commands log in first so a wrong
current PIN is reported as C_Login's CKR_PIN_INCORRECT.
"""

from __future__ import annotations

from pathlib import Path

import click
import PyKCS11

from craton_hsm.cli._common import (
    emit_json,
    json_option,
    library,
    log_in,
    open_session,
    pin_options,
    pkcs11_failure,
    read_pin,
    require_token,
    slot_option,
    token_facts,
)


@click.command("init-pin")
@slot_option
@pin_options("so-pin")
@pin_options("pin")
@json_option
def init_pin(slot: int, so_pin_env: str | None, so_pin_file: Path | None,
             pin_env: str | None, pin_file: Path | None,
             as_json: bool) -> None:
    """Set (or reset) the user PIN of the token in SLOT as the SO.

    The SO PIN comes from --so-pin-env/--so-pin-file or a prompt; the
    new user PIN from --pin-env/--pin-file or a prompt asked twice.
    Resetting also unlocks a user PIN locked by failed logins.
    """
    with library() as lib:
        require_token(lib, slot)
        so_pin = read_pin("so-pin", so_pin_env, so_pin_file)
        user_pin = read_pin("pin", pin_env, pin_file, confirm=True)
        session = open_session(lib, slot, rw=True)
        try:
            log_in(session, slot, so_pin, so=True)
            try:
                session.initPin(user_pin)
            except PyKCS11.PyKCS11Error as e:
                raise pkcs11_failure(e, f"C_InitPIN on slot {slot}") \
                    from None
        finally:
            session.closeSession()
        flags = token_facts(lib, slot)["flags"]
    doc = {"slot": slot,
           "user_pin_initialized": flags["user_pin_initialized"],
           "user_pin_locked": flags["user_pin_locked"]}
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"slot {slot}: user PIN set")


@click.command("change-pin")
@slot_option
@click.option("--so", is_flag=True,
              help="Change the SO PIN instead of the user PIN.")
@pin_options("old-pin")
@pin_options("new-pin")
@json_option
def change_pin(slot: int, so: bool, old_pin_env: str | None,
               old_pin_file: Path | None, new_pin_env: str | None,
               new_pin_file: Path | None, as_json: bool) -> None:
    """Change the user PIN (or, with --so, the SO PIN) of SLOT.

    The current PIN comes from --old-pin-env/--old-pin-file or a
    prompt; the new one from --new-pin-env/--new-pin-file or a prompt
    asked twice.
    """
    who = "so" if so else "user"
    with library() as lib:
        require_token(lib, slot)
        old = read_pin("old-pin", old_pin_env, old_pin_file)
        new = read_pin("new-pin", new_pin_env, new_pin_file, confirm=True)
        session = open_session(lib, slot, rw=True)
        try:
            log_in(session, slot, old, so=so)
            try:
                session.setPin(old, new)
            except PyKCS11.PyKCS11Error as e:
                raise pkcs11_failure(
                    e, f"C_SetPIN ({who}) on slot {slot}") from None
        finally:
            session.closeSession()
    if as_json:
        emit_json({"slot": slot, "user": who, "changed": True})
    else:
        click.echo(f"slot {slot}: {'SO' if so else 'user'} PIN changed")


COMMANDS = (init_pin, change_pin)
