"""``init-token``: C_InitToken with an SO PIN that never touches argv."""

from __future__ import annotations

from pathlib import Path

import click
import PyKCS11

from craton_hsm.cli._common import (
    EXIT_USAGE,
    Failure,
    check_slot,
    emit_json,
    json_option,
    library,
    pin_options,
    pkcs11_failure,
    read_pin,
    token_facts,
)

LABEL_LEN = 32  # CK_TOKEN_INFO.label: 32 blank-padded UTF-8 bytes


def _padded_label(label: str) -> str:
    raw = label.encode("utf-8")
    if not raw or len(raw) > LABEL_LEN:
        raise Failure(f"--label must be 1-{LABEL_LEN} bytes of UTF-8, "
                      f"got {len(raw)}", EXIT_USAGE)
    if raw != raw.rstrip(b" "):
        raise Failure("--label must not end in spaces (the field is "
                      "blank-padded, so they would be lost)", EXIT_USAGE)
    return (raw + b" " * (LABEL_LEN - len(raw))).decode("utf-8")


@click.command("init-token")
@click.option("--slot", type=int, required=True, help="Slot to initialise.")
@click.option("--label", required=True, help="Token label (1-32 bytes).")
@pin_options("so-pin")
@click.option("--force", is_flag=True,
              help="Re-initialise a token that is already initialised "
                   "(erases all its objects; needs its current SO PIN).")
@json_option
def init_token(slot: int, label: str, so_pin_env: str | None,
               so_pin_file: Path | None, force: bool, as_json: bool) -> None:
    """Initialise the token in SLOT with LABEL and an SO PIN.

    The SO PIN is prompted for twice without echo, unless --so-pin-env
    VAR or --so-pin-file FILE names where to read it.  There is no
    option that takes the PIN itself: command lines are visible to other
    users.  Re-initialising an existing token needs --force and the
    current SO PIN (C_InitToken then erases every object).
    """
    padded = _padded_label(label)
    with library() as lib:
        check_slot(lib, slot)
        before = token_facts(lib, slot)
        if before["initialized"] and not force:
            raise Failure(
                f"slot {slot} already holds token '{before['label']}' "
                f"(serial {before['serial']}); re-initialising erases all "
                "its objects: pass --force to do it")
        pin = read_pin("so-pin", so_pin_env, so_pin_file, confirm=True)
        try:
            lib.initToken(slot, pin, padded)
        except PyKCS11.PyKCS11Error as e:
            raise pkcs11_failure(
                e, f"C_InitToken on slot {slot}") from None
        after = token_facts(lib, slot)
    doc = {"slot": slot, "label": after["label"], "serial": after["serial"],
           "initialized": after["initialized"],
           "reinitialized": before["initialized"]}
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"slot {slot}: token '{doc['label']}' initialised "
                   f"(serial {doc['serial']})")


COMMANDS = (init_token,)
