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
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from aidflow.errors import InvalidInputError, did_you_mean

CONFIG_FILE_NAME = "aidflow.toml"


class Settings(BaseSettings):
    """What one invocation of aidflow runs with (see the README's Configuration section)."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    database_url: str = "sqlite:///aidflow.db"
    user: str | None = None
    lang: Literal["zh", "en"] = "en"
    now: str | None = None
    tz: str = "Asia/Shanghai"
    workflows_dir: Path | None = None  # None: the workflows shipped with aidflow
    notifications_dir: Path | None = None  # None: the shipped email templates
    calendar_file: Path | None = None  # None: <workflows_dir>/policy/calendar.yaml
    care_visits_file: Path | None = None  # None: <workflows_dir>/policy/care_visits.yaml
    payment_day: int | None = Field(default=None, ge=1, le=28)
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "ssl"] = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    sqlite_busy_timeout_ms: int = Field(default=30000, ge=0)
    debug: bool = False
    failpoint: str | None = None
    config_file: Path | None = None  # the file the values above were read from, if any

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
            raise ValueError("unknown time zone") from None
        return name

    @field_validator("payment_day", "smtp_port", "sqlite_busy_timeout_ms", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        # true/false and 1.5 are not numbers of days, ports or milliseconds; "30000" from
        # the environment is
        if isinstance(value, bool | float) or (isinstance(value, str) and not value.isdigit()):
            raise ValueError("not a whole number")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # which file to read is itself a setting given by the caller (see load_settings)
        path = init_settings().get("config_file")
        return (
            init_settings,
            _Environment(settings_cls, os.environ),
            _ConfigFile(settings_cls, Path(path) if path is not None else None),
        )


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
}
"""The command-line option of each setting that has one."""

FILE_KEYS = tuple(name for name in Settings.model_fields if name != "config_file")
"""The keys a config file may hold (which file to read is not one of them)."""

_PATH_KEYS = frozenset({"workflows_dir", "notifications_dir", "calendar_file", "care_visits_file"})

# What a bad value is not, and how to write a good one (None: the message says it all).
_PROBLEMS: dict[str, tuple[str, str | None]] = {
    "lang": ("is not one of zh, en", None),
    "tz": (
        "is not a known time zone",
        "write an IANA name such as Asia/Shanghai",
    ),
    "payment_day": ("is not a day from 1 to 28", None),
    "smtp_port": ("is not a port number", None),
    "smtp_security": ("is not one of none, starttls, ssl", None),
    "sqlite_busy_timeout_ms": (
        "is not a whole number of milliseconds",
        "write e.g. 30000 for 30 seconds",
    ),
    "debug": ("is not true or false", "write 1 or true to print tracebacks, 0 or false not to"),
}
_TEXT_PROBLEM = ("is not text", 'write it in double quotes, e.g. key = "value"')


class _Environment(PydanticBaseSettingsSource):
    """The AIDFLOW_* variables; an empty one counts as unset."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.values = environment_values(environ)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


class _ConfigFile(PydanticBaseSettingsSource):
    """The config file's keys, with relative paths made relative to the file's directory."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.values = file_values(path) if path is not None else {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


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
                f"config file {path} does not exist"
                if not path.exists()
                else f"config file {path} is not a file",
                hint=f"check {where}, or write one with `aidflow init DIR`",
            )
        return path
    default = Path(CONFIG_FILE_NAME)
    return default if default.is_file() else None


def file_values(path: Path) -> dict[str, Any]:
    """The config file's settings, paths resolved against its directory."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(
            f"{path}: not valid TOML: {exc}",
            hint='write one setting per line as key = "value" (see the README, Configuration)',
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read config file {path}: {exc}") from None
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
    path = config_path(given.get("config_file"), environ)  # type: ignore[arg-type]
    try:
        return Settings(**{**given, "config_file": path})
    except ValidationError as exc:
        raise _explain(exc, given, environ, path) from None


def _explain(
    exc: ValidationError, given: Mapping[str, object], environ: Mapping[str, str], path: Path | None
) -> InvalidInputError:
    """Every problem, each said where its value came from (option, variable or file and key)."""
    from_env = environment_values(environ)
    raw_file = tomllib.loads(path.read_text(encoding="utf-8")) if path is not None else {}
    problems: list[tuple[str, str | None]] = []
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "extra_forbidden":
            if isinstance(raw_file.get(key), dict):
                first = next((k for k in FILE_KEYS if k.startswith(f"{key}_")), FILE_KEYS[0])
                hint = (
                    "the file has no tables: write each setting as a top-level key, "
                    f'e.g. {first} = "..."'
                )
            else:
                hint = did_you_mean(key, FILE_KEYS) or "the keys are " + ", ".join(FILE_KEYS)
            problems.append((f"{path}: unknown key {key!r}", hint))
            continue
        problem, hint = _PROBLEMS.get(key, _TEXT_PROBLEM)
        if key in given:
            # an option's hint names its variable too: the same value may be set either way
            hint = f"{hint} (env {ENVIRONMENT[key]})" if hint else None
            problems.append((f"{OPTIONS.get(key, key)} {given[key]!r} {problem}", hint))
        elif key in from_env:
            problems.append((f"{ENVIRONMENT[key]}={from_env[key]!r} {problem}", hint))
        elif key in raw_file:
            hint = hint or f"correct it in {path}, or remove the line for the default"
            problems.append((f"{path}: {key} = {_toml(raw_file[key])} {problem}", hint))
        else:  # a default never fails; say what pydantic found all the same
            problems.append((f"setting {key}: {error['msg']}", None))
    if len(problems) == 1:
        message, hint = problems[0]
        return InvalidInputError(message, hint=hint)
    lines = [f"{len(problems)} problems in the settings:"]
    for message, hint in problems:
        lines.append(f"  {message}" + (f"\n    hint: {hint}" if hint else ""))
    return InvalidInputError("\n".join(lines))


def _toml(value: object) -> str:
    """A value as it is written in TOML, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return repr(value)
