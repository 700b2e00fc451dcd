"""The case-ledger mapping (workflows/policy/case_import.yaml): how a ledger's columns become
cases (`aidflow case import --mapping FILE` names another file of the same shape).

    columns:
      身份证号: id_number                       # a person field (aidflow.policy.mappings)
      状态: state                               # a field of the import (IMPORT_FIELDS)
      保障金额: amount                          # a field of the workflow, by name
      基本生活费: amount.basic_living_allowance # the ledger's monthly figure of a payment kind
      自理能力: {field: self_care, values: {全自理: full, 半护理: partial, 全护理: none}}

    waived:                                     # required fields a ledger cannot know
      sample_seed: "the spot-check draws were made before aidflow"

A target that is neither a person field, an import field nor `amount.KIND` names a field of
the workflow imported; a column whose header a file lacks is simply absent (one file
serves the dibao and the tekun ledgers). Every problem in the file is reported at once,
with its line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from aidflow.errors import WorkflowInvalidError
from aidflow.i18n import _
from aidflow.language.yamlfile import Document, read_yaml, read_yaml_file
from aidflow.policy.mappings import FIELDS as PERSON_FIELDS
from aidflow.policy.mappings import REQUIRED as PERSON_REQUIRED
from aidflow.policy.mappings import Column

# what a ledger row says about its case besides the workflow's own fields
IMPORT_FIELDS: tuple[str, ...] = (
    "state",  # the state's name or its Chinese label
    "accepted_on",  # 受理日期
    "approved_on",  # 审批日期
    "entered_on",  # the day the case entered its current state
    "next_review",  # 下次复核日期
    "last_paid",  # 末次发放月份: the last month the old process paid
    "account",  # the account payments go to
    "notes",  # 备注
)
REQUIRED: tuple[str, ...] = (*PERSON_REQUIRED, "state")
KIND_PREFIX = "amount."
_TARGET = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")


def default_case_mapping_path(workflows_dir: Path) -> Path:
    return workflows_dir / "policy" / "case_import.yaml"


@dataclass(frozen=True)
class CaseMapping:
    file: str
    columns: tuple[Column, ...]
    waived: dict[str, str]  # field -> why a ledger row need not state it

    def person_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.field in PERSON_FIELDS)


def load_case_mapping(path: str | Path) -> CaseMapping:
    """Read a case-ledger mapping file strictly; every problem is reported at once."""
    return _mapping(read_yaml_file(path), path)


def case_mapping_from_text(text: str, file: str) -> CaseMapping:
    """A mapping sent as text (`--mapping FILE` from a client)."""
    return _mapping(read_yaml(text, file), file)


def _mapping(doc: Document, path: str | Path) -> CaseMapping:
    data = doc.data if isinstance(doc.data, dict) else {}
    if doc.data is not None and not isinstance(doc.data, dict):
        doc.problem((), _("expected a mapping with the key columns"))
    for key in data:
        if key not in ("columns", "waived"):
            doc.problem(
                (key,),
                _("unknown key '{key}'", key=key),
                _("the keys are columns and waived"),
                key=True,
            )
    waived: dict[str, str] = {}
    raw_waived = data.get("waived") or {}
    if not isinstance(raw_waived, dict):
        doc.problem(("waived",), _("expected a mapping of field -> reason"))
        raw_waived = {}
    for name, reason in raw_waived.items():
        if not isinstance(reason, str) or not reason.strip():
            doc.problem(("waived", str(name)), _("waiving {name} needs a reason", name=name))
            continue
        waived[str(name)] = reason.strip()
    cols = data.get("columns")
    columns: list[Column] = []
    if not isinstance(cols, dict) or not cols:
        doc.problem(("columns",), _("expected a mapping of column headers to fields"))
        cols = {}
    for header, target in cols.items():
        at: tuple[str, ...] = ("columns", str(header))
        values: dict[str, object] = {}
        if isinstance(target, dict):
            values = target.get("values") or {}
            target = target.get("field")
            if not isinstance(values, dict):
                doc.problem(at + ("values",), _("expected a mapping of text -> value"))
                values = {}
        if not isinstance(target, str) or not _TARGET.match(target):
            doc.problem(
                at,
                _("{target!r} is not a field name", target=target),
                _(
                    "write a person field, one of {fields}, a workflow field, or amount.KIND",
                    fields=", ".join(IMPORT_FIELDS),
                ),
            )
            continue
        columns.append(Column(str(header), target, {str(k): v for k, v in values.items()}))
    names = {c.field for c in columns}
    missing = [f for f in REQUIRED if f not in names]
    if cols and missing:
        doc.problem(
            ("columns",),
            _("no column maps to the required field(s) {fields}", fields=", ".join(missing)),
        )
    if doc.problems:
        raise WorkflowInvalidError(doc.problems)
    return CaseMapping(str(path), tuple(columns), waived)
