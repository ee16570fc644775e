"""The SQLite token-file schema (format version 1).

``PRAGMA application_id`` marks the file as a Craton HSM token, so a
foreign database is refused instead of being written into;
``PRAGMA user_version`` is the schema version.  The ``generation`` row
is bumped by every write transaction, letting other processes notice a
change with one cheap read.
"""

from __future__ import annotations

APPLICATION_ID = 0x4352544E          # "CRTN"
SCHEMA_VERSION = 1

_PIN = ("{p}_kdf TEXT, {p}_iterations INTEGER, {p}_salt BLOB, "
        "{p}_verifier BLOB")

SCHEMA = (
    "CREATE TABLE token ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " serial TEXT NOT NULL, label BLOB NOT NULL, "
    + _PIN.format(p="so_pin") + ", " + _PIN.format(p="user_pin") + ","
    " mk_wrapped_so BLOB, mk_wrapped_user BLOB,"
    " so_failures INTEGER NOT NULL DEFAULT 0,"
    " user_failures INTEGER NOT NULL DEFAULT 0,"
    " created_at TEXT NOT NULL DEFAULT '')",
    ("CREATE TABLE objects ("
    " uid TEXT PRIMARY KEY, attrs BLOB NOT NULL, secret BLOB)"),
    ("CREATE TABLE generation ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL)"),
    "INSERT INTO generation (id, value) VALUES (1, 0)",
)
