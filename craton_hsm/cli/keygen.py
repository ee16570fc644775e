"""``keygen``: generate a token key or key pair with secure defaults.

Defaults (docs/cli.md "keygen"): every object is a token object; private
and secret keys are CKA_PRIVATE, CKA_SENSITIVE and not CKA_EXTRACTABLE,
so their values never leave the module (PKCS#11 v3.0 4.9, 4.10); key
pairs get the CKA_ID of keyfiles.key_id (RFC 5280 SKI method 1) unless
--id names one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import PyKCS11

from craton_hsm.cli import keyfiles
from craton_hsm.cli._common import (
    emit_json,
    json_option,
    naming,
    parse_id,
    pin_options,
    pkcs11_failure,
    slot_option,
    user_session,
)
from craton_hsm.cli.keyfiles import Template


@dataclass(frozen=True)
class KeySpec:
    mechanism: int
    public: Template          # empty for secret keys
    private: Template         # the private or secret key's template


def _rsa(bits: int) -> KeySpec:
    return KeySpec(PyKCS11.CKM_RSA_PKCS_KEY_PAIR_GEN,
                   [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA),
                    (PyKCS11.CKA_MODULUS_BITS, bits),
                    (PyKCS11.CKA_PUBLIC_EXPONENT, b"\x01\x00\x01"),
                    (PyKCS11.CKA_VERIFY, True), (PyKCS11.CKA_ENCRYPT, True)],
                   [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA),
                    (PyKCS11.CKA_SIGN, True), (PyKCS11.CKA_DECRYPT, True)])


def _ec(oid: str) -> KeySpec:
    return KeySpec(PyKCS11.CKM_EC_KEY_PAIR_GEN,
                   [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
                    (PyKCS11.CKA_EC_PARAMS, keyfiles.oid_der(oid)),
                    (PyKCS11.CKA_VERIFY, True)],
                   [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC),
                    (PyKCS11.CKA_SIGN, True), (PyKCS11.CKA_DERIVE, True)])


def _edwards(oid: str) -> KeySpec:
    return KeySpec(PyKCS11.CKM_EC_EDWARDS_KEY_PAIR_GEN,
                   [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC_EDWARDS),
                    (PyKCS11.CKA_EC_PARAMS, keyfiles.oid_der(oid)),
                    (PyKCS11.CKA_VERIFY, True)],
                   [(PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_EC_EDWARDS),
                    (PyKCS11.CKA_SIGN, True)])


def _secret(mechanism: int, key_type: int, nbytes: int,
            usage: Template) -> KeySpec:
    return KeySpec(mechanism, [],
                   [(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
                    (PyKCS11.CKA_KEY_TYPE, key_type),
                    (PyKCS11.CKA_VALUE_LEN, nbytes), *usage])


_CIPHER = [(PyKCS11.CKA_ENCRYPT, True), (PyKCS11.CKA_DECRYPT, True),
           (PyKCS11.CKA_WRAP, True), (PyKCS11.CKA_UNWRAP, True)]
_MAC = [(PyKCS11.CKA_SIGN, True), (PyKCS11.CKA_VERIFY, True)]

TYPES: dict[str, KeySpec] = {
    **{f"rsa:{b}": _rsa(b) for b in (2048, 3072, 4096, 8192)},
    **{f"ec:{n}": _ec(oid) for n, (oid, _) in keyfiles.WEIERSTRASS.items()},
    **{n: _edwards(oid) for n, oid in keyfiles.EDWARDS.items()},
    **{f"aes:{b}": _secret(PyKCS11.CKM_AES_KEY_GEN, PyKCS11.CKK_AES, b // 8,
                           _CIPHER) for b in (128, 192, 256)},
    **{f"generic:{b}": _secret(PyKCS11.CKM_GENERIC_SECRET_KEY_GEN,
                               PyKCS11.CKK_GENERIC_SECRET, b // 8, _MAC)
       for b in (128, 256, 512)},
}

# Generations that take seconds (RSA prime search grows ~bits^4).
_SLOW = {"rsa:4096", "rsa:8192"}

# The secure defaults every key gets (on top of the type's usage).
_COMMON = [(PyKCS11.CKA_TOKEN, True)]
_SECRET_DEFAULTS = [(PyKCS11.CKA_PRIVATE, True), (PyKCS11.CKA_SENSITIVE, True),
                    (PyKCS11.CKA_EXTRACTABLE, False)]
_PUBLIC_DEFAULTS = [(PyKCS11.CKA_PRIVATE, False)]


def _generate(session: Any, spec: KeySpec, names: Template) -> list[Any]:
    mech = PyKCS11.Mechanism(spec.mechanism, None)
    private = [*_COMMON, *_SECRET_DEFAULTS, *names, *spec.private]
    if not spec.public:
        return [session.generateKey(private, mech)]
    public = [*_COMMON, *_PUBLIC_DEFAULTS, *names, *spec.public]
    pub, priv = session.generateKeyPair(public, private, mech)
    return [pub, priv]


def _derived_id(session: Any, public: Any) -> bytes:
    key_type = int(session.getAttributeValue(
        public, [PyKCS11.CKA_KEY_TYPE])[0])
    needed = keyfiles.attrs_needed(key_type)
    values = session.getAttributeValue(public, needed)
    return keyfiles.key_id(keyfiles.public_from_attrs(
        key_type, dict(zip(needed, values, strict=True))))


@click.command("keygen")
@slot_option
@click.option("--type", "key_type", required=True,
              type=click.Choice(list(TYPES)),
              help="Key type and size or curve.")
@click.option("--label", help="CKA_LABEL of the new object(s).")
@click.option("--id", "hex_id", metavar="HEX",
              help="CKA_ID (hex).  Key pairs default to the SHA-1 of the "
                   "public key (RFC 5280 SKI method 1).")
@pin_options("pin")
@json_option
def keygen(slot: int, key_type: str, label: str | None, hex_id: str | None,
           pin_env: str | None, pin_file: Path | None,
           as_json: bool) -> None:
    """Generate a key (pair) of --type on the token in SLOT.

    Private and secret keys are token objects, private, sensitive and
    not extractable; public keys are token objects readable without
    login.  Logs in as the user (PIN from --pin-env/--pin-file or a
    prompt).
    """
    spec = TYPES[key_type]
    oid = parse_id(hex_id)
    with user_session(slot, pin_env, pin_file, rw=True) as session:
        try:
            if key_type in _SLOW and not as_json:
                from rich.console import Console
                with Console(stderr=True).status(
                        f"generating {key_type} (this can take a while)"):
                    handles = _generate(session, spec, naming(label, oid))
            else:
                handles = _generate(session, spec, naming(label, oid))
        except PyKCS11.PyKCS11Error as e:
            raise pkcs11_failure(
                e, f"C_Generate{'KeyPair' if spec.public else 'Key'} "
                   f"({key_type}) on slot {slot}") from None
        if oid is None and spec.public:
            oid = _derived_id(session, handles[0])
            try:
                for h in handles:
                    session.setAttributeValue(h, [(PyKCS11.CKA_ID, oid)])
            except PyKCS11.PyKCS11Error as e:
                raise pkcs11_failure(
                    e, f"C_SetAttributeValue(CKA_ID) on slot {slot}") \
                    from None
    doc = {"slot": slot, "type": key_type, "label": label,
           "id": None if oid is None else oid.hex(),
           "objects": ["CKO_PUBLIC_KEY", "CKO_PRIVATE_KEY"] if spec.public
           else ["CKO_SECRET_KEY"]}
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"slot {slot}: generated {key_type}"
                   + (f" '{label}'" if label else "")
                   + (f" id {doc['id']}" if doc["id"] else ""))


COMMANDS = (keygen,)
