"""The ``craton-hsm`` admin CLI, run as the installed console script.

Each real run is a fresh process with its own data dir (R9), so the CLI
sees the module exactly as an application does.  --help and argument
parsing run in-process through click's CliRunner (no module load).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from craton_hsm.cli import _common, cli

from .conftest import Populate, Run

SO_PIN = "so-secret-1"
USER_PIN = "user-pin-1"
COMMANDS = ["module-path", "list-slots", "status", "init-token",
            "list-objects"]


def init(run: Run, slot: int = 0, label: str = "demo") -> dict[str, object]:
    res = run("init-token", "--slot", str(slot), "--label", label,
              "--so-pin-env", "SO", "--json", SO=SO_PIN)
    assert res.rc == 0, res.err
    doc: dict[str, object] = res.json()
    return doc


# -- help and parsing (in-process) -----------------------------------------

# Every subcommand's --help: test_commands.test_help walks click's tree.

def test_top_level_help_lists_commands_and_exit_codes() -> None:
    res = CliRunner().invoke(cli, ["--help"])
    assert res.exit_code == 0
    for command in COMMANDS:
        assert command in res.output
    assert "2 the command line is wrong" in res.output


@pytest.mark.parametrize("argv", [
    ["init-token", "--slot", "0", "--label", "x", "--so-pin", "1234"],
    ["list-objects", "--slot", "0", "--pin", "1234"],
])
def test_pin_is_never_an_argv_value(argv: list[str]) -> None:
    res = CliRunner().invoke(cli, argv)
    assert res.exit_code == 2
    assert "No such option" in res.output


def test_usage_error_exits_2() -> None:
    res = CliRunner().invoke(cli, ["init-token", "--label", "x"])
    assert res.exit_code == 2
    assert "Missing option '--slot'" in res.output


def test_module_path_not_built_exits_1(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CRATON_HSM_MODULE", raising=False)
    monkeypatch.setattr(_common, "candidates",
                        lambda: [tmp_path / "libcraton_hsm.so"])
    res = CliRunner().invoke(cli, ["module-path"])
    assert res.exit_code == 1
    assert "error: libcraton_hsm.so is not built" in res.output
    assert "make build" in res.output


# -- module-path -----------------------------------------------------------

def test_module_path_prints_an_existing_file(run: Run, module: Path) -> None:
    res = run("module-path")
    assert res.rc == 0, res.err
    path = Path(res.out.strip())
    assert path.is_absolute() and path.is_file()
    assert path == module.resolve()
    doc = run("module-path", "--json").json()
    assert Path(doc["module"]).is_file()


def test_module_env_override_must_exist(run: Run) -> None:
    res = run("module-path", CRATON_HSM_MODULE="/nonexistent/lib.so")
    assert res.rc == 1
    assert "error: CRATON_HSM_MODULE=/nonexistent/lib.so" in res.err


# -- list-slots / status / init-token ---------------------------------------

def test_list_slots_json_fresh(run: Run) -> None:
    res = run("list-slots", "--json")
    assert res.rc == 0, res.err
    slots = res.json()["slots"]
    assert [s["slot"] for s in slots] == [0, 1, 2, 3]
    assert all(s["token_present"] and not s["initialized"] for s in slots)
    assert all(s["label"] is None and s["serial"] is None for s in slots)


def test_list_slots_human_table(run: Run) -> None:
    init(run, label="tabled")
    res = run("list-slots")
    assert res.rc == 0, res.err
    assert "tabled" in res.out and "Craton HSM slot 0" in res.out


def test_init_token_shows_in_status_and_list_slots(
        run: Run, data_dir: Path) -> None:
    doc = init(run, slot=1, label="payments")
    assert doc["label"] == "payments" and doc["initialized"] is True
    serial = doc["serial"]
    assert isinstance(serial, str) and len(serial) == 16

    listed = {s["slot"]: s for s in run("list-slots", "--json")
              .json()["slots"]}
    assert listed[1]["label"] == "payments"
    assert listed[1]["serial"] == serial
    assert listed[0]["initialized"] is False

    status = run("status", "--json").json()
    assert status["data_dir"] == str(data_dir)
    assert status["config_source"] is None
    assert status["library"]["cryptoki_version"] == "3.0"
    one = {s["slot"]: s for s in status["slots"]}[1]
    assert one["initialized"] is True
    assert (one["label"], one["serial"]) == ("payments", serial)
    assert one["flags"]["user_pin_initialized"] is False
    assert one["flags"]["user_pin_locked"] is False
    assert one["public_objects"] == 0


def test_init_token_so_pin_from_prompt_and_file(
        run: Run, tmp_path: Path) -> None:
    res = run("init-token", "--slot", "0", "--label", "prompted", "--json",
              stdin=f"{SO_PIN}\n{SO_PIN}\n")
    assert res.rc == 0, res.err
    assert res.json()["label"] == "prompted"
    assert SO_PIN not in res.out + res.err   # never echoed
    pin_file = tmp_path / "so.pin"
    pin_file.write_text(SO_PIN + "\n")
    res = run("init-token", "--slot", "0", "--label", "again", "--force",
              "--so-pin-file", str(pin_file), "--json")
    assert res.rc == 0, res.err
    doc = res.json()
    assert (doc["label"], doc["reinitialized"]) == ("again", True)


def test_prompt_confirmation_mismatch_is_refused(run: Run) -> None:
    res = run("init-token", "--slot", "0", "--label", "x", "--json",
              stdin=f"{SO_PIN}\nsomething-else\n")
    assert res.rc == 1
    status = run("status", "--slot", "0", "--json").json()
    assert status["slots"][0]["initialized"] is False


def test_wrong_so_pin_exits_1_naming_the_ckr(run: Run) -> None:
    serial = init(run)["serial"]
    res = run("init-token", "--slot", "0", "--label", "evil", "--force",
              "--so-pin-env", "SO", "--json", SO="wrong-pin-9")
    assert res.rc == 1
    assert "error: C_InitToken on slot 0: CKR_PIN_INCORRECT" in res.err
    assert res.json()["error"]["ckr"] == "CKR_PIN_INCORRECT"
    slot = run("status", "--slot", "0", "--json").json()["slots"][0]
    assert (slot["label"], slot["serial"]) == ("demo", serial)
    assert slot["flags"]["so_pin_count_low"] is True


def test_reinit_without_force_is_refused(run: Run) -> None:
    init(run)
    res = run("init-token", "--slot", "0", "--label", "other",
              "--so-pin-env", "SO", SO=SO_PIN)
    assert res.rc == 1
    assert "already holds token 'demo'" in res.err and "--force" in res.err


@pytest.mark.parametrize("label", ["", "x" * 33, "trailing "])
def test_bad_label_is_a_usage_error(run: Run, label: str) -> None:
    res = run("init-token", "--slot", "0", "--label", label,
              "--so-pin-env", "SO", SO=SO_PIN)
    assert res.rc == 2
    assert "error: --label" in res.err


def test_unset_pin_env_is_a_usage_error(run: Run) -> None:
    res = run("init-token", "--slot", "0", "--label", "x",
              "--so-pin-env", "CRATON_TEST_UNSET_VAR")
    assert res.rc == 1
    assert "CRATON_TEST_UNSET_VAR: the variable is not set" in res.err


def test_no_such_slot_exits_1(run: Run) -> None:
    res = run("status", "--slot", "9", "--json")
    assert res.rc == 1
    assert "error: no slot 9" in res.err
    assert res.json()["error"]["exit_code"] == 1


def test_config_file_is_honoured_and_reported(
        run: Run, tmp_path: Path) -> None:
    conf = tmp_path / "hsm.toml"
    conf.write_text("[slots]\ncount = 2\n")
    doc = run("status", "--json", CRATON_HSM_CONFIG=str(conf)).json()
    assert doc["config_source"] == str(conf)
    assert [s["slot"] for s in doc["slots"]] == [0, 1]


def test_bad_config_exits_1_with_the_config_message(
        run: Run, tmp_path: Path) -> None:
    conf = tmp_path / "bad.toml"
    conf.write_text("[slots]\ncount = 'four'\n")
    res = run("list-slots", "--json", CRATON_HSM_CONFIG=str(conf))
    assert res.rc == 1
    assert "slots.count must be an integer" in res.err
    assert res.err.startswith("error: configuration:")


# -- list-objects ----------------------------------------------------------

def test_list_objects_public_and_logged_in(
        run: Run, populate: Populate, tmp_path: Path) -> None:
    init(run)
    populate(SO_PIN, USER_PIN)

    public = run("list-objects", "--slot", "0", "--json").json()
    assert public["logged_in"] is False
    assert [o["label"] for o in public["objects"]] == ["d1"]
    d1 = public["objects"][0]
    assert d1["class"] == "CKO_DATA" and d1["private"] is False
    assert d1["key_type"] is None and d1["sensitive"] is None

    pin_file = tmp_path / "user.pin"
    pin_file.write_text(USER_PIN + "\n")
    res = run("list-objects", "--slot", "0", "--pin-file", str(pin_file),
              "--json")
    assert res.rc == 0, res.err
    rows = {o["label"]: o for o in res.json()["objects"]}
    assert set(rows) == {"d1", "k1"}
    k1 = rows["k1"]
    assert (k1["class"], k1["key_type"], k1["id"]) == (
        "CKO_SECRET_KEY", "CKK_AES", "0102")
    assert (k1["token"], k1["private"], k1["sensitive"]) == (
        True, True, True)
    assert isinstance(k1["handle"], int)
    for row in rows.values():   # never values, only these keys
        assert set(row) == {"handle", "class", "key_type", "label", "id",
                            "token", "private", "sensitive"}

    human = run("list-objects", "--slot", "0", "--pin-env", "P", P=USER_PIN)
    assert human.rc == 0 and "k1" in human.out and "AES" in human.out

    status = run("status", "--slot", "0", "--json").json()["slots"][0]
    assert status["flags"]["user_pin_initialized"] is True
    assert status["public_objects"] == 1


def test_list_objects_wrong_user_pin_exits_1(
        run: Run, populate: Populate) -> None:
    init(run)
    populate(SO_PIN, USER_PIN)
    res = run("list-objects", "--slot", "0", "--pin-env", "P", "--json",
              P="not-the-pin")
    assert res.rc == 1
    assert "C_Login as user on slot 0: CKR_PIN_INCORRECT" in res.err
    assert res.json()["error"]["ckr"] == "CKR_PIN_INCORRECT"
    flags = run("status", "--slot", "0", "--json").json()["slots"][0]["flags"]
    assert flags["user_pin_count_low"] is True


def test_list_objects_before_user_pin_set_exits_1(run: Run) -> None:
    init(run)
    res = run("list-objects", "--slot", "0", "--pin-env", "P", P=USER_PIN)
    assert res.rc == 1
    assert "CKR_USER_PIN_NOT_INITIALIZED" in res.err


def test_list_objects_on_uninitialised_slot_exits_1(run: Run) -> None:
    res = run("list-objects", "--slot", "2", "--json")
    assert res.rc == 1
    assert "slot 2 has no initialised token" in res.err
