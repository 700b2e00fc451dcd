"""The `aidflow` console script ([project.scripts] in pyproject.toml points here)."""

from __future__ import annotations

from aidflow.cli.root import AidflowGroup, cli

__all__ = ["AidflowGroup", "cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """The console script."""
    import sys

    from aidflow.cli.speech import speak

    # `aidflow --help` prints before the root command reads its settings: speak the language
    # the command line or the environment asks for from the start.
    speak(_language(sys.argv[1:] if argv is None else argv), cli)
    cli.main(args=argv, prog_name="aidflow")


def _language(argv: list[str]) -> str:
    for index, arg in enumerate(argv):
        if arg == "--lang" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
    try:
        from aidflow.settings import load_settings

        return load_settings({}).lang
    except Exception:  # a bad setting is reported by the command itself, in English
        return "en"


if __name__ == "__main__":
    main()
