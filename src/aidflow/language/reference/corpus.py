"""The examples and the mistakes the reference shows, all made from one small workflow.

Each construct's example is a fragment laid over `BASE`; each mistake is a change to `BASE`
that the loader refuses. Both go through the real loader (`load_example`,
`Mistake.output`), so an example cannot drift into invalid and a message shown cannot
drift from what `aidflow workflow validate` prints. tests/test_reference.py checks that
every place the loader reports a problem is reached by some mistake here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from aidflow.errors import WorkflowInvalidError
from aidflow.i18n import _
from aidflow.language.loader import LoadedWorkflow, PolicyNames, load_workflow_text
from aidflow.language.reference.text import Lang, T, pick

EXAMPLE_FILE = "workflow.yaml"

# The names `policy.<name>` may read in the examples; a county's come from its standards file.
EXAMPLE_POLICY = PolicyNames(frozenset({"urban_dibao_standard"}), "the reference's examples")

# -- the base workflow every example and mistake starts from ----------------------------

BASE = """\
workflow: assistance
labels: {zh: 救助申请, en: Assistance application}

roles:
  caseworker: {zh: 经办人, en: Caseworker}
  officer: {zh: 审核人, en: Officer}

states:
  draft:
    labels: {zh: 草稿, en: Draft}
    initial: true
    owner: caseworker
    deadline: 3wd
  review:
    labels: {zh: 审核, en: Review}
    owner: officer
    deadline: 10wd
  approved:
    labels: {zh: 已批准, en: Approved}
    final: true
  rejected:
    labels: {zh: 不予批准, en: Rejected}
    final: true

transitions:
  - trigger: submit
    source: draft
    dest: review
    roles: [caseworker]
  - trigger: approve
    source: review
    dest: approved
    roles: [officer]
  - trigger: reject
    source: review
    dest: rejected
    roles: [officer]
"""


def _merge(base: Any, fragment: Any) -> Any:
    """`fragment` laid over `base`: mappings merge key by key; a transition replaces the
    base's one with the same trigger and is otherwise added at the end."""
    if isinstance(base, dict) and isinstance(fragment, dict):
        out = dict(base)
        for key, value in fragment.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(fragment, list):
        merged = list(base)
        for item in fragment:
            trigger = item.get("trigger") if isinstance(item, dict) else None
            at = [i for i, old in enumerate(merged) if old.get("trigger") == trigger]
            if trigger is not None and at:
                merged[at[0]] = item
            else:
                merged.append(item)
        return merged
    return fragment


def example_workflow(fragment: str) -> str:
    """The base workflow with a construct's YAML fragment laid over it, as YAML text."""
    import yaml

    data = _merge(copy.deepcopy(yaml.safe_load(BASE)), yaml.safe_load(fragment) or {})
    text: str = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    return text


def load_example(fragment: str) -> LoadedWorkflow:
    """Load an example (the base plus `fragment`) with the real loader."""
    return load_workflow_text(example_workflow(fragment), EXAMPLE_FILE, policy=EXAMPLE_POLICY)


@dataclass(frozen=True)
class Example:
    """A construct shown as a fragment added to the base workflow."""

    title: T
    text: T
    fragment: str


@dataclass(frozen=True)
class Mistake:
    """One mistake made in the base workflow: `old` (found once in BASE) replaced by `new`,
    and `append` added at the end (after the transitions: more transitions or sections).
    An empty `old` changes nothing but appends; WHOLE_FILE means `new` is the whole file."""

    what: T
    old: str
    new: str
    append: str = ""

    def source(self) -> str:
        if self.old == WHOLE_FILE:
            return self.new
        if not self.old:
            return BASE + self.append
        if BASE.count(self.old) != 1:
            raise ValueError(
                _("{text} must occur exactly once in the base workflow", text=repr(self.old))
            )
        return BASE.replace(self.old, self.new) + self.append

    def shown(self, lang: Lang) -> str:
        """The changed lines, as the reference shows them."""
        new = self.new
        if self.old and self.old != WHOLE_FILE and not new:  # a removal: show what went
            removed = pick(("# line removed: ", "# 删去了这一行："), lang)
            new = "".join(f"{removed}{line.strip()}\n" for line in self.old.splitlines())
        parts = [p.strip("\n") for p in (new, self.append) if p.strip()]
        return "\n...\n".join(parts)

    def output(self) -> list[str]:
        """What `aidflow workflow validate` prints for it (the loader's own problems)."""
        try:
            load_workflow_text(self.source(), EXAMPLE_FILE, policy=EXAMPLE_POLICY)
        except WorkflowInvalidError as exc:
            return [str(p) for p in exc.problems]
        raise ValueError(_("mistake {what} is not refused by the loader", what=repr(self.what[0])))


WHOLE_FILE = "<the whole file>"

# -- the constructs ------------------------------------------------------------------------

EXAMPLES: tuple[Example, ...] = (
    Example(
        ("Fields, notes and several source states", "字段、说明和多个起始状态"),
        (
            "`fields` declares the case's typed data; a transition lists the fields it "
            "accepts (`--field amount=1200`) and whether each is required. `note_required` "
            "makes the person acting write a reason. `source` may list several states.",
            "`fields` 声明案件的数据字段及类型；操作列出办理时可填写的字段"
            "（`--field amount=1200`）以及是否必填。`note_required` 要求办理人填写理由。"
            "`source` 可以列出多个起始状态。",
        ),
        """\
fields:
  amount: {type: decimal, labels: {zh: 救助金额, en: Amount}}
  cause: {type: str, choices: [illness, accident, disaster]}
states:
  withdrawn:
    labels: {zh: 已撤回, en: Withdrawn}
    final: true
transitions:
  - trigger: approve
    source: review
    dest: approved
    roles: [officer]
    fields:
      amount: {required: true}
      cause: {required: false}
  - trigger: withdraw
    source: [draft, review]
    dest: withdrawn
    roles: [caseworker]
    note_required: true
""",
    ),
    Example(
        ("Guards", "办理条件（guards）"),
        (
            "Every guard must hold for the action to be allowed; a refused action says which "
            "guard failed and on what value. `policy.NAME` reads a county standard.",
            "所有条件都成立时才能办理；不能办理时会说明是哪个条件、因为什么值未满足。"
            "`policy.名称` 读取本县标准。",
        ),
        """\
fields:
  amount: {type: decimal}
transitions:
  - trigger: approve
    source: review
    dest: approved
    roles: [officer]
    fields:
      amount: {required: true}
    guards:
      - person.hukou == 'rural' or person.age >= 60
      - case.amount <= 3 * policy.urban_dibao_standard
""",
    ),
    Example(
        ("Guarded routing (`routes`)", "按条件分流（`routes`）"),
        (
            "One action, several destinations: the routes are tried in order and the first "
            "whose `when` holds is taken; the last has no `when` and is taken otherwise, so "
            "exactly one is. Roles, guards and fields stay the transition's. `case show` says "
            "where the case's current data would go.",
            "一项操作，多个去向：按顺序判断，取第一个 `when` 成立的去向；最后一个不写 "
            "`when`，其他情况都走它，因此总是恰好取一个。角色、条件和字段仍写在操作上。"
            "`case show` 会显示按案件当前数据将去往哪个状态。",
        ),
        """\
fields:
  amount: {type: decimal}
states:
  county_review:
    labels: {zh: 县级审批, en: County review}
    owner: officer
    deadline: 10wd
transitions:
  - trigger: submit
    source: draft
    roles: [caseworker]
    fields:
      amount: {required: true}
    routes:
      - dest: county_review
        when: case.amount > 5000
      - dest: review
  - trigger: county_approve
    source: county_review
    dest: approved
    roles: [officer]
""",
    ),
    Example(
        ("Votes, public notice and objections", "民主评议表决、公示和异议"),
        (
            "A state with `vote` records votes; `requires_vote` lets an action through only "
            "on that result. `min_dwell` keeps the case in the state (a 7-day notice) except "
            "for the triggers under `dwell_exceptions`. `objection: true` marks an objection.",
            "带 `vote` 的状态记录表决票；`requires_vote` 只在表决结果相符时允许办理。"
            "`min_dwell` 规定最短停留时间（如公示 7 天），`dwell_exceptions` 中的操作除外。"
            "`objection: true` 表示异议。",
        ),
        """\
roles:
  village_rep: {zh: 村民代表, en: Villager representative}
states:
  review:
    min_dwell: 7d
    dwell_exceptions: [object]
    vote: {voters: village_rep, quorum: 5, threshold: 1/2, rule: more_than}
transitions:
  - trigger: approve
    source: review
    dest: approved
    roles: [officer]
    requires_vote: passed
  - trigger: reject
    source: review
    dest: rejected
    roles: [officer]
    requires_vote: failed
  - trigger: object
    source: review
    dest: draft
    roles: [caseworker]
    objection: true
    note_required: true
""",
    ),
    Example(
        ("Separation of duties and timeouts", "不相容职务分离和超期自动办理"),
        (
            "`separate_from` forbids the person who took those actions on the case from "
            "taking this one. `on_timeout` names an action the scheduler takes when the "
            "deadline passes; `system: true` marks an action only the scheduler takes.",
            "`separate_from`：在本案件中办理过所列操作的人，不得办理本操作。`on_timeout`："
            "期限届满时由系统自动办理的操作；`system: true` 表示只由系统办理的操作。",
        ),
        """\
states:
  review:
    on_timeout: expire
transitions:
  - trigger: approve
    source: review
    dest: approved
    roles: [officer, caseworker]
    separate_from: [submit]
  - trigger: expire
    source: review
    dest: rejected
    system: true
""",
    ),
    Example(
        ("Escalation ladders", "催办阶梯"),
        (
            "A ladder is a list of rungs; a state uses it with `escalation:`. Each rung "
            "notifies a role `after` a time from entering the state, or from its deadline "
            "with `relative_to: deadline`, and with `repeat` again until acknowledged.",
            "催办阶梯由若干级组成；状态用 `escalation:` 引用。每一级在进入状态后（或写 "
            "`relative_to: deadline` 时在期限届满后）经过 `after` 时长通知一个角色；"
            "写了 `repeat` 的，重复通知直到有人确认。",
        ),
        """\
roles:
  supervisor: {zh: 分管领导, en: Supervisor}
escalations:
  review_late:
    - {after: 8wd, to: officer, template: deadline_reminder}
    - {after: 1d, to: supervisor, template: escalation, relative_to: deadline, repeat: 2d}
states:
  review:
    escalation: review_late
""",
    ),
    Example(
        ("Clocks (statutory time limits)", "计时（法定办理时限）"),
        (
            "A clock runs across states: it starts on entering `starts_at`, stops for good "
            "on entering a state of `stops_at`, stands still in a state that lists it under "
            "`pauses`, and is extended once per trigger under `extended_by`.",
            "计时跨越多个状态：进入 `starts_at` 时开始，进入 `stops_at` 中的状态时终止，"
            "在 `pauses` 中列出它的状态里暂停，`extended_by` 中的操作每种延长一次。",
        ),
        """\
states:
  awaiting_materials:
    labels: {zh: 补充材料, en: Awaiting materials}
    owner: caseworker
    deadline: 15d
    pauses: [statutory]
clocks:
  statutory:
    labels: {zh: 法定办理时限, en: Statutory time limit}
    duration: 30wd
    starts_at: review
    stops_at: [approved, rejected]
    extended_by: {ask_materials: 10wd}
transitions:
  - trigger: ask_materials
    source: review
    dest: awaiting_materials
    roles: [officer]
  - trigger: materials_in
    source: awaiting_materials
    dest: review
    roles: [caseworker]
""",
    ),
    Example(
        ("County settings", "县级选项（settings）"),
        (
            "A setting is a county choice with its allowed values; expressions read it as "
            "`setting.NAME`. Here it shortens the statutory clock with `duration_when` when "
            "the township approves.",
            "县级选项是本县的一项选择及其允许的取值；表达式以 `setting.名称` 读取。"
            "本例中，由乡镇审批时用 `duration_when` 缩短法定计时。",
        ),
        """\
settings:
  approval_level:
    labels: {zh: 审核确认层级, en: Who approves}
    value: county
    choices: [county, township]
    source: county decision
clocks:
  statutory:
    duration: 30wd
    starts_at: review
    stops_at: [approved, rejected]
    duration_when:
      - {when: "setting.approval_level == 'township'", duration: 20wd}
""",
    ),
    Example(
        (
            "Deadlines that depend on the case (`deadline_when`)",
            "随案件变化的期限（`deadline_when`）",
        ),
        (
            "On entering the state the first `when` that holds replaces `deadline`.",
            "进入状态时，第一个成立的 `when` 对应的期限替换 `deadline`。",
        ),
        """\
states:
  review:
    deadline: 10wd
    deadline_when:
      - {when: case.emergency == True, deadline: 24h}
""",
    ),
    Example(
        ("Once per person (`once_per_person`)", "同一人限批一次（`once_per_person`）"),
        (
            "At most one approval per person for the same cause within the period, unless a "
            "bool field of the case allows another.",
            "同一人同一原因在期间内最多批准一次，除非案件的布尔字段允许再次批准。",
        ),
        """\
fields:
  cause: {type: str, choices: [illness, accident, disaster]}
  override_once_a_year: {type: bool}
transitions:
  - trigger: approve
    source: review
    dest: approved
    roles: [officer]
    fields:
      cause: {required: true}
      override_once_a_year: {required: false}
    once_per_person: {field: cause, within: 12mo, unless: override_once_a_year}
""",
    ),
    Example(
        ("Computed fields (`computes`)", "系统计算的字段（`computes`）"),
        (
            "The engine sets these fields when the action is taken; nobody types them.",
            "办理操作时由系统计算并写入这些字段，无需人工填写。",
        ),
        """\
fields:
  related_to_staff: {type: bool}
transitions:
  - trigger: submit
    source: draft
    dest: review
    roles: [caseworker]
    computes:
      related_to_staff: contains(person.related_roles, 'caseworker')
""",
    ),
    Example(
        ("The version key", "版本号（`version`）"),
        (
            "Deploy numbers each workflow's versions 1, 2, 3...; the file's `version:` may be "
            "left out, and when written it must be the number deploy will assign, or deploy "
            "refuses and names the right one.",
            "部署时每个流程的版本按 1、2、3……编号；文件中的 `version:` 可以不写，"
            "写了就必须等于本次部署将分配的版本号，否则部署会拒绝并给出正确的版本号。",
        ),
        "version: 1\n",
    ),
)

# -- the mistakes, one per check of the loader (tests/test_reference.py checks the cover) --

_REVIEW = "    labels: {zh: 审核, en: Review}\n"
_APPROVE = "    dest: approved\n    roles: [officer]\n"
_REJECT = "    dest: rejected\n    roles: [officer]\n"
_SUBMIT = "    dest: review\n    roles: [caseworker]\n"
_CLOCK = "clocks:\n  statutory:\n    duration: 30wd\n"

MISTAKES: tuple[tuple[T, tuple[Mistake, ...]], ...] = (
    (
        ("YAML", "YAML 格式"),
        (
            Mistake(
                ("The file is not a mapping of keys.", "文件不是键值映射。"),
                WHOLE_FILE,
                "- workflow: assistance\n",
            ),
            Mistake(
                ("`yes` for true (YAML 1.1).", "用 `yes` 表示真（YAML 1.1 写法）。"),
                "    initial: true\n",
                "    initial: yes\n",
            ),
            Mistake(
                ("A time of day where a duration belongs.", "期限处写成了钟点。"),
                "deadline: 10wd",
                "deadline: 1:30",
            ),
            Mistake(
                ("A hexadecimal number.", "十六进制数。"),
                "deadline: 3wd",
                "deadline: 0x10",
            ),
            Mistake(
                ("A YAML tag.", "YAML 标签。"),
                "deadline: 3wd",
                "deadline: !duration 3wd",
            ),
            Mistake(
                ("An alias (`*name`) of a mapping.", "对映射使用别名（`*名称`）。"),
                "  caseworker: {zh: 经办人, en: Caseworker}\n"
                "  officer: {zh: 审核人, en: Officer}\n",
                "  caseworker: &person {zh: 经办人, en: Caseworker}\n  officer: *person\n",
            ),
            Mistake(
                ("A key written twice.", "同一个键写了两次。"),
                "    deadline: 10wd\n",
                "    deadline: 10wd\n    deadline: 15wd\n",
            ),
        ),
    ),
    (
        ("Keys and types", "键和类型"),
        (
            Mistake(
                ("A misspelt key.", "键名拼写错误。"),
                "    deadline: 10wd\n",
                "    dedline: 10wd\n",
            ),
            Mistake(
                ("A required key left out.", "缺少必填的键。"),
                "  - trigger: reject\n",
                "  - labels: {zh: 不予批准, en: Reject}\n",
            ),
            Mistake(
                ("A quoted `true`.", "`true` 加了引号。"),
                "    initial: true\n",
                "    initial: 'true'\n",
            ),
            Mistake(
                ("A value outside the allowed ones.", "取值不在允许范围内。"),
                _REVIEW,
                _REVIEW + "    vote: {voters: officer, quorum: 3, rule: majority}\n",
            ),
            Mistake(
                ("A name that is not snake_case.", "名称不是小写加下划线。"),
                "workflow: assistance",
                "workflow: Assistance-Application",
            ),
            Mistake(
                ("A role that is not declared.", "使用了未声明的角色。"),
                "    owner: officer\n",
                "    owner: oficer\n",
            ),
        ),
    ),
    (
        ("States", "状态"),
        (
            Mistake(("No initial state.", "没有起始状态。"), "    initial: true\n", ""),
            Mistake(
                ("Two initial states.", "有两个起始状态。"),
                _REVIEW,
                _REVIEW + "    initial: true\n",
            ),
            Mistake(
                ("A state both initial and final.", "一个状态既是起始又是终结。"),
                "    initial: true\n",
                "    initial: true\n    final: true\n",
            ),
            Mistake(
                ("A waiting state without an owner.", "等待办理的状态没有写办理角色。"),
                "    owner: officer\n",
                "",
            ),
            Mistake(
                ("A waiting state without a deadline.", "等待办理的状态没有写期限。"),
                "    deadline: 10wd\n",
                "",
            ),
            Mistake(
                ("A final state with a deadline.", "终结状态写了期限。"),
                "    labels: {zh: 已批准, en: Approved}\n",
                "    labels: {zh: 已批准, en: Approved}\n    deadline: 10d\n",
            ),
            Mistake(
                ("A duration in words.", "期限用文字书写。"),
                "deadline: 10wd",
                "deadline: 10 working days",
            ),
            Mistake(
                (
                    "`on_timeout` names an action that does not leave the state.",
                    "`on_timeout` 指定的操作不是从该状态出发的。",
                ),
                _REVIEW,
                _REVIEW + "    on_timeout: submit\n",
            ),
            Mistake(
                (
                    "`dwell_exceptions` without `min_dwell`.",
                    "写了 `dwell_exceptions` 却没有 `min_dwell`。",
                ),
                _REVIEW,
                _REVIEW + "    dwell_exceptions: [reject]\n",
            ),
            Mistake(
                (
                    "A dwell exception that does not leave the state.",
                    "最短停留的例外操作不是从该状态出发的。",
                ),
                _REVIEW,
                _REVIEW + "    min_dwell: 7d\n    dwell_exceptions: [withdraw]\n",
            ),
        ),
    ),
    (
        ("Votes", "表决"),
        (
            Mistake(
                ("A quorum of 0.", "法定人数为 0。"),
                _REVIEW,
                _REVIEW + "    vote: {voters: officer, quorum: 0}\n",
            ),
            Mistake(
                ("A quorum with extra digits.", "法定人数多写了几位。"),
                _REVIEW,
                _REVIEW + "    vote: {voters: officer, quorum: 30000}\n",
            ),
            Mistake(
                ("A threshold above 1.", "通过比例大于 1。"),
                _REVIEW,
                _REVIEW + "    vote: {voters: officer, quorum: 3, threshold: 3/2}\n",
            ),
            Mistake(
                (
                    "`requires_vote` where no vote is held.",
                    "状态没有表决，操作却写了 `requires_vote`。",
                ),
                _APPROVE,
                _APPROVE + "    requires_vote: passed\n",
            ),
        ),
    ),
    (
        ("Transitions", "操作"),
        (
            Mistake(
                ("An action nobody may take.", "操作没有可办理的角色。"),
                _REJECT,
                "    dest: rejected\n",
            ),
            Mistake(
                ("An empty list of source states.", "起始状态列表为空。"),
                "    source: draft\n",
                "    source: []\n",
            ),
            Mistake(
                ("A misspelt destination.", "目的状态拼写错误。"),
                _SUBMIT,
                "    dest: reveiw\n    roles: [caseworker]\n",
            ),
            Mistake(
                ("A misspelt source.", "起始状态拼写错误。"),
                "    source: draft\n",
                "    source: drafts\n",
            ),
            Mistake(
                ("An action out of a final state.", "从终结状态出发的操作。"),
                "",
                "",
                "  - trigger: reopen\n    source: approved\n"
                "    dest: review\n    roles: [officer]\n",
            ),
            Mistake(
                (
                    "The same action twice from one state (use `routes`).",
                    "同一状态下同名操作写了两次（应改用 `routes`）。",
                ),
                "",
                "",
                "  - trigger: approve\n    source: review\n"
                "    dest: rejected\n    roles: [officer]\n",
            ),
            Mistake(
                ("No destination.", "没有目的状态。"),
                "    source: review\n    dest: approved\n",
                "    source: review\n",
            ),
            Mistake(
                ("`separate_from` names an unknown action.", "`separate_from` 中的操作不存在。"),
                _APPROVE,
                _APPROVE + "    separate_from: [submitt]\n",
            ),
            Mistake(
                ("A field that is not declared.", "使用了未声明的字段。"),
                _APPROVE,
                _APPROVE + "    fields:\n      amount: {required: true}\n",
            ),
            Mistake(
                ("`choices` on a field that is not text.", "非文本字段写了 `choices`。"),
                "",
                "",
                "fields:\n  amount: {type: decimal, choices: ['100', '200']}\n",
            ),
            Mistake(
                ("A label for a choice the field does not have.", "为不存在的取值写了显示名称。"),
                "",
                "",
                "fields:\n  cause: {type: str, choices: [fire], choice_labels: "
                "{flood: {zh: 洪水, en: Flood}}}\n",
            ),
            Mistake(
                ("A computed field that is not declared.", "计算的字段未声明。"),
                _SUBMIT,
                _SUBMIT + "    computes:\n      related: len(person.related_users) > 0\n",
            ),
            Mistake(
                ("A field both given and computed.", "同一字段既由人填写又由系统计算。"),
                _SUBMIT,
                _SUBMIT
                + "    fields:\n      related: {required: false}\n"
                + "    computes:\n      related: len(person.related_users) > 0\n",
                "fields:\n  related: {type: bool}\n",
            ),
            Mistake(
                (
                    "`once_per_person` on an undeclared field.",
                    "`once_per_person` 使用了未声明的字段。",
                ),
                _APPROVE,
                _APPROVE + "    once_per_person: {field: cause, within: 12mo}\n",
            ),
            Mistake(
                ("An `unless` field that is not declared.", "`unless` 字段未声明。"),
                _APPROVE,
                _APPROVE + "    once_per_person: {field: cause, within: 12mo, unless: override}\n",
                "fields:\n  cause: {type: str}\n",
            ),
            Mistake(
                ("An `unless` field that is not true/false.", "`unless` 字段不是布尔类型。"),
                _APPROVE,
                _APPROVE + "    once_per_person: {field: cause, within: 12mo, unless: cause}\n",
                "fields:\n  cause: {type: str}\n",
            ),
        ),
    ),
    (
        ("Guarded routing", "按条件分流"),
        (
            Mistake(
                ("Both `dest` and `routes`.", "同时写了 `dest` 和 `routes`。"),
                _APPROVE,
                "    dest: approved\n    routes:\n      - dest: rejected\n    roles: [officer]\n",
            ),
            Mistake(
                ("A route to an unknown state.", "分流去向的状态不存在。"),
                "    source: review\n    dest: approved\n",
                "    source: review\n    routes:\n      - dest: aproved\n",
            ),
            Mistake(
                ("A route without a condition before the last.", "不是最后一个的去向没有写条件。"),
                "    source: review\n    dest: approved\n",
                "    source: review\n    routes:\n      - dest: approved\n"
                "      - dest: rejected\n        when: person.age < 18\n",
            ),
            Mistake(
                ("Routes that are not exhaustive.", "分流没有覆盖所有情况。"),
                "    source: review\n    dest: approved\n",
                "    source: review\n    routes:\n      - dest: approved\n"
                "        when: person.age >= 18\n",
            ),
        ),
    ),
    (
        ("Expressions", "条件表达式"),
        (
            Mistake(
                ("A misspelt name.", "名称拼写错误。"),
                _APPROVE,
                _APPROVE + "    guards: [person.agee >= 18]\n",
            ),
            Mistake(
                ("A function that is not allowed.", "调用了不允许的函数。"),
                _APPROVE,
                _APPROVE + "    guards: [\"__import__('os')\"]\n",
            ),
            Mistake(
                ("A guard that must exceed the limits.", "必然超出上限的条件。"),
                _APPROVE,
                _APPROVE + "    guards: [\"'a' * 10**10 == ''\"]\n",
            ),
            Mistake(
                ("A namespace that is not readable there.", "在此处不能读取的命名空间。"),
                _REVIEW,
                _REVIEW + "    deadline_when: [{when: person.age > 80, deadline: 5wd}]\n",
            ),
        ),
    ),
    (
        ("Escalation ladders", "催办阶梯"),
        (
            Mistake(
                ("A state names an unknown ladder.", "状态引用的催办阶梯不存在。"),
                _REVIEW,
                _REVIEW + "    escalation: review_late\n",
            ),
            Mistake(
                ("A ladder without rungs.", "催办阶梯没有任何一级。"),
                _REVIEW,
                _REVIEW + "    escalation: review_late\n",
                "escalations:\n  review_late: []\n",
            ),
            Mistake(
                ("A ladder no state uses.", "没有状态使用的催办阶梯。"),
                "",
                "",
                "escalations:\n  review_late:\n    - {after: 8wd, to: officer, "
                "template: deadline_reminder}\n",
            ),
            Mistake(
                ("An unknown notice template.", "通知模板不存在。"),
                _REVIEW,
                _REVIEW + "    escalation: review_late\n",
                "escalations:\n  review_late:\n"
                "    - {after: 8wd, to: officer, template: reminder}\n",
            ),
        ),
    ),
    (
        ("Settings", "县级选项"),
        (
            Mistake(
                ("A value that is not one of the choices.", "取值不在可选范围内。"),
                "",
                "",
                "settings:\n  approval_level: {value: towship, choices: [county, township]}\n",
            ),
        ),
    ),
    (
        ("Clocks", "计时"),
        (
            Mistake(
                ("A clock that starts at an unknown state.", "计时开始的状态不存在。"),
                "",
                "",
                _CLOCK + "    starts_at: reviews\n    stops_at: [approved]\n",
            ),
            Mistake(
                ("A clock that never stops.", "计时永不终止。"),
                "",
                "",
                _CLOCK + "    starts_at: review\n    stops_at: []\n",
            ),
            Mistake(
                ("A clock that starts at a final state.", "计时从终结状态开始。"),
                "",
                "",
                _CLOCK + "    starts_at: approved\n    stops_at: [rejected]\n",
            ),
            Mistake(
                ("A clock that stops at an unknown state.", "计时终止的状态不存在。"),
                "",
                "",
                _CLOCK + "    starts_at: review\n    stops_at: [aproved]\n",
            ),
            Mistake(
                ("A clock that starts and stops at one state.", "计时在同一状态开始又终止。"),
                "",
                "",
                _CLOCK + "    starts_at: review\n    stops_at: [review, approved]\n",
            ),
            Mistake(
                ("A state pauses an unknown clock.", "状态暂停的计时不存在。"),
                _REVIEW,
                _REVIEW + "    pauses: [statutory]\n",
            ),
            Mistake(
                ("A state pauses the clock it starts.", "状态暂停由它自己开始的计时。"),
                _REVIEW,
                _REVIEW + "    pauses: [statutory]\n",
                _CLOCK + "    starts_at: review\n    stops_at: [approved, rejected]\n",
            ),
            Mistake(
                ("An extension by an unknown action.", "延长时限的操作不存在。"),
                "",
                "",
                _CLOCK + "    starts_at: review\n    stops_at: [approved, rejected]\n"
                "    extended_by: {objection: 15wd}\n",
            ),
            Mistake(
                ("An extension in another unit.", "延长时间的单位与计时不同。"),
                "",
                "",
                _CLOCK + "    starts_at: review\n    stops_at: [approved, rejected]\n"
                "    extended_by: {reject: 15d}\n",
            ),
            Mistake(
                ("A `duration_when` in another unit.", "`duration_when` 的单位与计时不同。"),
                "",
                "",
                _CLOCK + "    starts_at: review\n    stops_at: [approved, rejected]\n"
                "    duration_when: [{when: \"setting.level == 'township'\", duration: 1mo}]\n"
                "settings:\n  level: {value: county, choices: [county, township]}\n",
            ),
        ),
    ),
    (
        ("The whole procedure", "整个流程"),
        (
            Mistake(
                ("A state nothing leads to.", "没有操作通往的状态。"),
                "  approved:\n",
                "  archived:\n    labels: {zh: 归档, en: Archived}\n    owner: officer\n"
                "    deadline: 5d\n  approved:\n",
                "  - trigger: close\n    source: archived\n"
                "    dest: approved\n    roles: [officer]\n",
            ),
            Mistake(
                ("A waiting state with no way out.", "等待办理的状态没有出路。"),
                "  approved:\n",
                "  on_hold:\n    labels: {zh: 暂缓, en: On hold}\n    owner: officer\n"
                "    deadline: 5d\n  approved:\n",
                "  - trigger: hold\n    source: review\n    dest: on_hold\n    roles: [officer]\n",
            ),
            Mistake(
                ("States that can never reach an end.", "永远无法办结的状态。"),
                "  approved:\n",
                "  on_hold:\n    labels: {zh: 暂缓, en: On hold}\n    owner: officer\n"
                "    deadline: 5d\n  paused:\n    labels: {zh: 中止, en: Paused}\n"
                "    owner: officer\n    deadline: 5d\n  approved:\n",
                "  - trigger: hold\n    source: [review, paused]\n    dest: on_hold\n"
                "    roles: [officer]\n  - trigger: pause\n    source: on_hold\n"
                "    dest: paused\n    roles: [officer]\n",
            ),
            Mistake(
                ("No final state.", "没有终结状态。"),
                "    labels: {zh: 已批准, en: Approved}\n    final: true\n"
                "  rejected:\n    labels: {zh: 不予批准, en: Rejected}\n    final: true\n",
                "    labels: {zh: 已批准, en: Approved}\n    owner: officer\n    deadline: 5d\n"
                "  rejected:\n    labels: {zh: 不予批准, en: Rejected}\n    owner: officer\n"
                "    deadline: 5d\n",
            ),
        ),
    ),
)
