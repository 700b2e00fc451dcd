"""The county directory: where the workflows, the policy files and the email templates are.

aidflow ships a county's worth of them as package data (`aidflow/shipped/`: `workflows/`,
`workflows/policy/`, `notifications/`), so an installed wheel works from any directory.
A county edits its own copy: `create_county_directory` (the `aidflow init DIR` command)
copies the shipped files into DIR and writes DIR/aidflow.toml naming them; the settings
(`workflows_dir`, `notifications_dir`, `calendar_file`, `care_visits_file`) then point
`County.of` at that copy. Whatever is not named falls back as documented on `County.of`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from aidflow.errors import InvalidInputError, UnavailableError
from aidflow.i18n import _

CONFIG_TEXT = """\
# aidflow settings for this county (the README's "Configuration" section lists every key).
# Relative paths are relative to this file's directory. Command-line options and AIDFLOW_*
# environment variables win over what is written here.

workflows_dir = "workflows"          # the programmes; policy files in workflows/policy/
notifications_dir = "notifications"  # the email templates

# database_url = "county.db"        # a SQLite file here, or postgresql://USER@HOST/DB
# tz = "Asia/Shanghai"
"""


def shipped(name: str) -> Path:
    """The directory `name` (workflows, notifications) shipped inside the aidflow package."""
    root = resources.files("aidflow") / "shipped" / name
    if not isinstance(root, Path) or not root.is_dir():  # e.g. run from a zip archive
        raise UnavailableError(
            _("the shipped {name}/ directory is not on disk ({root})", name=name, root=root),
            hint=_("install aidflow from its wheel with pip, unpacked"),
        )
    return root


@dataclass(frozen=True)
class County:
    """The files one county runs on."""

    workflows: Path
    notifications: Path
    calendar_file: Path
    care_visits_file: Path

    @classmethod
    def of(
        cls,
        workflows: Path | None = None,
        notifications: Path | None = None,
        calendar_file: Path | None = None,
        care_visits_file: Path | None = None,
    ) -> County:
        """The county with these files; each one not given is the shipped one, and the
        calendar and care-visit policy default to their place under `workflows/policy/`."""
        workflows = workflows if workflows is not None else shipped("workflows")
        policy = workflows / "policy"
        return cls(
            workflows=workflows,
            notifications=notifications if notifications is not None else shipped("notifications"),
            calendar_file=calendar_file if calendar_file is not None else policy / "calendar.yaml",
            care_visits_file=care_visits_file
            if care_visits_file is not None
            else policy / "care_visits.yaml",
        )

    @property
    def policy(self) -> Path:
        """The policy files: standards.yaml, import_mappings.yaml, target_groups.yaml, ..."""
        return self.workflows / "policy"

    @property
    def import_mappings_file(self) -> Path:
        return self.policy / "import_mappings.yaml"

    @property
    def case_import_file(self) -> Path:
        return self.policy / "case_import.yaml"

    @property
    def target_groups_file(self) -> Path:
        return self.policy / "target_groups.yaml"

    @property
    def report_file(self) -> Path:
        return self.policy / "report.yaml"

    @property
    def notice_file(self) -> Path:
        return self.policy / "notice.yaml"


def create_county_directory(directory: Path) -> list[Path]:
    """Copy the shipped workflows, policy files and templates into `directory` and write its
    aidflow.toml; returns what was created. A directory that holds anything is refused
    (InvalidInputError) and left as it was: init never overwrites a county's files."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InvalidInputError(
            _("{directory} is not empty", directory=directory)
            if directory.is_dir()
            else _("{directory} exists and is not a directory", directory=directory),
            hint=_("give a new or empty directory; `aidflow init` never overwrites files"),
        )
    directory.mkdir(parents=True, exist_ok=True)
    created = []
    for name in ("workflows", "notifications"):
        shutil.copytree(shipped(name), directory / name)
        created.append(directory / name)
    config = directory / "aidflow.toml"
    config.write_text(CONFIG_TEXT, encoding="utf-8")
    created.append(config)
    return created
