"""``import``: private keys, public keys and X.509 certificates from PEM
or DER files into the token.

A private key is stored with its public key object (as keygen makes
them), so export-public and certificate matching work the same for
imported and generated keys.  All objects of one file share one CKA_ID:
--id, else keyfiles.key_id of the (first) key's public key, so a key
and its certificate are linked as pkcs11-tool, p11-kit and OpenSSL's
engine expect (same CKA_ID, PKCS#11 v3.0 4.6.3 / 4.8 "CKA_ID").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import PyKCS11

from craton_hsm.cli import keyfiles
from craton_hsm.cli._common import (
    EXIT_USAGE,
    Failure,
    emit_json,
    json_option,
    naming,
    parse_id,
    pin_options,
    pkcs11_failure,
    slot_option,
    user_session,
)
from craton_hsm.cli.keyfiles import Item, Template

_PRIVATE = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
            (PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_PRIVATE, True),
            (PyKCS11.CKA_SENSITIVE, True), (PyKCS11.CKA_EXTRACTABLE, False)]
_PUBLIC = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
           (PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_PRIVATE, False)]
_CERT = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE),
         (PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_PRIVATE, False)]


def _templates(item: Item, names: Template) -> list[tuple[str, Template]]:
    """(class name, template) for each object an item becomes."""
    if item.certificate is not None:
        return [("CKO_CERTIFICATE", [*_CERT, *names,
                 *keyfiles.certificate_template(item.certificate)])]
    public = ("CKO_PUBLIC_KEY", [*_PUBLIC, *names,
              *keyfiles.public_template(item.public_key())])
    if item.private is None:
        return [public]
    return [("CKO_PRIVATE_KEY", [*_PRIVATE, *names,
             *keyfiles.private_template(item.private)]), public]


def _create(session: Any, slot: int, name: str, template: Template) -> None:
    try:
        session.createObject(template)
    except PyKCS11.PyKCS11Error as e:
        raise pkcs11_failure(e, f"C_CreateObject ({name}) on slot {slot}") \
            from None


@click.command("import")
@slot_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False,
                                        path_type=Path))
@click.option("--label", help="CKA_LABEL of every object imported.")
@click.option("--id", "hex_id", metavar="HEX",
              help="CKA_ID (hex); default: SHA-1 of the public key "
                   "(RFC 5280 SKI method 1), shared by key and cert.")
@pin_options("pin")
@json_option
def import_cmd(slot: int, file: Path, label: str | None,
               hex_id: str | None, pin_env: str | None,
               pin_file: Path | None, as_json: bool) -> None:
    """Import the keys and certificates in FILE (PEM or DER).

    Reads PKCS#8 and traditional RSA/EC private keys, SubjectPublicKeyInfo
    and PKCS#1 public keys, and X.509 certificates; a PEM file may hold
    several (e.g. a key and its certificate).  Private keys become
    sensitive, non-extractable token objects, each with its public key
    object.  Encrypted private keys are refused: decrypt them first.
    """
    oid = parse_id(hex_id)
    try:
        data = file.read_bytes()
    except OSError as e:
        raise Failure(f"{file}: {e.strerror}") from None
    items = keyfiles.read_items(str(file), data)
    # A public key beside its own private key is already stored with it.
    if any(i.private for i in items):
        items = [i for i in items if i.public is None]
    keys = {keyfiles.key_id(i.public_key()) for i in items}
    if oid is None and len(keys) > 1:
        raise Failure(f"{file} holds {len(keys)} different public keys; "
                      "import them one file at a time or give --id",
                      EXIT_USAGE)
    oid = oid or keys.pop()
    names = naming(label, oid)
    created: list[str] = []
    with user_session(slot, pin_env, pin_file, rw=True) as session:
        for item in items:
            for name, template in _templates(item, names):
                _create(session, slot, name, template)
                created.append(name)
    doc = {"slot": slot, "file": str(file), "label": label, "id": oid.hex(),
           "objects": created}
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"slot {slot}: imported {', '.join(created)} from "
                   f"{file} (id {oid.hex()})")


COMMANDS = (import_cmd,)
