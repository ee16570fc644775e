"""Module configuration: one TOML file plus two environment variables.

``CRATON_HSM_CONFIG`` names the TOML file (stdlib ``tomllib``);
``CRATON_HSM_DATA_DIR`` overrides ``[storage] path``.  A system policy
file (``/etc/craton-hsm/policy.toml``, or ``CRATON_HSM_POLICY``) in the
same schema pins keys: its values win over the user config, and each
override is logged (seed 004, issue 5 "System policy file").  Every key, its
default and its range are documented in docs/configuration.md.  The PIN
policy follows seed 004 "Authentication" (PBKDF2-HMAC-SHA256, 600,000
iterations, configurable upward only; PIN length 4-64 bytes).  Errors
name the file, the key and the fix, because an operator reads them.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_POLICY = Path("/etc/craton-hsm/policy.toml")
MIN_PBKDF2_ITERATIONS = 600_000
STORAGE_MODES = ("persistent", "memory")
CRYPTO_PROFILES = ("governance", "leading-edge")
AUDIT_FSYNC = ("always", "state", "never")
AUDIT_ON_BROKEN = ("latch", "warn")
# SP 800-90A Table 2: at most 2^48 requests between reseeds.
MAX_RESEED_INTERVAL = 1 << 48


class ConfigError(ValueError):
    """A configuration problem; the message says where and how to fix."""


@dataclass(frozen=True)
class Config:
    data_dir: Path
    storage_mode: str = "persistent"   # "persistent" | "memory"
    slot_count: int = 4                # slots 0..n-1, each its own token
    pin_min_len: int = 4               # bytes
    pin_max_len: int = 64              # bytes
    max_login_failures: int = 10
    login_backoff_ms: int = 250        # [pin] backoff_ms (core/throttle.py)
    login_backoff_max_ms: int = 30_000  # [pin] backoff_max_ms
    pbkdf2_iterations: int = MIN_PBKDF2_ITERATIONS
    max_sessions: int = 1024           # per process, all slots
    max_objects_per_token: int = 100_000
    busy_timeout_ms: int = 5000
    backup_max_age_days: int = 365     # craton-hsm restore refuses older
    fips_approved_only: bool = False   # [algorithms]
    crypto_profile: str = "governance"  # [crypto] CRYPTO_PROFILES
    drbg_reseed_interval: int = 1 << 20  # [drbg] generate requests
    drbg_prediction_resistance: bool = False
    audit_enabled: bool = True         # [audit]
    audit_path: Path | None = None     # None: <data_dir>/audit
    audit_fsync: str = "state"         # AUDIT_FSYNC
    audit_max_file_bytes: int = 64 << 20   # rotate beyond this
    audit_checkpoint_every: int = 1000     # records between signatures
    audit_on_broken_chain: str = "latch"   # AUDIT_ON_BROKEN
    memory_arena_bytes: int = 4 << 20      # [memory] key-material arena
    source: Path | None = None         # the TOML file read, if any
    policy_source: Path | None = None  # the system policy file in force
    pinned: tuple[str, ...] = ()       # "section.key" the policy pins


@dataclass(frozen=True)
class _Key:
    field: str
    kind: type
    low: int = 0
    high: int = 0
    choices: tuple[str, ...] = ()   # for str keys that are not paths


# (section, key) -> Config field and range.  Ranges for integers are
# inclusive; "path" and "mode" are strings checked separately.
_SCHEMA: dict[str, dict[str, _Key]] = {
    "storage": {
        "mode": _Key("storage_mode", str, choices=STORAGE_MODES),
        "path": _Key("data_dir", str),
        "busy_timeout_ms": _Key("busy_timeout_ms", int, 100, 600_000),
    },
    "slots": {"count": _Key("slot_count", int, 1, 64)},
    "pin": {
        "min_len": _Key("pin_min_len", int, 4, 256),
        "max_len": _Key("pin_max_len", int, 4, 256),
        "max_failures": _Key("max_login_failures", int, 1, 1000),
        "backoff_ms": _Key("login_backoff_ms", int, 0, 60_000),
        "backoff_max_ms": _Key("login_backoff_max_ms", int, 0, 600_000),
        "pbkdf2_iterations": _Key("pbkdf2_iterations", int,
                                  MIN_PBKDF2_ITERATIONS, 100_000_000),
    },
    "backup": {
        "max_age_days": _Key("backup_max_age_days", int, 0, 36_500),
    },
    "algorithms": {
        "fips_approved_only": _Key("fips_approved_only", bool),
    },
    "crypto": {
        "profile": _Key("crypto_profile", str, choices=CRYPTO_PROFILES),
    },
    "drbg": {
        "reseed_interval": _Key("drbg_reseed_interval", int, 1,
                                MAX_RESEED_INTERVAL),
        "prediction_resistance": _Key("drbg_prediction_resistance", bool),
    },
    "audit": {
        "enabled": _Key("audit_enabled", bool),
        "path": _Key("audit_path", str),
        "fsync": _Key("audit_fsync", str, choices=AUDIT_FSYNC),
        "max_file_bytes": _Key("audit_max_file_bytes", int, 64 << 10,
                               1 << 40),
        "checkpoint_every": _Key("audit_checkpoint_every", int, 1,
                                 10_000_000),
        "on_broken_chain": _Key("audit_on_broken_chain", str,
                                choices=AUDIT_ON_BROKEN),
    },
    "memory": {
        "arena_bytes": _Key("memory_arena_bytes", int, 64 << 10, 1 << 30),
    },
    "limits": {
        "max_sessions": _Key("max_sessions", int, 1, 1_000_000),
        "max_objects_per_token": _Key("max_objects_per_token", int, 1,
                                      10_000_000),
    },
}


def load_config(environ: Mapping[str, str] = os.environ) -> Config:
    """Build the Config from the environment, the optional TOML file and
    the system policy file."""
    source: Path | None = None
    values: dict[str, Any] = {}
    name = environ.get("CRATON_HSM_CONFIG")
    if name:
        source = Path(name).expanduser()
        values = _parse(source, _read_toml(source))
    policy_source, pinned = _apply_policy(environ, values)
    override = environ.get("CRATON_HSM_DATA_DIR")
    if override:
        values["data_dir"] = Path(override).expanduser()
    elif "data_dir" not in values:
        values["data_dir"] = _default_data_dir(environ)
    config = Config(source=source, policy_source=policy_source,
                    pinned=pinned, **values)
    _check_pin_range(config)
    if config.storage_mode == "persistent":
        _prepare_data_dir(config.data_dir, source)
    return config


# Issue 5 "Crypto profiles": the audit chain's hash per profile (the
# audit trail implements both; PIN and backup KDFs: password_kdf.py).
AUDIT_CHAIN_HASH = {"governance": "sha256", "leading-edge": "blake3-keyed"}


def audit_chain_hash(config: Config) -> str:
    """The hash new audit records chain with under ``config``'s profile."""
    return AUDIT_CHAIN_HASH[config.crypto_profile]


def schema_keys() -> dict[str, str]:
    """Every ``section.key`` of the schema -> its Config field, in
    schema order (``craton-hsm config check`` shows each one's value)."""
    return {f"{section}.{key}": spec.field
            for section, keys in _SCHEMA.items()
            for key, spec in keys.items()}


def _key_name(field: str) -> str:
    for section, keys in _SCHEMA.items():
        for key, spec in keys.items():
            if spec.field == field:
                return f"{section}.{key}"
    raise KeyError(field)


def _apply_policy(environ: Mapping[str, str],
                  values: dict[str, Any]) -> tuple[Path | None,
                                                   tuple[str, ...]]:
    """Pin the policy file's keys over ``values``; log each override.

    The default path missing means no policy; a path named by
    CRATON_HSM_POLICY must exist (someone asked for it).
    """
    named = environ.get("CRATON_HSM_POLICY")
    path = Path(named).expanduser() if named else DEFAULT_POLICY
    if not named and not path.exists():
        return None, ()
    _check_policy_file(path)
    pins = _parse(path, _read_toml(path))
    for field, value in pins.items():
        if field in values and values[field] != value:
            log.warning("policy pins %s = %r; user config value %r ignored",
                        _key_name(field), value, values[field])
        values[field] = value
    return path, tuple(sorted(_key_name(f) for f in pins))


def _check_policy_file(path: Path) -> None:
    """A policy only binds if the user cannot rewrite it: refuse one
    that is group- or world-writable or owned by anyone but root or the
    running user (for root, that is root alone)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(
            f"policy file {path} (named by CRATON_HSM_POLICY) does not "
            "exist; create it or unset CRATON_HSM_POLICY") from None
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(f"policy file {path} is group- or world-"
                          f"writable; run 'chmod go-w {path}'")
    if st.st_uid not in (0, os.geteuid()):
        raise ConfigError(f"policy file {path} is owned by uid "
                          f"{st.st_uid}; it must be owned by root")


def _where(source: Path | None) -> str:
    return f"config file {source}" if source else "environment"


def _read_toml(path: Path) -> dict[str, Any]:
    # Imported only when a file is named: without one, tomllib (and the
    # datetime it brings) would stay in the process for nothing (issue
    # 9, RSS after C_Initialize).
    import tomllib
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} (named by CRATON_HSM_CONFIG) does not "
            "exist; create it or unset CRATON_HSM_CONFIG") from None
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read "
                          f"({e.strerror}); check its permissions") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") \
            from None


def _parse(source: Path, doc: dict[str, Any]) -> dict[str, Any]:
    """Validate each section and key; return Config keyword arguments."""
    out: dict[str, Any] = {}
    for section, table in doc.items():
        keys = _SCHEMA.get(section)
        if keys is None:
            raise ConfigError(
                f"config file {source}: unknown section [{section}]; "
                f"known sections are {', '.join(sorted(_SCHEMA))}")
        if not isinstance(table, dict):
            raise ConfigError(f"config file {source}: '{section}' must be "
                              f"a table, written [{section}]")
        for key, value in table.items():
            spec = keys.get(key)
            if spec is None:
                raise ConfigError(
                    f"config file {source}: unknown key '{key}' in "
                    f"[{section}]; known keys are {', '.join(sorted(keys))}")
            out[spec.field] = _value(source, f"{section}.{key}", spec, value)
    return out


def _value(source: Path, name: str, spec: _Key, value: Any) -> Any:
    where = f"config file {source}: {name}"
    # bool is an int subclass in Python; "true" is never a valid count
    # and 1 is never a valid switch.
    if not isinstance(value, spec.kind) or \
            (isinstance(value, bool) and spec.kind is not bool):
        kind = {int: "an integer", bool: "true or false"}.get(
            spec.kind, "a string")
        raise ConfigError(f"{where} must be {kind}, got "
                          f"{type(value).__name__}")
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and spec.choices:
        if value not in spec.choices:
            raise ConfigError(f"{where} must be one of "
                              f"{', '.join(spec.choices)}, got {value!r}")
        return value
    if isinstance(value, str):
        if not value:
            raise ConfigError(f"{where} must not be empty")
        path = Path(value).expanduser()
        # A relative path is relative to the file, not to whatever
        # directory the host application happens to run in.
        return path if path.is_absolute() else source.parent / path
    assert isinstance(value, int)
    if not spec.low <= value <= spec.high:
        raise ConfigError(f"{where} = {value} is out of range; use a value "
                          f"from {spec.low} to {spec.high}")
    return value


def _check_pin_range(config: Config) -> None:
    if config.pin_min_len > config.pin_max_len:
        raise ConfigError(
            f"{_where(config.source)}: pin.min_len "
            f"({config.pin_min_len}) is greater than pin.max_len "
            f"({config.pin_max_len}); raise pin.max_len or lower "
            "pin.min_len")


def _default_data_dir(environ: Mapping[str, str]) -> Path:
    xdg = environ.get("XDG_DATA_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "craton-hsm"
    home = environ.get("HOME")
    base = Path(home) if home else Path.home()
    return base / ".local" / "share" / "craton-hsm"


def _prepare_data_dir(path: Path, source: Path | None) -> None:
    """Create the data dir 0700, or refuse one that others may write."""
    where = _where(source)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.stat()
    except OSError as e:
        raise ConfigError(
            f"{where}: data directory {path} cannot be created "
            f"({e.strerror}); set storage.path or CRATON_HSM_DATA_DIR to "
            "a writable directory") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{where}: data directory {path} is not a "
                          "directory; point storage.path elsewhere")
    # Another user who can write here could swap the token files.
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"{where}: data directory {path} is group- or world-writable; "
            f"run 'chmod go-w {path}' (0700 recommended)")
