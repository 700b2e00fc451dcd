"""The one settings object: every option aidflow reads, from wherever it comes.

Sources, the first that gives a value wins:

1. command-line options (`--db`, `--as`, `--lang`, `--now`, `--tz`, `--config`);
2. environment variables (`AIDFLOW_*`, named in `ENVIRONMENT`);
3. the config file: `--config FILE` (or `AIDFLOW_CONFIG`), else `./aidflow.toml` when it
   exists; TOML, one `key = value` per setting, keys as the field names below; relative
   paths in it are relative to the file's directory;
4. the defaults below.

This module is the only one that reads `os.environ`. The CLI builds one `Settings` per
invocation with `load_settings` and passes its values down as parameters. A value that does
not fit, or an unknown key in the file, is an InvalidInputError naming where it came from
(the option, the variable or the file and key) and what to write instead.

Why the standard library and not pydantic-settings: every command, however short, reads the
settings before it does anything else, so what this module imports is paid at every start-up,
and the import of pydantic and pydantic-settings was felt on every short command. It bought
little here: the sources (options, environment, file) are three dicts merged in order, and
the validation is a table of small parsers, one per field (text, one of a few choices, a
whole number within bounds, true or false, a path), whose failures get our own messages
anyway (`_PROBLEMS`). tomllib and zoneinfo are imported only when a config file or a time
zone other than the default has to be read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from aidflow.errors import InvalidInputError, did_you_mean
from aidflow.i18n import N_, _

CONFIG_FILE_NAME = "aidflow.toml"


@dataclass(frozen=True)
class Settings:
    """What one invocation of aidflow runs with (see the README's Configuration section).

    Build it with `load_settings`, which checks every value; change one with
    `dataclasses.replace`.
    """

    database_url: str = "sqlite:///aidflow.db"
    user: str | None = None
    lang: Literal["zh", "en"] = "en"
    now: str | None = None
    tz: str = "Asia/Shanghai"
    workflows_dir: Path | None = None  # None: the workflows shipped with aidflow
    notifications_dir: Path | None = None  # None: the shipped email templates
    calendar_file: Path | None = None  # None: <workflows_dir>/policy/calendar.yaml
    care_visits_file: Path | None = None  # None: <workflows_dir>/policy/care_visits.yaml
    payment_day: int | None = None  # 1 to 28
    smtp_host: str | None = None
    smtp_port: int | None = None  # 1 to 65535
    smtp_security: Literal["none", "starttls", "ssl"] = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    sqlite_busy_timeout_ms: int = 30000  # 0 or more
    debug: bool = False
    failpoint: str | None = None
    signing_key_file: Path | None = None  # the Ed25519 key that signs audit checkpoints
    checkpoints_dir: Path | None = None  # where `audit checkpoint` writes, `audit verify` reads
    token_lifetime_hours: int = 12  # how long a login token is valid, 1 or more
    public_url: str | None = None  # the web pages' address as readers reach it (email links)
    server: str | None = None  # client mode: the aidflow server's URL
    credentials_file: Path | None = None  # the saved login (`aidflow login`); see load_settings
    config_file: Path | None = None  # the file the values above were read from, if any
    given: frozenset[str] = frozenset()  # the settings an option, variable or the file gave

    def explicit(self, name: str) -> bool:
        """Whether setting `name` was given (by an option, a variable or the config file)
        rather than left at its default: client mode needs to know whether a database was
        named."""
        return name in self.given


# --- parsers: a value as the option, variable or file gives it -> the setting's value -------
# Each raises ValueError when the value does not fit; the message the user sees is the
# field's entry in _PROBLEMS, so the ValueError's own text is never shown.


def _text(value: object) -> str:
    if not isinstance(value, str):  # a TOML number, true/false, date or table is not text
        raise ValueError
    return value


def _url(value: object) -> str:
    """An http(s) address without a trailing slash: links are made by appending paths."""
    text = _text(value)
    scheme, sep, rest = text.partition("://")
    if scheme not in ("http", "https") or not sep or not rest.strip("/"):
        raise ValueError
    return text.rstrip("/")


def _one_of(*choices: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValueError
        return value

    return parse


def _zone(value: object) -> str:
    from zoneinfo import ZoneInfo  # only a time zone that is not the default needs it

    name = _text(value)
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError from None
    return name


def _whole(low: int, high: int | None = None) -> Callable[[object], int]:
    def parse(value: object) -> int:
        # true/false and 1.5 are not numbers of days, ports or milliseconds; "30000" from
        # the environment is (ASCII digits only: no sign, spaces or underscores)
        if isinstance(value, str) and value.isascii() and value.isdigit():
            number = int(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            raise ValueError
        if number < low or (high is not None and number > high):
            raise ValueError
        return number

    return parse


_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):  # TOML debug = 1
        return bool(value)
    if isinstance(value, str):
        word = value.lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
    raise ValueError


def _path(value: object) -> Path:
    if isinstance(value, Path):  # a relative path from the file, already resolved
        return value
    return Path(_text(value))


_PARSERS: dict[str, Callable[[object], object]] = {
    "database_url": _text,
    "user": _text,
    "lang": _one_of("zh", "en"),
    "now": _text,
    "tz": _zone,
    "workflows_dir": _path,
    "notifications_dir": _path,
    "calendar_file": _path,
    "care_visits_file": _path,
    "payment_day": _whole(1, 28),
    "smtp_host": _text,
    "smtp_port": _whole(1, 65535),
    "smtp_security": _one_of("none", "starttls", "ssl"),
    "smtp_user": _text,
    "smtp_password": _text,
    "smtp_from": _text,
    "sqlite_busy_timeout_ms": _whole(0),
    "debug": _flag,
    "failpoint": _text,
    "signing_key_file": _path,
    "checkpoints_dir": _path,
    "token_lifetime_hours": _whole(1),
    "public_url": _url,
    "server": _text,
    "credentials_file": _path,
    "config_file": _path,
}
"""How each setting's value is read. A value of None (an option not given) is never parsed:
None leaves the default, and only the optional fields have None as their default."""

ENVIRONMENT: dict[str, str] = {
    "database_url": "AIDFLOW_DATABASE_URL",
    "user": "AIDFLOW_USER",
    "lang": "AIDFLOW_LANG",
    "now": "AIDFLOW_NOW",
    "tz": "AIDFLOW_TZ",
    "workflows_dir": "AIDFLOW_WORKFLOWS",
    "notifications_dir": "AIDFLOW_NOTIFICATIONS",
    "calendar_file": "AIDFLOW_CALENDAR",
    "care_visits_file": "AIDFLOW_CARE_VISITS",
    "payment_day": "AIDFLOW_PAYMENT_DAY",
    "smtp_host": "AIDFLOW_SMTP_HOST",
    "smtp_port": "AIDFLOW_SMTP_PORT",
    "smtp_security": "AIDFLOW_SMTP_SECURITY",
    "smtp_user": "AIDFLOW_SMTP_USER",
    "smtp_password": "AIDFLOW_SMTP_PASSWORD",
    "smtp_from": "AIDFLOW_SMTP_FROM",
    "sqlite_busy_timeout_ms": "AIDFLOW_SQLITE_BUSY_TIMEOUT_MS",
    "debug": "AIDFLOW_DEBUG",
    "failpoint": "AIDFLOW_FAILPOINT",
    "signing_key_file": "AIDFLOW_SIGNING_KEY",
    "checkpoints_dir": "AIDFLOW_CHECKPOINTS",
    "token_lifetime_hours": "AIDFLOW_TOKEN_LIFETIME_HOURS",
    "public_url": "AIDFLOW_PUBLIC_URL",
    "server": "AIDFLOW_SERVER",
    "credentials_file": "AIDFLOW_CREDENTIALS",
    "config_file": "AIDFLOW_CONFIG",
}
"""The environment variable of each setting (names kept from before the config file existed)."""

OPTIONS: dict[str, str] = {
    "database_url": "--db",
    "user": "--as",
    "lang": "--lang",
    "now": "--now",
    "tz": "--tz",
    "config_file": "--config",
    "server": "--server",
}
"""The command-line option of each setting that has one."""

FILE_KEYS = tuple(f.name for f in fields(Settings) if f.name not in ("config_file", "given"))
"""The keys a config file may hold (which file to read, and which were given, are not)."""

_PATH_KEYS = frozenset(
    {
        "workflows_dir",
        "notifications_dir",
        "calendar_file",
        "care_visits_file",
        "signing_key_file",
        "checkpoints_dir",
        "credentials_file",
    }
)

# What a bad value is not, and how to write a good one (None: the message says it all).
_PROBLEMS: dict[str, tuple[str, str | None]] = {
    "lang": (N_("is not one of zh, en"), None),
    "tz": (
        N_("is not a known time zone"),
        N_("write an IANA name such as Asia/Shanghai"),
    ),
    "payment_day": (N_("is not a day from 1 to 28"), None),
    "smtp_port": (N_("is not a port number"), None),
    "smtp_security": (N_("is not one of none, starttls, ssl"), None),
    "sqlite_busy_timeout_ms": (
        N_("is not a whole number of milliseconds"),
        N_("write e.g. 30000 for 30 seconds"),
    ),
    "token_lifetime_hours": (
        N_("is not a whole number of hours (1 or more)"),
        N_("write e.g. 12"),
    ),
    "debug": (
        N_("is not true or false"),
        N_("write 1 or true to print tracebacks, 0 or false not to"),
    ),
}
_TEXT_PROBLEM = (N_("is not text"), N_('write it in double quotes, e.g. key = "value"'))


def environment_values(environ: Mapping[str, str]) -> dict[str, str]:
    """The settings the environment gives (config_file included), by setting name."""
    return {name: environ[var] for name, var in ENVIRONMENT.items() if environ.get(var)}


def config_path(given: Path | str | None, environ: Mapping[str, str]) -> Path | None:
    """The config file to read: --config, else AIDFLOW_CONFIG, else ./aidflow.toml if present."""
    named = given or environ.get(ENVIRONMENT["config_file"])
    if named:
        path = Path(named)
        if not path.is_file():
            where = "--config" if given else ENVIRONMENT["config_file"]
            raise InvalidInputError(
                _("config file {path} does not exist", path=path)
                if not path.exists()
                else _("config file {path} is not a file", path=path),
                hint=_("check {where}, or write one with `aidflow init DIR`", where=where),
            )
        return path
    default = Path(CONFIG_FILE_NAME)
    return default if default.is_file() else None


def file_values(path: Path) -> dict[str, Any]:
    """The config file's settings, paths resolved against its directory."""
    return _resolved(_read_file(path), path)


def _read_file(path: Path) -> dict[str, Any]:
    """The config file's keys and values as written."""
    import tomllib  # only a config file needs it

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(
            _("{path}: not valid TOML: {exc}", path=path, exc=exc),
            hint=_('write one setting per line as key = "value" (see the README, Configuration)'),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            _("cannot read config file {path}: {exc}", path=path, exc=exc)
        ) from None


def _resolved(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The file's values with its relative paths made relative to its directory."""
    base = path.resolve().parent
    values = dict(data)
    for key, value in data.items():
        if key in _PATH_KEYS and isinstance(value, str):
            values[key] = base / value
        elif key == "database_url" and isinstance(value, str):
            values[key] = _relative_database(value, base)
    return values


def _relative_database(url: str, base: Path) -> str:
    """A SQLite file named in the config file lives relative to the file's directory."""
    if "://" not in url:
        return str(base / url)
    prefix = "sqlite:///"
    rest = url[len(prefix) :]
    if url.startswith(prefix) and rest and not rest.startswith("/") and rest != ":memory:":
        return prefix + str(base / rest)
    return url


def load_settings(options: Mapping[str, object] | None = None) -> Settings:
    """The settings for one invocation; `options` are the command-line values given (None: not)."""
    given = {k: v for k, v in (options or {}).items() if v is not None}
    environ = os.environ
    # options are untyped (the CLI's values); --config arrives as a path or text
    path = config_path(given.get("config_file"), environ)  # type: ignore[arg-type]
    raw_file = _read_file(path) if path is not None else {}
    from_env = environment_values(environ)
    # the first source wins: options over the environment over the file; which file was
    # read is the one setting no source gives directly
    in_file = _resolved(raw_file, path) if path is not None else {}
    merged = {**in_file, **from_env, **given}
    merged.pop("config_file", None)
    values: dict[str, object] = {}
    bad: list[str] = []
    for key, parse in _PARSERS.items():  # in the order of the fields, as problems are listed
        if key in merged:
            try:
                values[key] = parse(merged[key])
            except ValueError:
                bad.append(key)
    unknown = [key for key in merged if key not in _PARSERS]
    if bad or unknown:
        raise _explain(bad, unknown, given, from_env, raw_file, path)
    given_names = frozenset(values)
    if "credentials_file" not in values:
        values["credentials_file"] = default_credentials_file(environ)
    # each value came from its field's parser in _PARSERS, so it has the field's type
    return Settings(**values, config_file=path, given=given_names)  # type: ignore[arg-type]


def default_credentials_file(environ: Mapping[str, str]) -> Path:
    """Where `aidflow login` saves the login: the user's config directory (XDG)."""
    base = environ.get("XDG_CONFIG_HOME")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "aidflow" / "credentials.json"


def _explain(
    bad: list[str],
    unknown: list[str],
    given: Mapping[str, object],
    from_env: Mapping[str, str],
    raw_file: Mapping[str, Any],
    path: Path | None,
) -> InvalidInputError:
    """Every problem, each said where its value came from (option, variable or file and key)."""
    problems: list[tuple[str, str | None]] = []
    for key in bad:
        problem_text, hint_text = _PROBLEMS.get(key, _TEXT_PROBLEM)
        problem = _(problem_text)
        hint = _(hint_text) if hint_text else None
        if key in given:
            # an option's hint names its variable too: the same value may be set either way
            hint = (
                _("{hint} (env {variable})", hint=hint, variable=ENVIRONMENT[key]) if hint else None
            )
            problems.append(
                (
                    _(
                        "{option} {value!r} {problem}",
                        option=OPTIONS.get(key, key),
                        value=given[key],
                        problem=problem,
                    ),
                    hint,
                )
            )
        elif key in from_env:
            problems.append(
                (
                    _(
                        "{variable}={value!r} {problem}",
                        variable=ENVIRONMENT[key],
                        value=from_env[key],
                        problem=problem,
                    ),
                    hint,
                )
            )
        else:  # the only other source
            hint = hint or _("correct it in {path}, or remove the line for the default", path=path)
            problems.append(
                (
                    _(
                        "{path}: {key} = {value} {problem}",
                        path=path,
                        key=key,
                        value=_toml(raw_file[key]),
                        problem=problem,
                    ),
                    hint,
                )
            )
    for key in unknown:
        if isinstance(raw_file.get(key), dict):
            first = next((k for k in FILE_KEYS if k.startswith(f"{key}_")), FILE_KEYS[0])
            hint = _(
                "the file has no tables: write each setting as a top-level key, "
                'e.g. {first} = "..."',
                first=first,
            )
        else:
            hint = did_you_mean(key, FILE_KEYS) or _(
                "the keys are {keys}", keys=", ".join(FILE_KEYS)
            )
        problems.append((_("{path}: unknown key {key!r}", path=path, key=key), hint))
    if len(problems) == 1:
        message, hint = problems[0]
        return InvalidInputError(message, hint=hint)
    lines = [_("{n} problems in the settings:", n=len(problems))]
    for message, hint in problems:
        lines.append(f"  {message}" + (_("\n    hint: {hint}", hint=hint) if hint else ""))
    return InvalidInputError("\n".join(lines))


def _toml(value: object) -> str:
    """A value as it is written in TOML, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return repr(value)
