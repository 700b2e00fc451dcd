"""The import mapping file (workflows/policy/import_mappings.yaml): how lists become persons.

A county edits this file when a department changes its spreadsheet; nothing about a list's
columns is in code. It says who may import (`access.import`) and who may see full ID
numbers in the ledger (`access.show_id`), which mapping each source uses by default
(`sources`), and per mapping which column header fills which person field, with optional
`values` that translate a list's own words (农业 -> rural). Every problem in the file is
reported at once, with its line and column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aidflow.errors import InvalidInputError, WorkflowInvalidError, did_you_mean
from aidflow.i18n import N_, _, pick
from aidflow.language.yamlfile import read_yaml_file

# the person fields a list may fill
FIELDS: tuple[str, ...] = (
    "id_number",
    "name",
    "township",
    "village",
    "hukou",
    "birth_date",
    "disability_grade",
    "disability_type",
    "mental_illness",
    "registered_poor",
    "living_alone",
    "supporter_able",
)
# the person fields' words in Chinese (the usual column headers); in English the field's name
_FIELD_WORDS: dict[str, str] = {
    "id_number": "身份证号",
    "name": "姓名",
    "township": "乡镇",
    "village": "村",
    "hukou": "户籍性质",
    "birth_date": "出生日期",
    "disability_grade": "残疾等级",
    "disability_type": "残疾类别",
    "mental_illness": "精神疾病",
    "registered_poor": "建档立卡",
    "living_alone": "独居",
    "supporter_able": "赡养人有能力",
}


# the lists a person can be found in (this file's sources, and the case import's ledger)
_SOURCE_WORDS: dict[str, str] = {
    "civil_affairs": N_("civil affairs"),
    "health": N_("health"),
    "disabled_federation": N_("disabled persons' federation"),
    "case_ledger": N_("case ledger"),
}


def source_label(source: str) -> str:
    """A list's source as the reader calls it (民政, 卫健, 残联); an unknown one as is."""
    found = _SOURCE_WORDS.get(source)
    return source if found is None else _(found)


def field_label(field: str) -> str:
    """A person field as the reader calls it: its name in English, its words in Chinese."""
    return pick(field, _FIELD_WORDS.get(field, ""))


# every mapping fills these, and every row states them

REQUIRED: tuple[str, ...] = ("id_number", "name", "township", "village")


def default_mappings_path(workflows_dir: Path) -> Path:
    return workflows_dir / "policy" / "import_mappings.yaml"


@dataclass(frozen=True)
class Column:
    """One column of a list: its header, the person field it fills, its words' values."""

    header: str
    field: str
    values: dict[str, Any]


@dataclass(frozen=True)
class Mapping:
    """A named set of columns (one department's spreadsheet)."""

    name: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class ImportPolicy:
    """The whole file: mappings, each source's default mapping, and the roles of `access`."""

    file: str
    mappings: dict[str, Mapping]
    sources: dict[str, str]  # source -> default mapping name
    import_roles: tuple[str, ...]
    show_id_roles: tuple[str, ...]

    def mapping_for(self, source: str, name: str | None) -> Mapping:
        """The mapping named `name`, else the source's default; InvalidInputError if unknown."""
        if source not in self.sources:
            known = pick(
                ", ".join(self.sources),
                "、".join(f"`{s}`（{source_label(s)}）" for s in self.sources),
            )
            hint = did_you_mean(source, self.sources) or _("sources: {sources}", sources=known)

            raise InvalidInputError(
                _("unknown source '{source}' (declared in {file})", source=source, file=self.file),
                hint=hint,
            )
        wanted = name or self.sources[source]
        if wanted not in self.mappings:
            hint = did_you_mean(wanted, self.mappings) or _(
                "mappings: {mappings}", mappings=", ".join(self.mappings)
            )
            raise InvalidInputError(
                _("no mapping named '{name}' in {file}", name=wanted, file=self.file), hint=hint
            )
        return self.mappings[wanted]


def load_import_policy(path: str | Path) -> ImportPolicy:
    """Read import_mappings.yaml strictly; every problem is reported at once."""
    doc = read_yaml_file(path)
    data = doc.data if isinstance(doc.data, dict) else {}
    if doc.data is not None and not isinstance(doc.data, dict):
        doc.problem((), _("expected a mapping with keys access, sources and mappings"))
    for key in data:
        if key not in ("access", "sources", "mappings"):
            doc.problem(
                (key,),
                _("unknown key '{key}'", key=key),
                did_you_mean(key, ("access", "sources", "mappings")),
                key=True,
            )
    access = data.get("access") or {}
    roles: dict[str, tuple[str, ...]] = {}
    for key in ("import", "show_id"):
        value = access.get(key) if isinstance(access, dict) else None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            doc.problem(("access", key), _("expected a list of role names"))
            value = []
        roles[key] = tuple(value)
    mappings: dict[str, Mapping] = {}
    raw_mappings = data.get("mappings")
    if not isinstance(raw_mappings, dict) or not raw_mappings:
        doc.problem(("mappings",), _("expected a mapping of mapping names to their columns"))
        raw_mappings = {}
    for mname, spec in raw_mappings.items():
        cols = spec.get("columns") if isinstance(spec, dict) else None
        if not isinstance(cols, dict) or not cols:
            doc.problem(
                ("mappings", mname, "columns"), _("expected a mapping of column headers to fields")
            )
            continue
        columns: list[Column] = []
        for header, target in cols.items():
            at: tuple[str, ...] = ("mappings", str(mname), "columns", str(header))
            values: dict[str, Any] = {}
            if isinstance(target, dict):
                values = target.get("values") or {}
                target = target.get("field")
                if not isinstance(values, dict):
                    doc.problem(at + ("values",), _("expected a mapping of text -> value"))
                    values = {}
            if target not in FIELDS:
                doc.problem(
                    at,
                    _("unknown person field {target!r}", target=target),
                    did_you_mean(str(target), FIELDS)
                    or _("fields: {fields}", fields=", ".join(FIELDS)),
                )
                continue
            columns.append(Column(str(header), str(target), {str(k): v for k, v in values.items()}))
        names = [c.field for c in columns]
        for required in REQUIRED:
            if required not in names:
                doc.problem(
                    ("mappings", mname, "columns"),
                    _("no column maps to the required field {field}", field=required),
                )
        mappings[str(mname)] = Mapping(str(mname), tuple(columns))
    sources: dict[str, str] = {}
    raw_sources = data.get("sources")
    if not isinstance(raw_sources, dict) or not raw_sources:
        doc.problem(("sources",), _("expected a mapping of source -> mapping name"))
        raw_sources = {}
    for source, mname in raw_sources.items():
        if mname not in raw_mappings:
            doc.problem(
                ("sources", source),
                _("unknown mapping {mapping!r}", mapping=mname),
                did_you_mean(str(mname), raw_mappings),
            )
        sources[str(source)] = str(mname)
    if doc.problems:
        raise WorkflowInvalidError(doc.problems)
    return ImportPolicy(str(path), mappings, sources, roles["import"], roles["show_id"])
