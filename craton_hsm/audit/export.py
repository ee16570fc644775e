"""Export of an audit directory's records (docs/audit.md "Export").

``ndjson`` is the chain as stored (every file, in order): verifiable.
``json`` is one array of the records.  ``syslog`` is one RFC 5424
message per record for a collector: facility 13 ("log audit", RFC 5424
section 6.2.1), severity informational for CKR_OK, warning for a refusal,
critical for a broken chain; the record itself is the MSG, and its seq
and hash are also structured data.  The SD-ID uses enterprise number
32473, the one RFC 5612 reserves for documentation examples: Craton HSM
has no number of its own.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from craton_hsm.audit import files

FORMATS = ("json", "ndjson", "syslog")
_FACILITY = 13
_SD_ID = "craton-audit@32473"


def lines(directory: Path) -> Iterator[bytes]:
    for path in files.chain_files(directory):
        with path.open("rb") as f:
            yield from f


def render(directory: Path, fmt: str) -> Iterator[str]:
    """The export as text chunks (each ends with a newline)."""
    if fmt == "ndjson":
        for line in lines(directory):
            yield line.decode("utf-8")
    elif fmt == "json":
        records = [files.parse(line) for line in lines(directory)]
        yield json.dumps(records, indent=1, sort_keys=True) + "\n"
    elif fmt == "syslog":
        host = socket.gethostname() or "-"
        for line in lines(directory):
            yield syslog_line(files.parse(line), host) + "\n"
    else:
        raise ValueError(f"unknown format {fmt!r}")


def _severity(record: dict[str, Any]) -> int:
    if record.get("event") == "chain-broken":
        return 2
    rv = record.get("rv")
    return 4 if rv is not None and rv != "CKR_OK" else 6


def _sd_value(value: object) -> str:
    # RFC 5424 6.3.3: '"', '\' and ']' are escaped in PARAM-VALUE.
    text = str(value)
    for ch in ("\\", '"', "]"):
        text = text.replace(ch, "\\" + ch)
    return text


def syslog_line(record: dict[str, Any], host: str) -> str:
    pri = _FACILITY * 8 + _severity(record)
    msgid = str(record.get("event", "-"))[:32] or "-"
    sd = (f'[{_SD_ID} seq="{_sd_value(record.get("seq"))}" '
          f'hash="{_sd_value(record.get("hash"))}"]')
    body = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return (f"<{pri}>1 {record.get('time', '-')} {host} craton-hsm "
            f"{record.get('pid', '-')} {msgid} {sd} {body}")
