"""``module-path``: where the built PKCS#11 module is."""

from __future__ import annotations

import click

from craton_hsm.cli._common import emit_json, json_option, module_path


@click.command("module-path")
@json_option
def module_path_cmd(as_json: bool) -> None:
    """Print the absolute path of libcraton_hsm.so.

    Looks at $CRATON_HSM_MODULE, then build/ beside the package (a
    checkout), then the package directory (a wheel).  Exits 1 when the
    module has not been built.  Use it as
    `pkcs11-tool --module "$(craton-hsm module-path)"`.
    """
    path = module_path()
    if as_json:
        emit_json({"module": str(path)})
    else:
        click.echo(str(path))


COMMANDS = (module_path_cmd,)
