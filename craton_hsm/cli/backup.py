"""``backup`` and ``restore``: encrypted archives of a slot's token file.

Unlike the other commands these do not go through the PKCS#11 module:
an archive must carry the token exactly as stored (sealed secrets,
wrapped master keys, PIN records), which no PKCS#11 call can export.
They call ``craton_hsm.backup`` (the one import of HSM internals the
CLI's import-linter contract permits, see pyproject.toml) and read the
data dir from the same configuration the module reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from craton_hsm.backup.archive import create_backup, restore_backup
from craton_hsm.backup.container import ArchiveError, Header
from craton_hsm.cli._common import (
    Failure,
    config,
    emit_json,
    json_option,
    pin_options,
    pkcs11_failure,
    read_pin,
)
from craton_hsm.config import Config
from craton_hsm.errors import CKRError

MIN_PASSPHRASE = 8
Progress = Callable[[str, int, int], None]
_PHASES = {"snapshot": "snapshot pages", "encrypt": "encrypt bytes",
           "decrypt": "decrypt bytes", "write": "write pages"}


def _persistent_config(slot: int | None) -> Config:
    cfg = config()
    if cfg.storage_mode != "persistent":
        raise Failure("[storage] mode is 'memory': there are no token "
                      "files to back up or restore")
    if slot is not None and not 0 <= slot < cfg.slot_count:
        raise Failure(f"no slot {slot}; slots are 0-{cfg.slot_count - 1}")
    return cfg


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    """A rich progress bar on stderr, one task per phase."""
    if not enabled:
        yield None
        return
    from rich import progress as rp
    from rich.console import Console
    bar = rp.Progress(rp.TextColumn("{task.description:>15}"),
                      rp.BarColumn(), rp.TaskProgressColumn(),
                      console=Console(stderr=True))
    tasks: dict[str, rp.TaskID] = {}

    def update(phase: str, done: int, total: int) -> None:
        if not tasks:
            bar.start()             # lazily: a refusal prints no bar
        if phase not in tasks:
            tasks[phase] = bar.add_task(_PHASES.get(phase, phase),
                                        total=total)
        bar.update(tasks[phase], completed=done, total=total)
    try:
        yield update
    finally:
        if tasks:
            bar.stop()


@contextmanager
def _failures(doing: str) -> Iterator[None]:
    try:
        yield
    except ArchiveError as e:
        raise Failure(f"{doing}: {e}") from None
    except CKRError as e:
        base = pkcs11_failure(e, doing)
        raise Failure(f"{base} ({e})", ckr=base.ckr) from None
    except OSError as e:
        raise Failure(f"{doing}: {e.filename}: {e.strerror}") from None


def _doc(h: Header, archive: Path) -> dict[str, Any]:
    return {"archive": str(archive), "slot": h.slot,
            "serial": h.token_serial, "label": h.token_label,
            "token_created_at": h.token_created_at,
            "created_at": h.created_at, "objects": h.objects,
            "bytes": h.plaintext_bytes, "format": h.format,
            "kdf": {"name": h.kdf, "iterations": h.iterations},
            "cipher": h.cipher}


@click.command("backup")
@click.option("--slot", type=int, required=True, help="Slot to back up.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Archive file to write (mode 0600).")
@pin_options("passphrase")
@click.option("--force", is_flag=True, help="Replace an existing OUTPUT.")
@json_option
def backup(slot: int, output: Path, passphrase_env: str | None,
           passphrase_file: Path | None, force: bool,
           as_json: bool) -> None:
    """Write an encrypted, authenticated archive of the token in SLOT.

    The copy is online and consistent: applications may keep using the
    token.  The archive is sealed with AES-256-GCM under a key derived
    from a passphrase by the [crypto] profile's KDF (governance:
    PBKDF2-HMAC-SHA256, 600,000 iterations; leading-edge: Argon2id,
    19 MiB, t=2); the passphrase is prompted for twice without echo unless
    --passphrase-env VAR or --passphrase-file FILE says where to read
    it.  It must be at least 8 characters.
    """
    cfg = _persistent_config(slot)
    secret = read_pin("passphrase", passphrase_env, passphrase_file,
                      confirm=True).encode("utf-8")
    if len(secret) < MIN_PASSPHRASE:
        raise Failure(f"the passphrase must be at least {MIN_PASSPHRASE} "
                      "bytes")
    with _failures(f"backup of slot {slot}"), \
            _progress(not as_json) as progress:
        header = create_backup(cfg.data_dir, slot, output, secret,
                               overwrite=force, progress=progress,
                               profile=cfg.crypto_profile)
    doc = _doc(header, output)
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"slot {slot}: token '{doc['label']}' (serial "
                   f"{doc['serial']}, {doc['objects']} objects) backed up "
                   f"to {output}")


@click.command("restore")
@click.option("--input", "archive", required=True, type=click.Path(
    dir_okay=False, path_type=Path), help="Archive file to restore.")
@click.option("--slot", type=int, default=None,
              help="Slot to restore into (default: the archived slot).")
@pin_options("passphrase")
@click.option("--max-age-days", type=click.IntRange(0, 36_500),
              default=None, help="Refuse archives older than this many "
              "days (default: [backup] max_age_days, 365).")
@click.option("--force", is_flag=True,
              help="Replace an initialised token in the target slot.")
@json_option
def restore(archive: Path, slot: int | None, passphrase_env: str | None,
            passphrase_file: Path | None, max_age_days: int | None,
            force: bool, as_json: bool) -> None:
    """Restore a token from an archive made by `craton-hsm backup`.

    The whole archive is authenticated before anything is written: a
    wrong passphrase, any modified byte, a truncated file, or an archive
    older than --max-age-days is refused with exit code 1.  An
    initialised token in the target slot is replaced only with --force.
    Restored keys keep their handles' attributes, PINs and serial, so
    they work exactly as before.
    """
    cfg = _persistent_config(slot)
    limit = cfg.backup_max_age_days if max_age_days is None else max_age_days
    secret = read_pin("passphrase", passphrase_env,
                      passphrase_file).encode("utf-8")
    with _failures(f"restore of {archive}"), \
            _progress(not as_json) as progress:
        done = restore_backup(archive, cfg.data_dir, secret,
                              max_age_days=limit, slot=slot, force=force,
                              slot_count=cfg.slot_count,
                              progress=progress)
    doc = _doc(done.header, archive) | {"slot": done.slot,
                                         "path": str(done.path)}
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"slot {done.slot}: token '{doc['label']}' (serial "
                   f"{doc['serial']}, {doc['objects']} objects) restored "
                   f"from {archive}")


COMMANDS = (backup, restore)
