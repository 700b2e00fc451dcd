"""The county report rendered: plain text, a self-contained HTML page, an XLSX workbook.

Each takes the report's JSON (aidflow.services.report, format aidflow.report/1) and the
language; the figures' labels and sources come from the report's own `figures` notes, so
every rendering says the same thing. The HTML page is one file a supervisor can open or
mail: inline CSS, inline SVG bar charts, no script and no external URL (county intranets
have no internet). The template ships in the package (`shipped/reports/county.html`).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment

WORDS = {
    "title": {"zh": "特困群体精准帮扶工作报告", "en": "County assistance report"},
    "period": {"zh": "统计期间", "en": "Period"},
    "area": {"zh": "范围", "en": "Area"},
    "generated": {"zh": "生成时间", "en": "Generated"},
    "total": {"zh": "合计", "en": "Total"},
    "township": {"zh": "乡镇", "en": "Township"},
    "notes": {"zh": "指标说明", "en": "Notes: what each figure counts"},
    "count": {"zh": "数量", "en": "count"},
    "oldest": {"zh": "最早到期", "en": "oldest deadline"},
    "median": {"zh": "中位数(小时)", "en": "median (h)"},
    "p90": {"zh": "90分位(小时)", "en": "90th percentile (h)"},
    "over": {"zh": "超过时限", "en": "over the goal"},
    "goal": {"zh": "目标", "en": "goal"},
    "rate": {"zh": "集中供养率", "en": "rate"},
    "unable": {"zh": "生活不能自理人数", "en": "unable to care for themselves"},
    "centralized": {"zh": "集中供养人数", "en": "centralized"},
    "found": {"zh": "发现", "en": "found"},
    "closed": {"zh": "已解决", "en": "closed"},
    "required": {"zh": "应做", "en": "required"},
    "made": {"zh": "已做", "en": "made"},
    "months": {"zh": "统计月份", "en": "months counted"},
    "amount": {"zh": "金额(元)", "en": "amount (yuan)"},
    "paid": {"zh": "已到账(元)", "en": "paid (yuan)"},
    "none": {"zh": "无", "en": "none"},
    "by_step": {"zh": "按环节", "en": "by step"},
    "chart_overdue": {"zh": "各乡镇超期案件", "en": "Overdue cases by township"},
    "chart_central": {
        "zh": "各乡镇集中供养率（目标线 {goal}）",
        "en": "Centralized-support rate by township (goal line {goal})",
    },
    "chart_visits": {"zh": "各乡镇照料走访完成率", "en": "Care visits made, share of required"},
    "chart_emergency": {
        "zh": "各乡镇急难救助超时件数",
        "en": "Emergencies helped later than the goal, by township",
    },
}


def word(key: str, lang: str) -> str:
    return WORDS[key]["zh" if lang == "zh" else "en"]


def _hours(h: float | None) -> str:
    return "-" if h is None else f"{h:.1f}"


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def summary(name: str, value: Any, report: dict[str, Any]) -> str:
    """One figure's value as a line of text (text output and HTML), with the programmes,
    steps and care kinds named by the report's labels in its language."""
    lang = report["lang"]
    kinds: dict[str, str] = report.get("kinds") or {}
    flows: dict[str, Any] = report.get("workflows") or {}

    def programme(wf: str) -> str:
        return str(flows.get(wf, {}).get("label") or wf)

    def step(wf: str, state: str) -> str:
        return str(flows.get(wf, {}).get("states", {}).get(state) or state)

    def w(key: str) -> str:
        return word(key, lang)

    if name == "cases_by_state":
        parts = [
            f"{programme(wf)}: "
            + ", ".join(f"{step(wf, st)} {n}" for st, n in sorted(states.items()))
            for wf, states in sorted(value.items())
        ]
        return "; ".join(parts) or w("none")
    if name in ("opened", "approved", "rejected", "closed"):
        return str(value)
    if name == "overdue":
        steps = ", ".join(
            f"{programme(s.split('/')[0])}/{step(*s.split('/', 1))} {n}"
            for s, n in value["by_step"].items()
        )
        oldest = (value["oldest_deadline"] or "-")[:16].replace("T", " ")
        text = f"{value['count']}; {w('oldest')} {oldest}"
        return text + (f"; {w('by_step')}: {steps}" if steps else "")
    if name == "emergency_response":
        return (
            f"{w('count')} {value['count']}; {w('median')} {_hours(value['median_hours'])}; "
            f"{w('p90')} {_hours(value['p90_hours'])}; {w('over')} {value['goal_hours']}h: "
            f"{value['over_goal']}"
        )
    if name == "care_visits":
        made = "; ".join(
            f"{kinds.get(k) or k} {v['made']}/{v['required']}" for k, v in value["by_kind"].items()
        )
        return made or w("none")
    if name == "centralized_support":
        return (
            f"{value['centralized']}/{value['unable_self_care']} = {_pct(value['rate'])} "
            f"({w('goal')} {_pct(value['goal'])})"
        )
    if name == "lookback":
        return f"{w('found')} {value['found']}, {w('closed')} {value['closed']}"
    if name == "payments":
        parts = [
            f"{kind} {v['count']} / {_yuan(v['amount_fen'])} ({w('paid')} {_yuan(v['paid_fen'])})"
            for kind, v in sorted(value.items())
        ]
        return "; ".join(parts) or w("none")
    raise AssertionError(name)  # a figure with no text: a bug


def _sections(report: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield word("total", report["lang"]), report["total"]
    yield from report["townships"].items()


def render_text(report: dict[str, Any]) -> str:
    lang = report["lang"]
    period = report["period"]
    lines = [
        f"{word('title', lang)}  {word('period', lang)} {period['from']} - {period['to']}  "
        f"{word('area', lang)} {report['area']}",
        f"{word('months', lang)}: {', '.join(report['care_months']) or word('none', lang)}",
    ]
    for name, values in _sections(report):
        lines.append("")
        lines.append(f"== {name} ==")
        for f in report["figures"]:
            text = summary(f["name"], values[f["name"]], report)
            lines.append(f"  {f['label']}: {text}")
    lines.append("")
    lines.append(f"{word('notes', lang)}:")
    for i, f in enumerate(report["figures"], 1):
        lines.append(f"  [{i}] {f['label']}: {f['source']}")
    return "\n".join(lines) + "\n"


def _bars(
    items: list[tuple[str, float, str]], maximum: float, goal: float | None = None
) -> dict[str, Any]:
    """Geometry of a horizontal bar chart: one bar per (label, value, shown text)."""
    width, row, left = 520, 22, 130
    scale = (width - left - 60) / maximum if maximum > 0 else 0
    bars = [
        {"label": label, "y": i * row, "w": max(value * scale, 0), "text": text}
        for i, (label, value, text) in enumerate(items)
    ]
    goal_x = left + goal * scale if goal is not None else None
    return {
        "width": width,
        "height": max(len(items), 1) * row + 4,
        "left": left,
        "bars": bars,
        "goal_x": goal_x,
    }


def charts(report: dict[str, Any]) -> list[dict[str, Any]]:
    lang = report["lang"]
    towns = report["townships"]
    overdue = [
        (t, float(v["overdue"]["count"]), str(v["overdue"]["count"])) for t, v in towns.items()
    ]
    central = [
        (t, v["centralized_support"]["rate"] or 0.0, _pct(v["centralized_support"]["rate"]))
        for t, v in towns.items()
    ]
    visits = []
    for t, v in towns.items():
        kinds = v["care_visits"]["by_kind"].values()
        required = sum(k["required"] for k in kinds)
        made = sum(k["made"] for k in kinds)
        share = made / required if required else None
        visits.append((t, share or 0.0, _pct(share)))
    late = [
        (t, float(v["emergency_response"]["over_goal"]), str(v["emergency_response"]["over_goal"]))
        for t, v in towns.items()
    ]
    goal = report["total"]["centralized_support"]["goal"]
    return [
        {
            "title": word("chart_overdue", lang),
            **_bars(overdue, max([x[1] for x in overdue] + [1])),
        },
        {"title": word("chart_central", lang).format(goal=_pct(goal)), **_bars(central, 1.0, goal)},
        {"title": word("chart_visits", lang), **_bars(visits, 1.0, 1.0)},
        {"title": word("chart_emergency", lang), **_bars(late, max([x[1] for x in late] + [1]))},
    ]


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (Jinja2, autoescaped, StrictUndefined)."""
    lang = report["lang"]
    return (
        environment()
        .get_template("county.html")
        .render(
            report=report,
            lang=lang,
            w=lambda key: word(key, lang),
            summary=lambda name, value: summary(name, value, report),
            sections=list(_sections(report)),
            charts=charts(report),
        )
    )


@cache
def environment() -> Environment:
    """The Jinja2 environment of the printable pages in `shipped/reports/` (autoescaped,
    StrictUndefined: a missing value is an error, never an empty cell)."""
    from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(str(_templates())),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def _templates() -> Path:
    from importlib import resources

    root = resources.files("aidflow") / "shipped" / "reports"
    assert isinstance(root, Path), "aidflow must be installed unpacked"
    return root


def xlsx_bytes(report: dict[str, Any]) -> bytes:
    """The report as a workbook: a sheet of figures per area (one row per township), with a
    title row, a bold frozen header, column widths and number formats; and a notes sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    lang = report["lang"]
    wb = Workbook()
    ws = wb.active
    ws.title = "报告" if lang == "zh" else "Report"
    period = report["period"]
    ws["A1"] = f"{word('title', lang)}  {period['from']} - {period['to']}  ({report['area']})"
    ws["A1"].font = Font(bold=True, size=14)
    columns: list[tuple[str, Any, str | None]] = [
        (word("township", lang), lambda v: None, None),
        (f"{_label(report, 'opened')}", lambda v: v["opened"], "#,##0"),
        (f"{_label(report, 'approved')}", lambda v: v["approved"], "#,##0"),
        (f"{_label(report, 'rejected')}", lambda v: v["rejected"], "#,##0"),
        (f"{_label(report, 'closed')}", lambda v: v["closed"], "#,##0"),
        (f"{_label(report, 'overdue')}", lambda v: v["overdue"]["count"], "#,##0"),
        (
            f"{_label(report, 'emergency_response')} {word('median', lang)}",
            lambda v: v["emergency_response"]["median_hours"],
            "0.0",
        ),
        (
            f"{_label(report, 'emergency_response')} {word('p90', lang)}",
            lambda v: v["emergency_response"]["p90_hours"],
            "0.0",
        ),
        (
            f"{_label(report, 'emergency_response')} {word('over', lang)}",
            lambda v: v["emergency_response"]["over_goal"],
            "#,##0",
        ),
        (
            f"{_label(report, 'centralized_support')}",
            lambda v: v["centralized_support"]["rate"],
            "0.0%",
        ),
        (
            f"{word('unable', lang)}",
            lambda v: v["centralized_support"]["unable_self_care"],
            "#,##0",
        ),
        (
            f"{_label(report, 'lookback')} {word('found', lang)}",
            lambda v: v["lookback"]["found"],
            "#,##0",
        ),
        (
            f"{_label(report, 'lookback')} {word('closed', lang)}",
            lambda v: v["lookback"]["closed"],
            "#,##0",
        ),
    ]
    kinds = list(report["total"]["care_visits"]["by_kind"])
    for k in kinds:
        label = report["kinds"].get(k) or k
        columns.append(
            (
                f"{label} {word('made', lang)}",
                lambda v, k=k: v["care_visits"]["by_kind"][k]["made"],
                "#,##0",
            )
        )
        columns.append(
            (
                f"{label} {word('required', lang)}",
                lambda v, k=k: v["care_visits"]["by_kind"][k]["required"],
                "#,##0",
            )
        )
    pay_kinds = sorted(report["total"]["payments"])
    for kind in pay_kinds:
        columns.append(
            (
                f"{kind} {word('amount', lang)}",
                lambda v, kind=kind: v["payments"].get(kind, {}).get("amount_fen", 0) / 100,
                "#,##0.00",
            )
        )
    header_row = 3
    bold = Font(bold=True)
    for col, (title, _, _) in enumerate(columns, 1):
        cell = ws.cell(row=header_row, column=col, value=title)
        cell.font = bold
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[get_column_letter(col)].width = 14 if col > 1 else 18
    for r, (name, values) in enumerate(_sections(report), header_row + 1):
        ws.cell(row=r, column=1, value=name).font = bold if r == header_row + 1 else Font()
        for col, (_, get, fmt) in enumerate(columns[1:], 2):
            cell = ws.cell(row=r, column=col, value=get(values))
            if fmt:
                cell.number_format = fmt
    ws.freeze_panes = ws.cell(row=header_row + 1, column=2)
    notes = wb.create_sheet("说明" if lang == "zh" else "Notes")
    notes["A1"] = word("notes", lang)
    notes["A1"].font = Font(bold=True, size=14)
    for c, title in enumerate(("#", word("notes", lang).split(":")[0], "source"), 1):
        notes.cell(row=2, column=c, value=title).font = bold
    for i, f in enumerate(report["figures"], 1):
        notes.cell(row=i + 2, column=1, value=i)
        notes.cell(row=i + 2, column=2, value=f["label"])
        notes.cell(row=i + 2, column=3, value=f["source"])
    notes.column_dimensions["A"].width = 5
    notes.column_dimensions["B"].width = 34
    notes.column_dimensions["C"].width = 120
    notes.freeze_panes = "A3"
    import io

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _label(report: dict[str, Any], name: str) -> str:
    return str(next(f["label"] for f in report["figures"] if f["name"] == name))
