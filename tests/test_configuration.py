"""The settings (aidflow.settings): command-line options win over AIDFLOW_* variables, which
win over the config file, which wins over the defaults; the config file's problems are named
with the file and key; `aidflow init` makes a county directory the config file points at;
and the county's time zone (--tz) is the one emails print their times in."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from aidflow.cli.main import cli
from aidflow.errors import InvalidInputError
from aidflow.settings import ENVIRONMENT, FILE_KEYS, OPTIONS, Settings, load_settings
from aidflow.store.models import Case, OutboxMessage

from .conftest import REPO, World
from .smtp import SMTPServer
from .test_escalation import SUPERVISORS, in_investigation, sweep


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AIDFLOW_* variable of the developer's shell, and a working directory of our own."""
    for var in ENVIRONMENT.values():
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error(options: dict[str, object] | None = None) -> str:
    with pytest.raises(InvalidInputError) as info:
        load_settings(options)
    return str(info.value)


def aidflow(*argv: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, list(argv), env=env, catch_exceptions=False)


# --- sources and precedence -------------------------------------------------------------------


def test_defaults_without_options_variables_or_file() -> None:
    s = load_settings()
    assert (s.database_url, s.user, s.lang, s.tz, s.now) == (
        "sqlite:///aidflow.db",
        None,
        "en",
        "Asia/Shanghai",
        None,
    )
    assert (s.workflows_dir, s.payment_day, s.smtp_security, s.sqlite_busy_timeout_ms) == (
        None,
        None,
        "starttls",
        30000,
    )
    assert (s.debug, s.config_file) == (False, None)


def test_option_beats_variable_beats_file_beats_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "aidflow.toml", 'user = "file"\nlang = "zh"\ntz = "Asia/Urumqi"\n')
    s = load_settings()
    assert (s.user, s.lang, s.tz, s.config_file) == (
        "file",
        "zh",
        "Asia/Urumqi",
        Path("aidflow.toml"),
    )
    monkeypatch.setenv("AIDFLOW_USER", "env")
    monkeypatch.setenv("AIDFLOW_TZ", "UTC")
    monkeypatch.setenv("AIDFLOW_LANG", "")  # empty counts as unset: the file's value stands
    s = load_settings()
    assert (s.user, s.lang, s.tz) == ("env", "zh", "UTC")
    s = load_settings({"user": "option", "tz": None})  # None: the option was not given
    assert (s.user, s.lang, s.tz) == ("option", "zh", "UTC")


def test_config_file_from_option_or_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "aidflow.toml", 'user = "here"\n')
    write(tmp_path / "a" / "one.toml", 'user = "one"\n')
    write(tmp_path / "b" / "two.toml", 'user = "two"\n')
    monkeypatch.setenv("AIDFLOW_CONFIG", "b/two.toml")
    assert load_settings().user == "two"
    assert load_settings({"config_file": "a/one.toml"}).user == "one"
    assert error({"config_file": "a/none.toml"}) == (
        "config file a/none.toml does not exist\n"
        "  hint: check --config, or write one with `aidflow init DIR`"
    )
    monkeypatch.setenv("AIDFLOW_CONFIG", "a")
    assert error() == (
        "config file a is not a file\n"
        "  hint: check AIDFLOW_CONFIG, or write one with `aidflow init DIR`"
    )


def test_relative_paths_in_the_file_are_relative_to_its_directory(tmp_path: Path) -> None:
    config = write(
        tmp_path / "county" / "aidflow.toml",
        'workflows_dir = "wf"\nnotifications_dir = "/srv/templates"\n'
        'calendar_file = "../shared/calendar.yaml"\ndatabase_url = "sqlite:///county.db"\n',
    )
    s = load_settings({"config_file": str(config.relative_to(tmp_path))})
    county = (tmp_path / "county").resolve()
    assert s.workflows_dir == county / "wf"
    assert s.notifications_dir == Path("/srv/templates")
    assert s.calendar_file == county / "../shared/calendar.yaml"
    assert s.database_url == f"sqlite:///{county / 'county.db'}"
    write(config, 'database_url = "county.db"\n')
    assert load_settings({"config_file": str(config)}).database_url == str(county / "county.db")
    write(config, 'database_url = "postgresql://aidflow@db.example/aidflow"\n')
    assert (
        load_settings({"config_file": str(config)}).database_url
        == "postgresql://aidflow@db.example/aidflow"
    )


def test_every_variable_the_code_read_before_keeps_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = {
        "AIDFLOW_DATABASE_URL": "postgresql://u@h/db",
        "AIDFLOW_WORKFLOWS": "/county/workflows",
        "AIDFLOW_NOTIFICATIONS": "/county/notifications",
        "AIDFLOW_CALENDAR": "/county/calendar.yaml",
        "AIDFLOW_CARE_VISITS": "/county/care.yaml",
        "AIDFLOW_PAYMENT_DAY": "5",
        "AIDFLOW_SMTP_HOST": "mail.example",
        "AIDFLOW_SMTP_PORT": "2525",
        "AIDFLOW_SMTP_SECURITY": "ssl",
        "AIDFLOW_SMTP_USER": "u",
        "AIDFLOW_SMTP_PASSWORD": "p",
        "AIDFLOW_SMTP_FROM": "aidflow@county.example",
        "AIDFLOW_SQLITE_BUSY_TIMEOUT_MS": "200",
        "AIDFLOW_DEBUG": "1",
        "AIDFLOW_FAILPOINT": "payments.batch:3",
    }
    for var, value in values.items():
        monkeypatch.setenv(var, value)
    s = load_settings()
    assert s.database_url == "postgresql://u@h/db"
    assert (s.workflows_dir, s.notifications_dir) == (
        Path("/county/workflows"),
        Path("/county/notifications"),
    )
    assert (s.calendar_file, s.care_visits_file) == (
        Path("/county/calendar.yaml"),
        Path("/county/care.yaml"),
    )
    assert (s.payment_day, s.smtp_host, s.smtp_port, s.smtp_security) == (
        5,
        "mail.example",
        2525,
        "ssl",
    )
    assert (s.smtp_user, s.smtp_password, s.smtp_from) == ("u", "p", "aidflow@county.example")
    assert (s.sqlite_busy_timeout_ms, s.debug, s.failpoint) == (200, True, "payments.batch:3")


def test_settings_are_read_per_invocation(tmp_path: Path) -> None:
    """One process, several commands (as CliRunner runs them): each sees its own environment."""
    preview = ("notify", "preview", "escalation")
    zh = aidflow(*preview, env={"AIDFLOW_LANG": "zh"})
    en = aidflow(*preview, env={"AIDFLOW_LANG": None})
    assert zh.exit_code == en.exit_code == 0
    assert zh.stdout.startswith("主题：【超期督办】") and en.stdout.startswith("Subject: [Overdue]")


# --- problems ----------------------------------------------------------------------------------


def test_an_unknown_key_is_named_with_the_file_and_a_suggestion(tmp_path: Path) -> None:
    write(tmp_path / "aidflow.toml", 'workflow_dir = "wf"\n')
    assert (
        error() == "aidflow.toml: unknown key 'workflow_dir'\n  hint: did you mean 'workflows_dir'?"
    )
    write(tmp_path / "aidflow.toml", "[smtp]\nhost = 'mail'\n")
    assert error() == (
        "aidflow.toml: unknown key 'smtp'\n"
        "  hint: the file has no tables: write each setting as a top-level key, "
        'e.g. smtp_host = "..."'
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "payment_day = 31",
            "aidflow.toml: payment_day = 31 is not a day from 1 to 28\n"
            "  hint: correct it in aidflow.toml, or remove the line for the default",
        ),
        (
            "sqlite_busy_timeout_ms = true",
            "aidflow.toml: sqlite_busy_timeout_ms = true is not a whole number of milliseconds\n"
            "  hint: write e.g. 30000 for 30 seconds",
        ),
        (
            'tz = "Mars/Olympus"',
            'aidflow.toml: tz = "Mars/Olympus" is not a known time zone\n'
            "  hint: write an IANA name such as Asia/Shanghai",
        ),
        (
            "user = 7",
            "aidflow.toml: user = 7 is not text\n"
            '  hint: write it in double quotes, e.g. key = "value"',
        ),
        (
            'smtp_security = "tls"',
            'aidflow.toml: smtp_security = "tls" is not one of none, starttls, ssl\n'
            "  hint: correct it in aidflow.toml, or remove the line for the default",
        ),
    ],
)
def test_a_bad_value_in_the_file_names_the_file_key_and_fix(
    tmp_path: Path, line: str, message: str
) -> None:
    write(tmp_path / "aidflow.toml", line + "\n")
    assert error() == message


def test_the_file_is_checked_as_a_whole(tmp_path: Path) -> None:
    write(tmp_path / "aidflow.toml", 'payment_day = 0\nlang = "fr"\ncolour = "blue"\n')
    assert error() == (
        "3 problems in the settings:\n"
        '  aidflow.toml: lang = "fr" is not one of zh, en\n'
        "    hint: correct it in aidflow.toml, or remove the line for the default\n"
        "  aidflow.toml: payment_day = 0 is not a day from 1 to 28\n"
        "    hint: correct it in aidflow.toml, or remove the line for the default\n"
        "  aidflow.toml: unknown key 'colour'\n"
        "    hint: the keys are " + ", ".join(FILE_KEYS)
    )


def test_a_file_that_is_not_toml(tmp_path: Path) -> None:
    write(tmp_path / "aidflow.toml", "tz = \n")
    assert error() == (
        "aidflow.toml: not valid TOML: Invalid value (at line 1, column 6)\n"
        '  hint: write one setting per line as key = "value" (see the README, Configuration)'
    )


def test_a_bad_variable_or_option_is_named_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDFLOW_SMTP_PORT", "smtp")
    assert error() == "AIDFLOW_SMTP_PORT='smtp' is not a port number"
    monkeypatch.delenv("AIDFLOW_SMTP_PORT")
    monkeypatch.setenv("AIDFLOW_TZ", "Mars/Olympus")
    assert error() == (
        "AIDFLOW_TZ='Mars/Olympus' is not a known time zone\n"
        "  hint: write an IANA name such as Asia/Shanghai"
    )
    assert load_settings({"tz": "UTC"}).tz == "UTC"  # the option wins; the variable is not read
    result = aidflow("--config", "nowhere.toml", "case", "list")
    assert (result.exit_code, result.stderr) == (
        3,
        "error: config file nowhere.toml does not exist\n"
        "  hint: check --config, or write one with `aidflow init DIR`\n",
    )


# --- aidflow init and the county directory ------------------------------------------------------


def test_init_copies_the_shipped_files_and_the_config_names_them(tmp_path: Path) -> None:
    result = aidflow("init", "county")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "created county/workflows/\ncreated county/notifications/\ncreated county/aidflow.toml\n"
        "next: aidflow --config county/aidflow.toml workflow validate\n"
        "then: aidflow --config county/aidflow.toml db upgrade "
        "(add --training for a training database, where writes may take --now)\n"
    )
    shipped = REPO / "src" / "aidflow" / "shipped"
    for name in ("workflows", "notifications"):
        copied = sorted(
            p.relative_to(tmp_path / "county") for p in (tmp_path / "county" / name).rglob("*")
        )
        assert copied == sorted(p.relative_to(shipped) for p in (shipped / name).rglob("*"))
    s = load_settings({"config_file": "county/aidflow.toml"})
    county = (tmp_path / "county").resolve()
    assert (s.workflows_dir, s.notifications_dir) == (
        county / "workflows",
        county / "notifications",
    )

    # the county's own copy is what commands read: break it and validate says so
    dibao = tmp_path / "county" / "workflows" / "dibao.yaml"
    dibao.write_text(
        dibao.read_text(encoding="utf-8").replace("initial: true", "initial: maybe", 1),
        encoding="utf-8",
    )
    result = aidflow("--config", "county/aidflow.toml", "workflow", "validate")
    assert result.exit_code == 3
    assert str(county / "workflows" / "dibao.yaml") in result.stdout
    result = aidflow("workflow", "validate")  # no config file here: the shipped workflows
    assert (result.exit_code, result.stdout) == (0, "3 file(s) valid\n")


def test_init_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    write(tmp_path / "county" / "notes.txt", "mine\n")
    result = aidflow("init", "county")
    assert (result.exit_code, result.stderr) == (
        3,
        "error: county is not empty\n"
        "  hint: give a new or empty directory; `aidflow init` never overwrites files\n",
    )
    assert [p.name for p in (tmp_path / "county").iterdir()] == ["notes.txt"]


def test_the_readme_documents_every_setting() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("### Configuration")
    section = text[start : text.index("\n## ", start)]
    for key in FILE_KEYS:
        assert f"`{key}`" in section, key
    for var in ENVIRONMENT.values():
        assert f"`{var}`" in section, var
    for option in OPTIONS.values():
        assert f"`{option}`" in section, option
    assert set(ENVIRONMENT) == {f.name for f in fields(Settings)} - {"given"}


# --- the county's time zone in emails ---------------------------------------------------------


def test_tz_moves_the_times_printed_in_a_preview() -> None:
    shanghai = aidflow("notify", "preview", "escalation")
    utc = aidflow("--tz", "UTC", "notify", "preview", "escalation")
    assert "Was due:     2023-08-01 17:30\n" in shanghai.stdout
    assert "Was due:     2023-08-01 09:30\n" in utc.stdout


def test_tz_moves_the_times_in_an_email_rendered_at_delivery(
    world: World, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deadline reminder queued by the sweep and rendered by `scheduler tick` prints its
    deadline in the zone of --tz, as `case show` does."""

    def setup(svc: object) -> None:
        for name, roles, area in SUPERVISORS:
            svc.add_user("admin", name, roles, area, f"{name}@county.example")  # type: ignore[attr-defined]

    world.run(setup)
    in_investigation(world)
    world.clock.advance(timedelta(days=12))
    assert sweep(world) == 2  # two reminders, queued unrendered
    monkeypatch.setenv("AIDFLOW_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("AIDFLOW_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("AIDFLOW_SMTP_SECURITY", "none")
    monkeypatch.setenv("AIDFLOW_SMTP_FROM", "aidflow@county.example")
    url = world.engine.url.render_as_string(hide_password=False)
    now = world.clock.now().isoformat()
    result = aidflow("--db", url, "--now", now, "--tz", "America/New_York", "scheduler", "tick")
    assert result.exit_code == 0, result.output
    with world.session() as s:
        (due_at,) = s.scalars(select(Case.deadline_at))
        texts = [m.text or "" for m in s.scalars(select(OutboxMessage))]
    new_york = due_at.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M")
    shanghai = due_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert new_york != shanghai
    reminders = [t for t in texts if "Due:" in t]
    assert len(reminders) == 2
    # the investigation's deadline counts working days: shown as its last day, in that zone
    from aidflow.engine.deadlines import Due, show_due

    last_day = show_due(Due(due_at, True), "en", ZoneInfo("America/New_York"))
    assert all(f"Due:         {last_day} (" in t and shanghai not in t for t in reminders)
