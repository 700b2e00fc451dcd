"""The survey ledger (工作台账): one row per person with programmes, payments and visits.

Persons are read in pages ordered by township, village and id (keyset pagination, so
memory stays flat however large the county), each page with one query each for its
cases, paid totals, this month's visits and list sources (aidflow.store.ledger). The
rows are written as XLSX or CSV by aidflow.files.ledger. Values are words in the reader's
language, not codes: 男/女, 农村/城镇, the programme's and the step's labels, deadlines as
engine.deadlines shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aidflow.engine.access import Actor
from aidflow.engine.deadlines import Due, counts_working_days, show_due
from aidflow.i18n import N_, _, language, use_language
from aidflow.idnumber import mask
from aidflow.language.definition import Workflow
from aidflow.policy.mappings import source_label
from aidflow.store import ledger, persons, workflows
from aidflow.store.records import CaseRecord, PersonRecord
from aidflow.store.session import Session


@dataclass(frozen=True)
class LedgerOptions:
    now: datetime
    tz: ZoneInfo
    township: str | None = None
    show_id: bool = False
    lang: str = "en"


# code -> the word shown, for the person columns written as words (the catalog's messages);
# `person show` reads them too
PERSON_WORDS: dict[str, dict[str, str]] = {
    "sex": {"M": N_("male"), "F": N_("female")},
    "hukou": {"rural": N_("rural"), "urban": N_("urban")},
    "disability_type": {
        "physical": N_("physical"),
        "visual": N_("visual"),
        "hearing": N_("hearing"),
        "speech": N_("speech"),
        "intellectual": N_("intellectual"),
        "mental": N_("mental"),
        "multiple": N_("multiple"),
    },
}


def _word(column: str, code: str) -> str:
    """The word for `code` in the current language; a code the table does not know, as is."""
    found = PERSON_WORDS[column].get(code)
    return code if found is None else _(found)


def _month_bounds(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    local = now.astimezone(tz)
    start = datetime(local.year, local.month, 1, tzinfo=tz)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following


def ledger_rows(session: Session, actor: Actor, opts: LedgerOptions) -> Iterator[dict[str, Any]]:
    """One dict per person in the actor's area (keys: aidflow.files.ledger.KEYS), ordered by
    township, village and id."""
    today = opts.now.astimezone(opts.tz).date()
    month_start, month_end = _month_bounds(opts.now, opts.tz)
    definitions: dict[int, Workflow] = {}

    def workflow(vid: int) -> Workflow:
        if vid not in definitions:
            definitions[vid] = workflows.definition(session, vid)
        return definitions[vid]

    for page in persons.persons_in_pages(session, actor.scope, opts.township):
        facts = ledger.ledger_facts(session, [p.id for p in page], month_start, month_end)
        for p in page:
            # the language is set per row, not around the loop: a generator's context
            # change would stay in force for its consumer between rows
            with use_language(opts.lang):
                row = _words(
                    p,
                    facts.cases.get(p.id, []),
                    facts.paid.get(p.id),
                    facts.visits.get(p.id, {}),
                    facts.sources.get(p.id, set()),
                    today,
                    opts,
                    workflow,
                )
            yield row


def _words(
    p: PersonRecord,
    cases: list[CaseRecord],
    paid: tuple[int, str] | None,
    visits: dict[str, int],
    sources: set[str],
    today: date,
    opts: LedgerOptions,
    workflow: Callable[[int], Workflow],
) -> dict[str, Any]:
    lang = opts.lang
    open_cases = [c for c in cases if c.closed_at is None]
    overdue = [c for c in open_cases if c.deadline_at is not None and c.deadline_at < opts.now]
    age = (
        today.year
        - p.birth_date.year
        - ((today.month, today.day) < (p.birth_date.month, p.birth_date.day))
    )
    disability = ""
    if p.disability_grade is not None:
        grade = _("grade {grade}", grade=p.disability_grade)
        kind = _word("disability_type", p.disability_type) if p.disability_type else ""
        disability = grade + (f" {kind}" if kind else "")

    def programme(c: CaseRecord) -> str:
        wf = workflow(c.workflow_version_id)
        st = wf.states.get(c.state)
        return f"{wf.labels.get(lang)} #{c.id}: {st.labels.get(lang) if st else c.state}"

    def deadline(c: CaseRecord, at: datetime) -> str:
        wd = counts_working_days(workflow(c.workflow_version_id), c.state, at, opts.tz)
        return f"#{c.id}: {show_due(Due(at, wd), lang, opts.tz)}"

    return {
        "township": p.township,
        "village": p.village,
        "name": p.name,
        "id_number": p.id_number if opts.show_id else mask(p.id_number),
        "sex": _word("sex", p.sex),
        "age": age,
        "hukou": _word("hukou", p.hukou),
        "disability": disability,
        "mental_illness": _("yes") if p.mental_illness else "",
        "sources": _list(sorted(source_label(code) for code in sources)),
        "programmes": "; ".join(programme(c) for c in cases),
        "deadlines": "; ".join(
            deadline(c, c.deadline_at) for c in open_cases if c.deadline_at is not None
        ),
        "overdue": ", ".join(f"#{c.id}" for c in overdue),
        "paid_total": (Decimal(paid[0]) / 100).quantize(Decimal("0.01"))
        if paid
        else Decimal("0.00"),
        "last_paid_period": paid[1] if paid else "",
        "visits": visits.get("visit", 0),
        "cleanings": visits.get("cleaning", 0),
        "haircuts": visits.get("haircut", 0),
    }


def _list(words: list[str]) -> str:
    """Words in a cell: "、" between them in Chinese, ", " in English."""
    return ("、" if language() == "zh" else ", ").join(words)
