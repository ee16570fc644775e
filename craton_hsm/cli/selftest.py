"""``selftest``: run the module's full self-test set in this process and
print each test's name, result and time (issue 5; docs/selftests.md).

The one CLI command that imports module internals (pyproject's CLI
contract names this edge): the known-answer tests have no PKCS#11
call, and C_Initialize only says pass or fail.  The integrity test
measures the same library the other commands load (`module-path`).
Exit 0 when every test passed, 1 when any failed.
"""

from __future__ import annotations

import click

from craton_hsm.cli._common import emit_json, json_option, module_path
from craton_hsm.selftest import power_on


@click.command("selftest")
@json_option
def selftest_cmd(as_json: bool) -> int:
    """Run every power-on self-test (integrity, KATs) and report each.

    Exit 0 when all passed, 1 when any failed.  Tests whose code is not
    in this build are reported "unavailable", not counted as passed.
    """
    outcomes = power_on.run_all(module_path())
    failed = [o for o in outcomes if o.result == "fail"]
    if as_json:
        emit_json({"passed": not failed, "tests": [
            {"name": o.name, "family": o.family, "result": o.result,
             "ms": round(o.seconds * 1000, 3), "detail": o.detail}
            for o in outcomes]})
    else:
        for o in outcomes:
            line = f"{o.name:<20} {o.family:<20} {o.result:<12} " \
                   f"{o.seconds * 1000:8.2f} ms"
            click.echo(line + (f"  {o.detail}" if o.detail else ""))
        total = sum(o.seconds for o in outcomes) * 1000
        click.echo(f"{len(outcomes)} tests, {len(failed)} failed, "
                   f"{total:.1f} ms")
    return 1 if failed else 0


COMMANDS = (selftest_cmd,)
