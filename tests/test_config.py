"""Configuration: environment selection, overrides and every error."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from craton_hsm.config import Config, ConfigError, load_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "craton.toml"
    path.write_text(text)
    return path


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), **extra}


def test_defaults_use_home(tmp_path: Path) -> None:
    config = load_config(_env(tmp_path))
    expected = tmp_path / "home" / ".local" / "share" / "craton-hsm"
    assert config == Config(data_dir=expected)
    assert config.storage_mode == "persistent"
    assert config.pbkdf2_iterations == 600_000
    assert (config.slot_count, config.pin_min_len, config.pin_max_len) == \
        (4, 4, 64)
    assert stat.S_IMODE(expected.stat().st_mode) == 0o700


def test_xdg_data_home(tmp_path: Path) -> None:
    config = load_config(_env(tmp_path, XDG_DATA_HOME=str(tmp_path / "x")))
    assert config.data_dir == tmp_path / "x" / "craton-hsm"


def test_relative_xdg_is_ignored(tmp_path: Path) -> None:
    # The XDG spec says relative paths are invalid and must be ignored.
    config = load_config(_env(tmp_path, XDG_DATA_HOME="rel"))
    assert config.data_dir.parts[-3:] == (".local", "share", "craton-hsm")


def test_file_sets_every_key(tmp_path: Path) -> None:
    path = _write(tmp_path, f"""
[storage]
mode = "persistent"
path = "{tmp_path / 'data'}"
busy_timeout_ms = 250
[slots]
count = 2
[pin]
min_len = 8
max_len = 128
max_failures = 5
pbkdf2_iterations = 1_000_000
[limits]
max_sessions = 16
max_objects_per_token = 99
""")
    config = load_config(_env(tmp_path, CRATON_HSM_CONFIG=str(path)))
    assert config == Config(
        data_dir=tmp_path / "data", storage_mode="persistent",
        slot_count=2, pin_min_len=8, pin_max_len=128, max_login_failures=5,
        pbkdf2_iterations=1_000_000, max_sessions=16,
        max_objects_per_token=99, busy_timeout_ms=250, source=path)


def test_env_data_dir_overrides_file(tmp_path: Path) -> None:
    path = _write(tmp_path, f'[storage]\npath = "{tmp_path / "a"}"\n')
    config = load_config(_env(tmp_path, CRATON_HSM_CONFIG=str(path),
                              CRATON_HSM_DATA_DIR=str(tmp_path / "b")))
    assert config.data_dir == tmp_path / "b"
    assert not (tmp_path / "a").exists()


def test_relative_path_is_relative_to_file(tmp_path: Path) -> None:
    path = _write(tmp_path, '[storage]\npath = "tokens"\n')
    config = load_config(_env(tmp_path, CRATON_HSM_CONFIG=str(path)))
    assert config.data_dir == tmp_path / "tokens"


def test_memory_mode_creates_no_directory(tmp_path: Path) -> None:
    path = _write(tmp_path, '[storage]\nmode = "memory"\n')
    config = load_config(_env(tmp_path, CRATON_HSM_CONFIG=str(path)))
    assert config.storage_mode == "memory"
    assert not config.data_dir.exists()


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_config(_env(tmp_path, CRATON_HSM_CONFIG=str(missing)))
    assert str(missing) in str(info.value)


def test_invalid_toml(tmp_path: Path) -> None:
    path = _write(tmp_path, "[storage\nmode=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_env(tmp_path, CRATON_HSM_CONFIG=str(path)))


@pytest.mark.parametrize(("text", "needle"), [
    ("[bogus]\nx = 1\n", "unknown section \\[bogus\\]"),
    ("[pin]\nlength = 4\n", "unknown key 'length' in \\[pin\\]"),
    ("storage = 3\n", "'storage' must be a table"),
    ('[slots]\ncount = "4"\n', "slots.count must be an integer"),
    ("[slots]\ncount = true\n", "slots.count must be an integer"),
    ("[slots]\ncount = 0\n", "slots.count = 0 is out of range"),
    ("[storage]\nmode = 1\n", "storage.mode must be a string"),
    ('[storage]\nmode = "disk"\n', "storage.mode must be one of"),
    ('[storage]\npath = ""\n', "storage.path must not be empty"),
    ("[storage]\nbusy_timeout_ms = 1\n", "storage.busy_timeout_ms = 1"),
    ("[pin]\npbkdf2_iterations = 599999\n", "pin.pbkdf2_iterations"),
    ("[pin]\nmin_len = 3\n", "pin.min_len = 3 is out of range"),
    ("[pin]\nmax_len = 257\n", "pin.max_len = 257 is out of range"),
    ("[pin]\nmin_len = 10\nmax_len = 8\n", "pin.min_len \\(10\\) is greater"),
    ("[pin]\nmax_failures = 0\n", "pin.max_failures"),
    ("[limits]\nmax_sessions = 0\n", "limits.max_sessions"),
    ("[limits]\nmax_objects_per_token = -1\n",
     "limits.max_objects_per_token"),
])
def test_bad_values_name_the_key(tmp_path: Path, text: str,
                                 needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=needle) as info:
        load_config(_env(tmp_path, CRATON_HSM_CONFIG=str(path)))
    assert str(path) in str(info.value)


def test_world_writable_data_dir_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o777)
    with pytest.raises(ConfigError, match="chmod go-w"):
        load_config(_env(tmp_path, CRATON_HSM_DATA_DIR=str(data)))
    os.chmod(data, 0o750)
    assert load_config(_env(tmp_path, CRATON_HSM_DATA_DIR=str(data))) \
        .data_dir == data


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(ConfigError, match="data directory"):
        load_config(_env(tmp_path, CRATON_HSM_DATA_DIR=str(target)))


def test_config_error_is_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
