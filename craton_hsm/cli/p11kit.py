"""``p11-kit install``: register the module with p11-kit.

p11-kit (pkcs11.conf(5)) loads every module named by a ``<name>.module``
file in its module directories; p11-kit-proxy.so, ``p11tool`` without
``--provider``, GnuTLS and NSS's p11-kit bridge then see our tokens.
The file only names the library: the module still reads
CRATON_HSM_CONFIG / CRATON_HSM_DATA_DIR from the process that loads it.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from craton_hsm.cli._common import Failure, emit_json, json_option, module_path

NAME = "craton-hsm"
# pkcs11.conf(5): the administrator's directory (the packagers' one is
# /usr/share/p11-kit/modules) and the per-user one, which p11-kit finds
# through $HOME, never $XDG_CONFIG_HOME.
SYSTEM_DIR = Path("/etc/pkcs11/modules")
USER_SUBDIR = Path(".config/pkcs11/modules")


def user_dir() -> Path:
    home = os.environ.get("HOME")
    if not home:
        raise Failure("HOME is not set; p11-kit finds user modules in "
                      f"$HOME/{USER_SUBDIR}")
    return Path(home) / USER_SUBDIR


def module_file(library: Path) -> str:
    """The .module text: the absolute library path, and `critical: no`
    so a failure of this module never takes p11-kit's others down."""
    return (f"# Craton HSM, written by `craton-hsm p11-kit install`"
            f" (pkcs11.conf(5)).\n"
            f"module: {library}\n"
            f"critical: no\n")


def _write(path: Path, text: str) -> bool:
    """Write atomically; False when the file already says exactly this."""
    if path.is_file() and path.read_text() == text:
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)
        tmp.replace(path)
    except OSError as e:
        raise Failure(f"cannot write {path}: {e.strerror}") from None
    return True


@click.group("p11-kit")
def p11kit_group() -> None:
    """Register the module with p11-kit (pkcs11.conf(5))."""


@p11kit_group.command("install")
@click.option("--user", "scope", flag_value="user", default=True,
              help="$HOME/.config/pkcs11/modules (default).")
@click.option("--system", "scope", flag_value="system",
              help=f"{SYSTEM_DIR} (needs root).")
@click.option("--dir", "directory", type=click.Path(file_okay=False,
                                                    path_type=Path),
              help="Write into DIRECTORY instead (e.g. a package root).")
@click.option("--dry-run", is_flag=True,
              help="Print what would be written; write nothing.")
@json_option
def install_cmd(scope: str, directory: Path | None, dry_run: bool,
                as_json: bool) -> None:
    """Write craton-hsm.module so p11-kit loads this module.

    The file names the module `module-path` finds, by absolute path.
    Writing the same content again changes nothing.  p11-kit ignores
    user configuration in processes running as root: use --system there.
    """
    library = module_path()
    if directory is not None:
        scope, target_dir = "dir", directory
    elif scope == "system":
        target_dir = SYSTEM_DIR
    else:
        target_dir = user_dir()
    path = target_dir.resolve() / f"{NAME}.module"
    text = module_file(library)
    warning = None
    if scope == "user" and os.geteuid() == 0:
        warning = ("p11-kit does not read user configuration for root; "
                   "root's p11-kit clients will not see this module "
                   "(use --system)")
    changed = False if dry_run else _write(path, text)
    if as_json:
        emit_json({"path": str(path), "module": str(library),
                   "scope": scope, "dry_run": dry_run, "changed": changed,
                   "content": text, "warning": warning})
        return
    if warning:
        click.echo(f"warning: {warning}", err=True)
    if dry_run:
        click.echo(f"would write {path}:")
        click.echo(text, nl=False)
    elif changed:
        click.echo(f"wrote {path}")
    else:
        click.echo(f"{path} is already up to date")


COMMANDS = (p11kit_group,)
