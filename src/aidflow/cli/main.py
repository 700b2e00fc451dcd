"""The `aidflow` console script ([project.scripts] in pyproject.toml points here).

This module stays import-light: `aidflow`, `aidflow -h` and `aidflow --help` print help
rendered ahead of time (aidflow.cli.fasthelp) without importing click, which alone
costs several times a bare interpreter start. Everything else goes to the click group
in aidflow.cli.root, which is also importable from here as `cli`.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs more than the rest of --help
if TYPE_CHECKING:
    from typing import Any

    from .root import AidflowGroup, cli

__all__ = ["AidflowGroup", "cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """The console script."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) <= 1 and "click" not in sys.modules:  # in-process callers have click already
        from .fasthelp import print_stored_help

        print_stored_help(args)  # exits if it printed; returns when click has to answer
    from .root import cli

    cli.main(args=argv, prog_name="aidflow")


def __getattr__(name: str) -> Any:
    # `from aidflow.cli.main import cli` (tests, scripts) keeps working without making
    # every `aidflow --help` import click.
    if name in ("cli", "AidflowGroup"):
        from . import root

        return getattr(root, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
