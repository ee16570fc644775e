"""``audit verify|export|pubkey``: the audit trail, offline.

These read the log files directly (no PKCS#11 call can return them) and
work on any machine with this package: copy the audit directory and the
public key obtained earlier, then verify (docs/audit.md "Air-gapped
verification").  Exit codes are the CLI's (docs/cli.md): 0 ok, 1 the
chain is broken or tampered with, 2 usage (no such directory,
unreadable key, bad option).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from craton_hsm import audit
from craton_hsm.audit import export as audit_export
from craton_hsm.audit import keys as audit_keys
from craton_hsm.audit import verify as audit_verify
from craton_hsm.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    Failure,
    config,
    emit_json,
    json_option,
)

EXIT_TAMPERED = EXIT_FAILURE


@click.group(name="audit")
def group() -> None:
    """Verify and export the tamper-evident audit trail."""


def _directory(path: Path | None) -> Path:
    if path is None:
        where = audit.directory(config())
        if where is None:
            raise Failure("auditing is off in this configuration; give "
                          "--path", EXIT_USAGE)
        path = where
    if not path.is_dir():
        raise Failure(f"--path {path}: not a directory", EXIT_USAGE)
    return path


_PATH = click.option("--path", type=click.Path(path_type=Path),
                     help="Audit directory (default: the configured one).")


@group.command("verify")
@_PATH
@click.option("--pubkey", type=click.Path(path_type=Path),
              help="Audit public key (PEM) obtained earlier; without it "
                   "the directory's own key is trusted.")
@click.option("--chain-key", type=click.Path(path_type=Path),
              help="BLAKE3 chain key file (keyed chains only; default: "
                   "the directory's).")
@json_option
def verify(path: Path | None, pubkey: Path | None, chain_key: Path | None,
           as_json: bool) -> int:
    """Check every record, link and checkpoint signature; name the first
    bad record."""
    directory = _directory(path)
    try:
        public, key = audit_verify.load_keys(directory, pubkey, chain_key)
    except (OSError, ValueError) as e:
        raise Failure(f"audit key: {e}", EXIT_USAGE) from None
    report = audit_verify.verify_dir(directory, public, key)
    result = report.as_dict()
    result["pubkey"] = str(pubkey) if pubkey else "directory (not pinned)"
    if as_json:
        emit_json(result)
    elif report.first_bad is None:
        click.echo(f"ok: {report.records} records, {report.checkpoints} "
                   f"checkpoints, last seq {report.last_seq}, "
                   f"{report.unsigned_tail} after the last checkpoint "
                   f"({report.algorithm}, key {report.key_id}, "
                   f"{result['pubkey']})")
    else:
        bad = report.first_bad
        click.echo(f"TAMPERED: {bad.file} line {bad.line} seq {bad.seq}: "
                   f"{bad.reason}")
    return EXIT_OK if report.ok else EXIT_TAMPERED


@group.command("export")
@_PATH
@click.option("--format", "fmt", type=click.Choice(audit_export.FORMATS),
              default="ndjson", show_default=True)
@click.option("--output", type=click.Path(path_type=Path),
              help="Write here instead of stdout.")
@json_option
def export(path: Path | None, fmt: str, output: Path | None,
           as_json: bool) -> int:
    """Write the records as JSON, NDJSON (as stored) or RFC 5424.

    With --json (which needs --output: the records themselves are the
    output otherwise) a summary of what was written goes to stdout.
    """
    if as_json and output is None:
        raise Failure("--json needs --output FILE (without it the "
                      "records are written to stdout)", EXIT_USAGE)
    directory = _directory(path)
    chunks = audit_export.render(directory, fmt)
    try:
        if output is None:
            for chunk in chunks:
                sys.stdout.write(chunk)
        else:
            with output.open("w", encoding="utf-8") as f:
                f.writelines(chunks)
    except ValueError as e:
        raise Failure(f"export: a record is not JSON ({e}); run "
                      "`craton-hsm audit verify`", EXIT_TAMPERED) from None
    if as_json:
        emit_json({"directory": str(directory), "format": fmt,
                   "output": str(output), "bytes": output.stat().st_size
                   if output else None})
    return EXIT_OK


@group.command("pubkey")
@_PATH
@json_option
def pubkey(path: Path | None, as_json: bool) -> int:
    """Print the audit public key (PEM) to keep for later verification."""
    directory = _directory(path)
    try:
        text = (directory / audit_keys.PUBKEY).read_text()
    except OSError as e:
        raise Failure(f"audit public key: {e.strerror}", EXIT_USAGE) \
            from None
    if as_json:
        emit_json({"directory": str(directory), "pem": text})
    else:
        click.echo(text, nl=False)
    return EXIT_OK


COMMANDS = (group,)
