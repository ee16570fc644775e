"""``export-public``: a public key (SubjectPublicKeyInfo) or an X.509
certificate, PEM or DER.

Only CKO_PUBLIC_KEY and CKO_CERTIFICATE objects are searched, so this
command cannot read anything from a private or secret key; the public
key is rebuilt from CKA_MODULUS/CKA_PUBLIC_EXPONENT or
CKA_EC_PARAMS/CKA_EC_POINT (PKCS#11 v3.0 2.1.2, 2.3.3, 2.3.5).
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
    describe_selector,
    emit_json,
    find,
    json_option,
    library,
    log_in,
    open_session,
    parse_id,
    pin_options,
    pkcs11_failure,
    read_pin,
    require_token,
    select_options,
    slot_option,
)


def _encoded(session: Any, handle: Any, cls: int, pem: bool) -> bytes:
    if cls == PyKCS11.CKO_CERTIFICATE:
        der = session.getAttributeValue(handle, [PyKCS11.CKA_VALUE])[0]
        return keyfiles.encode_certificate(bytes(der), pem)
    key_type = int(session.getAttributeValue(
        handle, [PyKCS11.CKA_KEY_TYPE])[0])
    needed = keyfiles.attrs_needed(key_type)
    values = session.getAttributeValue(handle, needed)
    public = keyfiles.public_from_attrs(
        key_type, dict(zip(needed, values, strict=True)))
    return keyfiles.encode_public(public, pem)


@click.command("export-public")
@slot_option
@select_options
@click.option("--certificate", "want_cert", is_flag=True,
              help="Export the certificate rather than the public key.")
@click.option("--der", is_flag=True, help="DER instead of PEM.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to FILE (required with --der).")
@pin_options("pin")
@json_option
def export_public(slot: int, label: str | None, hex_id: str | None,
                  want_cert: bool, der: bool, output: Path | None,
                  pin_env: str | None, pin_file: Path | None,
                  as_json: bool) -> None:
    """Export the public key (or, with --certificate, the certificate)
    named by --label/--id.  Never reads private or secret keys.

    Public keys and certificates made by keygen and import are public
    objects, so no login is needed; --pin-env/--pin-file log in to
    reach private public-key objects made by other tools.
    """
    oid = parse_id(hex_id)
    if der and output is None:
        raise Failure("--der needs --output FILE (binary on a terminal "
                      "helps nobody)", EXIT_USAGE)
    cls = PyKCS11.CKO_CERTIFICATE if want_cert else PyKCS11.CKO_PUBLIC_KEY
    what = "certificate" if want_cert else "public key"
    with library() as lib:
        require_token(lib, slot)
        session = open_session(lib, slot)
        try:
            if pin_env or pin_file:
                log_in(session, slot, read_pin("pin", pin_env, pin_file))
            found = find(session, slot, (cls,), label, oid)
            if len(found) != 1:
                hint = ("; check with `craton-hsm list-objects --slot "
                        f"{slot}`" if not found else
                        "; add --id to pick one")
                raise Failure(f"{len(found)} {what} objects match "
                              f"{describe_selector(label, oid)} on slot "
                              f"{slot}{hint}")
            handle, _ = found[0]
            try:
                data = _encoded(session, handle, cls, not der)
                obj_id = session.getAttributeValue(handle,
                                                   [PyKCS11.CKA_ID])[0]
            except PyKCS11.PyKCS11Error as e:
                raise pkcs11_failure(e, f"C_GetAttributeValue on slot "
                                        f"{slot}") from None
        finally:
            session.closeSession()
    if output is not None:
        try:
            output.write_bytes(data)
        except OSError as e:
            raise Failure(f"cannot write {output}: {e.strerror}") from None
    doc = {"slot": slot, "object": "CKO_CERTIFICATE" if want_cert
           else "CKO_PUBLIC_KEY", "label": label,
           "id": bytes(obj_id).hex() if obj_id else None,
           "format": "der" if der else "pem",
           "output": None if output is None else str(output),
           "pem": None if der else data.decode("ascii")}
    if as_json:
        emit_json(doc)
    elif output is None:
        click.echo(data.decode("ascii"), nl=False)
    else:
        click.echo(f"slot {slot}: {what} written to {output}")


COMMANDS = (export_public,)
