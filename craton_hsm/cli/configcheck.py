"""``config check``: validate a config file and show the effective
settings, each with where its value comes from.

Runs craton_hsm.config.load_config -- the code the module runs at
C_Initialize -- so a file this command accepts is a file the module
accepts.  Its errors name the file, the key and the fix; this command
adds the line: tomllib reports it for syntax errors ("at line N"), and
for a schema error the key's line is found by scanning the file's
``[section]`` headers and ``key =`` lines.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import click

from craton_hsm import config as cfgmod
from craton_hsm.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    console,
    emit_json,
    json_option,
)

_SECTION = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")
_FILE = re.compile(r"(?:config|policy) file (.+?)(?::| is | does | cannot |"
                   r" \(named)")
# The shapes of config.py's schema messages, most specific first.
_KEY_PATTERNS = (
    re.compile(r"unknown key '(?P<key>[^']+)' in \[(?P<section>[^\]]+)\]"),
    re.compile(r"unknown section \[(?P<section>[^\]]+)\]"),
    re.compile(r"'(?P<section>[a-z_]+)' must be a table"),
    re.compile(r"(?P<section>[a-z_]+)\.(?P<key>[a-z_]+)\b"),
)
_SYNTAX_LINE = re.compile(r"at line (\d+), column (\d+)")


def find_line(path: Path, section: str, key: str | None) -> int | None:
    """1-based line of ``key =`` inside ``[section]`` (or of the header
    when ``key`` is None); None when not written that simply."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    current = ""
    for number, text in enumerate(lines, 1):
        header = _SECTION.match(text)
        if header:
            current = header.group(1)
            if key is None and current == section:
                return number
            continue
        assign = _ASSIGN.match(text)
        if assign and current == section and assign.group(1) == key:
            return number
    return None


def locate(message: str, default: Path | None) -> dict[str, Any]:
    """File, key and line an error message is about."""
    named = _FILE.search(message)
    path = Path(named.group(1)) if named else default
    where: dict[str, Any] = {"file": str(path) if path else None,
                             "key": None, "line": None, "column": None}
    syntax = _SYNTAX_LINE.search(message)
    if syntax:
        where["line"], where["column"] = int(syntax[1]), int(syntax[2])
        return where
    # After "config file NAME:", so the file name is not read as a key.
    detail = message[named.end():] if named else message
    for pattern in _KEY_PATTERNS:
        m = pattern.search(detail)
        if m:
            groups = m.groupdict()
            section, key = groups["section"], groups.get("key")
            where["key"] = f"{section}.{key}" if key else f"[{section}]"
            if path is not None:
                where["line"] = find_line(path, section, key)
            break
    return where


def _user_keys(path: Path | None) -> set[str]:
    if path is None:
        return set()
    with path.open("rb") as f:
        doc = tomllib.load(f)
    return {f"{s}.{k}" for s, table in doc.items() if isinstance(table, dict)
            for k in table}


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def settings(cfg: cfgmod.Config, environ: dict[str, str]) -> list[dict[str, Any]]:
    written = _user_keys(cfg.source)
    rows = []
    for key, field in cfgmod.schema_keys().items():
        if key in cfg.pinned:
            source = "policy"
        elif key == "storage.path" and environ.get("CRATON_HSM_DATA_DIR"):
            source = "environment"
        elif key in written:
            source = "config"
        else:
            source = "default"
        rows.append({"key": key, "value": _plain(getattr(cfg, field)),
                     "source": source})
    return rows


@click.group("config")
def group() -> None:
    """Check the configuration the module will use."""


@group.command("check")
@click.option("--config", "path", type=click.Path(path_type=Path),
              help="Config file to check (default: $CRATON_HSM_CONFIG).")
@json_option
def check(path: Path | None, as_json: bool) -> int:
    """Validate the config file and show every effective setting.

    Each setting's source is `default`, `config` (the file), `policy`
    (pinned by the system policy file, which wins) or `environment`
    (CRATON_HSM_DATA_DIR).  On an error, names the file, key, line and
    fix, and exits 1.  Creates the data directory (mode 0700) if it is
    missing, as the module would.
    """
    environ = dict(os.environ)
    if path is not None:
        environ["CRATON_HSM_CONFIG"] = str(path)
    named = environ.get("CRATON_HSM_CONFIG")
    try:
        cfg = cfgmod.load_config(environ)
    except cfgmod.ConfigError as e:
        where = locate(str(e), Path(named) if named else None)
        # The CLI's error object (message, exit_code, ckr) plus where.
        failed: dict[str, Any] = {"ok": False, "config": named, "error": {
            "message": str(e), "exit_code": EXIT_FAILURE, "ckr": None,
            **where}, "settings": None}
        if as_json:
            emit_json(failed)
        at = f" (line {where['line']})" if where["line"] and \
            where["column"] is None else ""
        click.echo(f"error: {e}{at}", err=True)
        return EXIT_FAILURE
    rows = settings(cfg, environ)
    doc: dict[str, Any] = {"ok": True, "config": str(cfg.source) if cfg.source else None,
           "policy": str(cfg.policy_source) if cfg.policy_source else None,
           "pinned": list(cfg.pinned), "error": None, "settings": rows}
    if as_json:
        emit_json(doc)
        return EXIT_OK
    from rich.table import Table
    title = f"config {doc['config'] or '(none: defaults)'}: ok"
    if doc["policy"]:
        title += f"; policy {doc['policy']} pins {len(cfg.pinned)} key(s)"
    table = Table(title=title)
    for col in ("Key", "Value", "Source"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["key"], repr(row["value"]) if isinstance(
            row["value"], str) else str(row["value"]), row["source"])
    console().print(table)
    return EXIT_OK


COMMANDS = (group,)
