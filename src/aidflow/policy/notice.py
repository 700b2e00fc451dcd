"""The public notice's policy file (`workflows/policy/notice.yaml`): which states put a
case in notice, which case field holds the proposed amount, and the objection channel
every notice prints (L21 §19, T21 §15: anyone may object during the notice).

Read strictly; every problem is reported at once with file:line:col. A county without
the file, or without a telephone and address to object to, gets an error that says what
to write where: a notice that does not say how to object is not a notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aidflow.errors import InvalidInputError, WorkflowInvalidError
from aidflow.i18n import _
from aidflow.language.yamlfile import read_yaml_file
from aidflow.policy.report import _keys, _name, _names


@dataclass(frozen=True)
class NoticePolicy:
    file: str
    states: dict[str, tuple[str, ...]]  # workflow -> states in notice
    amount_field: str
    phone: str
    address: str


def load_notice_policy(path: str | Path) -> NoticePolicy:
    """Read notice.yaml; InvalidInputError when it is missing, WorkflowInvalidError with
    every problem (file:line:col) when it is wrong."""
    if not Path(path).is_file():
        raise InvalidInputError(
            _("{path}: the public-notice policy file is missing", path=path),
            hint=_(
                "copy notice.yaml from the shipped workflows/policy/ (`aidflow init`) and "
                "write the county's objection telephone and address under `objection:`"
            ),
        )
    doc = read_yaml_file(path)
    data = _keys(doc, doc.data, (), ("states", "amount_field", "objection"))
    states: dict[str, tuple[str, ...]] = {}
    raw = data.get("states")
    if not isinstance(raw, dict) or not raw:
        doc.problem(("states",), _("expected a mapping of workflow names to lists of states"))
        raw = {}
    for name, listed in raw.items():
        states[str(name)] = _names(doc, listed, ("states", name))
    channel = _keys(doc, data.get("objection"), ("objection",), ("phone", "address"))
    hint = _("write the office that takes objections: its telephone and its address")
    for key in ("phone", "address"):
        value = channel.get(key)
        if key in channel and (not isinstance(value, str) or not value.strip()):
            doc.problem(
                ("objection", key), _("expected the objection {key} as text", key=key), hint
            )
    policy = NoticePolicy(
        str(path),
        states,
        _name(doc, data.get("amount_field"), ("amount_field",)),
        str(channel.get("phone") or "").strip(),
        str(channel.get("address") or "").strip(),
    )
    if doc.problems:
        raise WorkflowInvalidError(doc.problems)
    return policy
