"""The `aidflow` console script ([project.scripts] in pyproject.toml points here)."""

from __future__ import annotations

from aidflow.cli.root import AidflowGroup, cli

__all__ = ["AidflowGroup", "cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """The console script."""
    cli.main(args=argv, prog_name="aidflow")


if __name__ == "__main__":
    main()
