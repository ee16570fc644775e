"""``list-slots`` and ``status``: what C_GetSlotList/C_GetTokenInfo say."""

from __future__ import annotations

from typing import Any

import click
import PyKCS11

from craton_hsm.cli._common import (
    check_slot,
    config,
    console,
    emit_json,
    json_option,
    library,
    module_path,
    open_session,
    pkcs11_failure,
    slot_ids,
    stored_objects,
    text,
    token_facts,
)


def _slot_info(lib: PyKCS11.PyKCS11Lib, slot: int) -> dict[str, Any]:
    try:
        info = lib.getSlotInfo(slot)
    except PyKCS11.PyKCS11Error as e:
        raise pkcs11_failure(e, f"C_GetSlotInfo on slot {slot}") from None
    return {
        "description": text(info.slotDescription),
        "token_present": bool(int(info.flags) & PyKCS11.CKF_TOKEN_PRESENT),
    }


@click.command("list-slots")
@json_option
def list_slots(as_json: bool) -> None:
    """List every slot and the token in it.

    An initialised token shows its label and 16-character serial; the
    module always keeps one uninitialised slot free for `init-token`.
    """
    with library() as lib:
        rows = []
        for slot in slot_ids(lib):
            facts = token_facts(lib, slot)
            rows.append({
                "slot": slot,
                **_slot_info(lib, slot),
                "initialized": facts["initialized"],
                "label": facts["label"],
                "serial": facts["serial"],
            })
    if as_json:
        emit_json({"slots": rows})
        return
    from rich.table import Table
    table = Table(title="Craton HSM slots")
    for col in ("Slot", "Initialised", "Label", "Serial", "Description"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["slot"]), "yes" if r["initialized"] else "no",
                      r["label"] or "-", r["serial"] or "-",
                      r["description"])
    console().print(table)


def _public_objects(lib: PyKCS11.PyKCS11Lib, slot: int) -> int:
    """Objects a not-logged-in application can see (public objects)."""
    session = open_session(lib, slot)
    try:
        return len(stored_objects(session, slot))
    finally:
        session.closeSession()


def _library_info(lib: PyKCS11.PyKCS11Lib) -> dict[str, Any]:
    try:
        info = lib.getInfo()
    except PyKCS11.PyKCS11Error as e:
        raise pkcs11_failure(e, "C_GetInfo") from None
    return {
        "manufacturer": text(info.manufacturerID),
        "description": text(info.libraryDescription),
        "cryptoki_version": "{}.{}".format(*info.cryptokiVersion),
        "library_version": "{}.{}".format(*info.libraryVersion),
    }


_FLAG_WORDS = (
    ("user_pin_initialized", "user PIN set"),
    ("user_pin_locked", "USER PIN LOCKED"),
    ("user_pin_final_try", "user PIN final try"),
    ("user_pin_count_low", "user PIN count low"),
    ("so_pin_locked", "SO PIN LOCKED"),
    ("so_pin_final_try", "SO PIN final try"),
    ("so_pin_count_low", "SO PIN count low"),
    ("write_protected", "write-protected"),
)


@click.command("status")
@click.option("--slot", type=int, default=None,
              help="Show only this slot (default: every slot).")
@click.option("--security-posture", "posture", is_flag=True,
              help="Report crypto profile, approved-only mode, self-test "
              "state, mlock availability and the policy file instead.")
@json_option
def status(slot: int | None, posture: bool, as_json: bool) -> None:
    """Show the module, its configuration and every token's state.

    Per slot: initialised, label, serial, PIN flags (user PIN
    initialised / locked / count low / final try, the same for the SO),
    and the number of public objects (what an application sees before
    logging in; use `list-objects --login` for private ones).
    """
    cfg = config()
    if posture:
        _security_posture(cfg, as_json)
        return
    with library() as lib:
        if slot is not None:
            check_slot(lib, slot)
        ids = [slot] if slot is not None else slot_ids(lib)
        slots = []
        for s in ids:
            facts = token_facts(lib, s)
            facts["public_objects"] = (
                _public_objects(lib, s) if facts["initialized"] else None)
            slots.append(facts)
        doc: dict[str, Any] = {
            "module": str(module_path()),
            "library": _library_info(lib),
            "config_source": str(cfg.source) if cfg.source else None,
            "data_dir": str(cfg.data_dir),
            "storage_mode": cfg.storage_mode,
            "slots": slots,
        }
    if as_json:
        emit_json(doc)
        return
    out = console()
    lib_info = doc["library"]
    out.print(f"[bold]Module[/bold]      {doc['module']}")
    out.print(f"[bold]Library[/bold]     {lib_info['manufacturer']} "
              f"{lib_info['library_version']} (Cryptoki "
              f"{lib_info['cryptoki_version']})", highlight=False)
    out.print(f"[bold]Config[/bold]      "
              f"{doc['config_source'] or '(defaults; CRATON_HSM_CONFIG unset)'}")
    out.print(f"[bold]Data dir[/bold]    {doc['data_dir']} "
              f"({doc['storage_mode']})")
    from rich.table import Table
    table = Table(title="Tokens")
    for col in ("Slot", "Init", "Label"):
        table.add_column(col)
    table.add_column("Serial", no_wrap=True)
    table.add_column("Flags")
    table.add_column("Public objs")
    for f in slots:
        words = [w for k, w in _FLAG_WORDS if f["flags"][k]]
        if f["initialized"] and not f["flags"]["user_pin_initialized"]:
            words.insert(0, "user PIN not set")
        table.add_row(
            str(f["slot"]), "yes" if f["initialized"] else "no",
            f["label"] or "-", f["serial"] or "-", ", ".join(words) or "-",
            "-" if f["public_objects"] is None
            else str(f["public_objects"]))
    out.print(table)


COMMANDS = (list_slots, status)


def _security_posture(cfg: Any, as_json: bool) -> None:
    from craton_hsm.cli.posture import posture
    doc = posture(cfg)
    if as_json:
        emit_json(doc)
        return
    out = console()
    lock = doc["mlock"]
    tests = doc["self_tests"]
    rows = [
        ("Crypto profile", doc["crypto_profile"]),
        ("Approved-only", "on" if doc["fips_approved_only"] else "off"),
        ("Self-tests", f"{tests['state']} ({tests['detail']})"),
        ("mlock", "available" if lock["available"] else
         f"unavailable ({lock['error']})"),
        ("Policy file", doc["policy_file"] or "(none)"),
        ("Pinned keys", ", ".join(doc["pinned"]) or "(none)"),
    ]
    for label, value in rows:
        out.print(f"[bold]{label:<15}[/bold] {value}", highlight=False)
