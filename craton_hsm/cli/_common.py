"""Shared plumbing for the ``craton-hsm`` admin CLI.

The CLI is a PKCS#11 *application*: every token fact it prints comes from
the built module (``build/libcraton_hsm.so``) through the C ABI, driven by
PyKCS11, so an operator sees exactly what pkcs11-tool, OpenSSL or any
other host sees.  The only in-process Python it reads is
``craton_hsm.config.load_config`` (to report the config source and data
dir, and to fail early with the config file's own message); the module
reads the same environment when C_Initialize runs.

Exit codes (the same for every command; docs/cli.md "Exit codes"):
0 ok; 1 the operation failed (the module returned a CKR_ error, a
config file or data dir is wrong, an archive or audit log was refused,
a self-test failed); 2 the command line is wrong (unknown or missing
option, an invalid option value, conflicting options), as click, grep
and most Unix tools use 2.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
import PyKCS11

from craton_hsm._generated_ck import CKR
from craton_hsm.config import Config, ConfigError, load_config
from craton_hsm.errors import CKRError, rv_name

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

LIB_NAME = "libcraton_hsm.so"
MODULE_ENV = "CRATON_HSM_MODULE"

# Why a CK_RV happened, in an operator's words (the CKR name is always
# printed too; codes without a hint still name themselves).
_CAUSES: dict[int, str] = {
    CKR.PIN_INCORRECT: "the PIN is wrong",
    CKR.PIN_LOCKED: "the PIN is locked after too many failures",
    CKR.PIN_INVALID: "the PIN has invalid characters",
    CKR.PIN_LEN_RANGE: "the PIN length is outside the token's range",
    CKR.USER_PIN_NOT_INITIALIZED:
        "the user PIN has not been set (the SO sets it with C_InitPIN)",
    CKR.SLOT_ID_INVALID: "no such slot",
    CKR.TOKEN_NOT_PRESENT: "no token in the slot",
    CKR.TOKEN_NOT_RECOGNIZED: "the token is not recognised",
    CKR.SESSION_EXISTS: "sessions are open on the token; close them first",
    CKR.GENERAL_ERROR: "the module failed; see its log",
    CKR.DEVICE_ERROR:
        "token storage failed (data dir unreadable or damaged?)",
    CKR.USER_ALREADY_LOGGED_IN: "already logged in",
}


class Failure(Exception):
    """A failure the CLI reports as ``error: ...`` with an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE,
                 ckr: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.ckr = ckr


def pkcs11_failure(exc: PyKCS11.PyKCS11Error | CKRError,
                   doing: str) -> Failure:
    """A Failure naming the CKR code and its cause."""
    if isinstance(exc, CKRError):
        rv = exc.rv
    else:
        rv = int(exc.value)
        if rv < 0:  # PyKCS11's own errors: load failure, bad template
            return Failure(f"{doing}: {exc}")
    name = rv_name(rv)
    cause = _CAUSES.get(rv)
    text = f"{doing}: {name} (0x{rv:08x})"
    if cause:
        text += f": {cause}"
    return Failure(text, ckr=name)


# -- output -----------------------------------------------------------------

@dataclass
class Output:
    json: bool = False


# The running command's output mode; the group's error handler reads it
# after the command's context is gone.  main() resets it per invocation.
STATE = Output()


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def console() -> Any:
    from rich.console import Console
    return Console(soft_wrap=False)


def json_option(f: F) -> F:
    """``--json``: machine-readable output on stdout."""
    def remember(ctx: click.Context, _p: click.Parameter,
                 value: bool) -> bool:
        STATE.json = value
        return value
    option = click.option("--json", "as_json", is_flag=True,
                          callback=remember, is_eager=True,
                          help="Print machine-readable JSON on stdout.")
    return option(f)


# -- the module's log --------------------------------------------------------

class _OneLineFormatter(logging.Formatter):
    """``craton-hsm: module: <message>: <ExcType>: <text>``, no stack.

    The module runs inside this process (the .so embeds the running
    interpreter), so its ``logging`` records reach our handler.  An
    operator needs the cause, not the frames; CRATON_HSM_CLI_DEBUG=1
    restores full tracebacks for a bug report.
    """

    def format(self, record: logging.LogRecord) -> str:
        text = f"craton-hsm: module: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f": {type(exc).__name__}: {exc}"
        return text if record.levelno >= logging.ERROR else \
            text.replace("module:", "module warning:", 1)


def quiet_module_log() -> None:
    """Route the module's log records to stderr as one line each."""
    if os.environ.get("CRATON_HSM_CLI_DEBUG") == "1":
        return
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


# -- module and config ------------------------------------------------------

def repo_root() -> Path:
    import craton_hsm
    return Path(craton_hsm.__file__).resolve().parent.parent


def candidates() -> list[Path]:
    import craton_hsm
    pkg = Path(craton_hsm.__file__).resolve().parent
    return [repo_root() / "build" / LIB_NAME, pkg / LIB_NAME]


def module_path() -> Path:
    """The built module: $CRATON_HSM_MODULE, else build/ next to the
    package (editable checkout), else inside the package (wheel)."""
    named = os.environ.get(MODULE_ENV)
    if named:
        path = Path(named).expanduser().resolve()
        if not path.is_file():
            raise Failure(f"{MODULE_ENV}={named}: no such file")
        return path
    for path in candidates():
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates())
    raise Failure(f"{LIB_NAME} is not built (looked in {looked}); "
                  f"run `make build` in {repo_root()}")


def config() -> Config:
    try:
        return load_config()
    except ConfigError as e:
        raise Failure(f"configuration: {e}") from None


def _load_hint(e: Exception) -> str:
    """The fix for the load failures an operator meets (dlopen text)."""
    if "libpython" in str(e):
        return ("; the module embeds the shared libpython it was built "
                "against, which the loader cannot find: rebuild with "
                "`make build` using a Python configured with "
                "--enable-shared (pyenv: PYTHON_CONFIGURE_OPTS="
                "--enable-shared pyenv install 3.11)")
    return f"; rebuild it with `make build` in {repo_root()}"


@contextmanager
def library() -> Iterator[PyKCS11.PyKCS11Lib]:
    """The module loaded and C_Initialize'd; C_Finalize on exit."""
    config()  # fail early with the config file's own message
    path = module_path()
    lib = PyKCS11.PyKCS11Lib()
    try:
        lib.load(str(path))
    except PyKCS11.PyKCS11Error as e:
        if int(e.value) < 0:
            raise Failure(f"cannot load {path}: {e}{_load_hint(e)}") \
                from None
        raise pkcs11_failure(e, f"C_Initialize of {path}") from None
    try:
        yield lib
    finally:
        try:
            lib.unload()
        except PyKCS11.PyKCS11Error:
            pass


# -- PINs -------------------------------------------------------------------

_PROMPTS = {"so-pin": "SO PIN", "pin": "User PIN", "old-pin": "Current PIN",
            "new-pin": "New PIN", "passphrase": "Backup passphrase"}


def read_pin(what: str, env: str | None, file: Path | None,
             confirm: bool = False) -> str:
    """A PIN from $VAR, a file's first line, or a no-echo prompt.

    There is deliberately no way to pass a PIN as a command-line value:
    argv is visible to every local user through /proc and shell history.
    """
    if env and file:
        raise Failure(f"give at most one of --{what}-env and --{what}-file",
                      EXIT_USAGE)
    if env:
        value = os.environ.get(env)
        if value is None:
            raise Failure(f"--{what}-env {env}: the variable is not set")
    elif file:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as e:
            raise Failure(f"--{what}-file {file}: {e.strerror}") from None
        lines = text.splitlines()
        value = lines[0] if lines else ""
    else:
        label = _PROMPTS.get(what, what.replace("-", " ").capitalize())
        value = click.prompt(label, hide_input=True,
                             confirmation_prompt=confirm, err=True)
    if not value:
        raise Failure(f"the {what.replace('-', ' ').upper()} is empty")
    return value


def pin_options(what: str) -> Callable[[F], F]:
    """``--WHAT-env VAR`` and ``--WHAT-file FILE``; no option takes the
    value itself (see read_pin)."""
    def wrap(f: F) -> F:
        f = click.option(
            f"--{what}-file", type=click.Path(dir_okay=False,
                                             path_type=Path),
            help=f"Read the {what.upper()} from the first line of FILE.")(f)
        f = click.option(
            f"--{what}-env", metavar="VAR",
            help=f"Read the {what.upper()} from environment variable "
                 "VAR.")(f)
        return f
    return wrap


# -- token facts ------------------------------------------------------------

TOKEN_FLAGS = {
    "token_initialized": PyKCS11.CKF_TOKEN_INITIALIZED,
    "login_required": PyKCS11.CKF_LOGIN_REQUIRED,
    "write_protected": PyKCS11.CKF_WRITE_PROTECTED,
    "user_pin_initialized": PyKCS11.CKF_USER_PIN_INITIALIZED,
    "user_pin_count_low": PyKCS11.CKF_USER_PIN_COUNT_LOW,
    "user_pin_final_try": PyKCS11.CKF_USER_PIN_FINAL_TRY,
    "user_pin_locked": PyKCS11.CKF_USER_PIN_LOCKED,
    "user_pin_to_be_changed": PyKCS11.CKF_USER_PIN_TO_BE_CHANGED,
    "so_pin_count_low": PyKCS11.CKF_SO_PIN_COUNT_LOW,
    "so_pin_final_try": PyKCS11.CKF_SO_PIN_FINAL_TRY,
    "so_pin_locked": PyKCS11.CKF_SO_PIN_LOCKED,
    "so_pin_to_be_changed": PyKCS11.CKF_SO_PIN_TO_BE_CHANGED,
}


def text(value: Any) -> str:
    return str(value).rstrip(" \x00")


def slot_ids(lib: PyKCS11.PyKCS11Lib) -> list[int]:
    try:
        return [int(s) for s in lib.getSlotList(tokenPresent=False)]
    except PyKCS11.PyKCS11Error as e:
        raise pkcs11_failure(e, "C_GetSlotList") from None


def check_slot(lib: PyKCS11.PyKCS11Lib, slot: int) -> None:
    ids = slot_ids(lib)
    if slot not in ids:
        raise Failure(f"no slot {slot}; slots are "
                      f"{', '.join(map(str, ids))}")


def token_facts(lib: PyKCS11.PyKCS11Lib, slot: int) -> dict[str, Any]:
    """C_GetTokenInfo as stable JSON keys."""
    try:
        info = lib.getTokenInfo(slot)
    except PyKCS11.PyKCS11Error as e:
        raise pkcs11_failure(e, f"C_GetTokenInfo on slot {slot}") from None
    flags = int(info.flags)
    initialized = bool(flags & PyKCS11.CKF_TOKEN_INITIALIZED)
    facts: dict[str, Any] = {
        "slot": slot,
        "initialized": initialized,
        "label": text(info.label) if initialized else None,
        "serial": text(info.serialNumber) if initialized else None,
        "manufacturer": text(info.manufacturerID),
        "model": text(info.model),
        "flags": {k: bool(flags & v) for k, v in TOKEN_FLAGS.items()},
        "flag_names": sorted(info.flags2text()),
        "sessions": _count(info.ulSessionCount),
        "pin_min_len": int(info.ulMinPinLen),
        "pin_max_len": int(info.ulMaxPinLen),
    }
    return facts


def _count(value: Any) -> int | None:
    n = int(value)
    # CK_UNAVAILABLE_INFORMATION / CK_EFFECTIVELY_INFINITE read back as -1
    return None if n < 0 or n >= 2 ** 63 else n


def open_session(lib: PyKCS11.PyKCS11Lib, slot: int,
                 rw: bool = False) -> Any:
    flags = PyKCS11.CKF_SERIAL_SESSION
    if rw:
        flags |= PyKCS11.CKF_RW_SESSION
    try:
        return lib.openSession(slot, flags)
    except PyKCS11.PyKCS11Error as e:
        raise pkcs11_failure(e, f"C_OpenSession on slot {slot}") from None


def fail_exit(err: Failure, as_json: bool) -> int:
    click.echo(f"error: {err}", err=True)
    if as_json:
        emit_json({"error": {"message": str(err), "exit_code": err.code,
                             "ckr": err.ckr}})
    return err.code


def stored_objects(session: Any, slot: int) -> list[Any]:
    """Handles of every object ``session`` can see on the token (an
    empty template; the module's CKO_PROFILE objects are found only
    when asked for by class)."""
    try:
        return list(session.findObjects([]))
    except PyKCS11.PyKCS11Error as e:
        raise pkcs11_failure(e, f"C_FindObjects on slot {slot}") from None


def require_token(lib: PyKCS11.PyKCS11Lib, slot: int) -> dict[str, Any]:
    """The token facts of SLOT; a Failure naming the fix when the slot
    does not exist or holds no initialised token."""
    check_slot(lib, slot)
    facts = token_facts(lib, slot)
    if not facts["initialized"]:
        raise Failure(f"slot {slot} has no initialised token; run "
                      f"`craton-hsm init-token --slot {slot}` first")
    return facts


def log_in(session: Any, slot: int, pin: str, so: bool = False) -> None:
    who = "SO" if so else "user"
    try:
        session.login(pin, PyKCS11.CKU_SO if so else PyKCS11.CKU_USER)
    except PyKCS11.PyKCS11Error as e:
        raise pkcs11_failure(e, f"C_Login as {who} on slot {slot}") from None


@contextmanager
def user_session(slot: int, pin_env: str | None, pin_file: Path | None,
                 rw: bool = False) -> Iterator[Any]:
    """The module loaded, a session on SLOT logged in as the user (PIN
    from --pin-env/--pin-file or a no-echo prompt); closed on exit."""
    with library() as lib:
        require_token(lib, slot)
        session = open_session(lib, slot, rw=rw)
        try:
            log_in(session, slot, read_pin("pin", pin_env, pin_file))
            yield session
        finally:
            try:
                session.closeSession()
            except PyKCS11.PyKCS11Error:
                pass  # C_Finalize at unload closes it anyway


def slot_option(f: F) -> F:
    return click.option("--slot", type=int, required=True,
                        help="Slot of the token.")(f)


# -- selecting objects --------------------------------------------------------

def parse_id(value: str | None) -> bytes | None:
    """--id as hex (colons allowed, as p11tool prints them)."""
    if value is None:
        return None
    try:
        raw = bytes.fromhex(value.replace(":", ""))
    except ValueError:
        raise Failure(f"--id {value!r} is not hex; give e.g. --id 01a2",
                      EXIT_USAGE) from None
    if not raw:
        raise Failure("--id is empty; give at least one byte of hex",
                      EXIT_USAGE)
    return raw


def naming(label: str | None,
           oid: bytes | None) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    if label is not None:
        out.append((PyKCS11.CKA_LABEL, label))
    if oid is not None:
        out.append((PyKCS11.CKA_ID, oid))
    return out


def select_options(f: F) -> F:
    f = click.option("--id", "hex_id", metavar="HEX",
                     help="Select by CKA_ID (hex).")(f)
    return click.option("--label", help="Select by CKA_LABEL.")(f)


def find(session: Any, slot: int, classes: tuple[int, ...],
         label: str | None, oid: bytes | None,
         any_ok: bool = False) -> list[tuple[Any, int]]:
    """(handle, CKO_*) of every object of ``classes`` matching all the
    given selectors; a usage Failure when none is given (unless
    ``any_ok``: then every object of those classes)."""
    if label is None and oid is None and not any_ok:
        raise Failure("name the object with --label and/or --id",
                      EXIT_USAGE)
    found: list[tuple[Any, int]] = []
    try:
        for cls in classes:
            template = [(PyKCS11.CKA_CLASS, cls), *naming(label, oid)]
            found += [(h, cls) for h in session.findObjects(template)]
    except PyKCS11.PyKCS11Error as e:
        raise pkcs11_failure(e, f"C_FindObjects on slot {slot}") from None
    return found


def describe_selector(label: str | None, oid: bytes | None) -> str:
    parts = ([f"label '{label}'"] if label is not None else []) + \
        ([f"id {oid.hex()}"] if oid is not None else [])
    return " and ".join(parts)
