"""``craton-hsm``: the admin CLI over the built PKCS#11 module.

One module per command group (module, slots, token, objects); this file
wires them into one click group whose ``main`` owns the exit codes:
0 ok, 1 the operation failed, 2 the command line is wrong (see
_common).  Nothing escapes as a traceback: errors print ``error: ...``
on stderr (and, with ``--json``, an ``{"error": ...}`` object on
stdout); an unexpected exception is reported with its type and the
advice to file a bug, never a stack.
"""

from __future__ import annotations

from typing import Any

import click
import PyKCS11

from craton_hsm.cli import _common
from craton_hsm.cli._common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    Failure,
    fail_exit,
    pkcs11_failure,
)
from craton_hsm.config import ConfigError
from craton_hsm.errors import CKRError


class _Group(click.Group):
    """A click group with the CLI's exit-code contract."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        _common.STATE.json = False
        _common.quiet_module_log()
        try:
            rv = super().main(args, prog_name, complete_var,
                              standalone_mode=False, **extra)
        except click.UsageError as e:
            e.show()
            code = EXIT_USAGE
        except click.ClickException as e:  # e.g. unreadable --pin-file
            e.show()
            code = EXIT_FAILURE
        except click.Abort:                # Ctrl-C or EOF at a prompt
            click.echo("error: aborted", err=True)
            code = EXIT_FAILURE
        except Failure as e:
            code = fail_exit(e, _common.STATE.json)
        except (CKRError, PyKCS11.PyKCS11Error) as e:
            code = fail_exit(pkcs11_failure(e, "PKCS#11 call"),
                             _common.STATE.json)
        except ConfigError as e:
            code = fail_exit(Failure(f"configuration: {e}"),
                             _common.STATE.json)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            code = EXIT_FAILURE
        except Exception as e:  # noqa: BLE001 -- last resort, see above
            code = fail_exit(Failure(
                f"unexpected {type(e).__name__}: {e}; this is a bug in "
                "craton-hsm: please report it with the command you ran"),
                _common.STATE.json)
        else:
            code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            raise SystemExit(code)
        return code


@click.group(name="craton-hsm", cls=_Group, context_settings={
    "help_option_names": ["-h", "--help"]})
@click.version_option(package_name="craton-hsm")
def cli() -> None:
    """Administer Craton HSM tokens through the PKCS#11 module.

    Every command loads the built module (see `module-path`) exactly as
    an application would.  The module reads CRATON_HSM_CONFIG and
    CRATON_HSM_DATA_DIR from this process's environment;
    CRATON_HSM_MODULE overrides which module file is loaded.

    Exit codes: 0 ok, 1 the operation failed (PKCS#11 error, bad config,
    refused archive or log), 2 the command line is wrong.
    """


def _register() -> None:
    from craton_hsm.cli import (
        audit,
        backup,
        configcheck,
        delete,
        export,
        importing,
        keygen,
        module,
        objects,
        p11kit,
        pins,
        selftest,
        slots,
        token,
    )
    for group in (module, slots, token, pins, keygen, importing, export,
                  objects, delete, backup, audit, selftest, p11kit,
                  configcheck):
        for command in group.COMMANDS:
            cli.add_command(command)


_register()


def main() -> int:
    """Console-script entry point (``craton-hsm``)."""
    return int(cli.main(prog_name="craton-hsm", standalone_mode=False))


__all__ = ["EXIT_FAILURE", "EXIT_USAGE", "cli", "main"]
