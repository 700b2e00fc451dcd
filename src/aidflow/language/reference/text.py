"""What the reference says in words, in English and Chinese: titles, paragraphs, and what
each key, function and duration unit is for.

The generator (`aidflow.language.reference`) refuses to run while a key of the schema, a
function or a unit has no entry here, so nothing new goes undescribed.
"""

from __future__ import annotations

from typing import Literal

from aidflow.language import definition as d

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")
T = tuple[str, str]  # (English, Chinese)


def pick(text: T, lang: Lang) -> str:
    """The text in `lang`."""
    return text[0] if lang == "en" else text[1]


TITLE: T = ("aidflow workflow language reference", "aidflow 流程定义语言参考")
GENERATED: T = (
    "Generated from the schema and the validator; do not edit by hand "
    "(regenerate with `{cmd}`). `aidflow workflow reference --lang en` prints it.",
    "本文由流程定义的结构（schema）和校验器自动生成，请勿手工修改（重新生成：`{cmd}`）。"
    "`aidflow workflow reference --lang zh` 可打印本文。",
)
INTRO: T = (
    "A county's procedures are YAML files, one per workflow, under `workflows/`. "
    "`aidflow workflow validate FILE` checks a file and lists every problem as "
    "file:line:column with a hint; `aidflow workflow deploy FILE` stores it as the next "
    "version; `aidflow workflow schema` prints a JSON Schema for editors. Parsing is strict "
    "YAML 1.2: unknown keys, duplicate keys, `yes`/`on` as booleans and `1:30` as a number "
    "are errors, never silent conversions.",
    "每个县的办事流程写成 YAML 文件，一个流程一个文件，放在 `workflows/` 目录下。"
    "`aidflow workflow validate 文件` 检查文件，逐条列出所有问题（文件:行:列）及修改提示；"
    "`aidflow workflow deploy 文件` 把它部署为新版本；`aidflow workflow schema` "
    "输出供编辑器使用的 JSON Schema。解析严格按 YAML 1.2：未知的键、重复的键、"
    "把 `yes`/`on` 当作布尔值、把 `1:30` 当作数字，都按错误报告，绝不悄悄转换。",
)
BASE_TITLE: T = ("A complete small workflow", "一个完整的小流程")
BASE_TEXT: T = (
    "Every example and every mistake below starts from this workflow: an application is "
    "drafted by a caseworker, reviewed by an officer, then approved or rejected. Each "
    "waiting state names who must act (`owner`) and by when (`deadline`); final states "
    "end the case.",
    "下文的每个示例和每个错误都以这个流程为基础：经办人起草申请，审核人审核，然后批准或"
    "不予批准。每个等待办理的状态都写明由谁办理（`owner`）和办理期限（`deadline`）；"
    "终结状态（`final`）表示案件办结。",
)
KEYS_TITLE: T = ("Keys", "全部键")
KEYS_TEXT: T = (
    "Every key a workflow file may contain, section by section. A key marked required "
    "must be written; the others may be left out and take the default shown. Durations "
    "are text such as `10wd` (see Durations); expressions are text in the guard language "
    "(see Expressions); names of states, roles, fields, clocks, ladders and settings are "
    "snake_case (a-z, 0-9, _, starting with a letter).",
    "按部分列出流程文件中可以出现的每个键。标为必填的键必须写；其余的键可以省略，"
    "省略时取表中的默认值。期限写成 `10wd` 这样的文本（见“期限”）；条件表达式按条件语言书写"
    "（见“条件表达式”）；状态、角色、字段、计时、催办阶梯和县级选项的名称一律使用"
    "小写加下划线（a-z、0-9、_，以字母开头）。",
)
TOP_LEVEL: T = ("the top level of the file", "文件顶层")
EXAMPLES_TITLE: T = ("Constructs, with an example each", "各项功能及示例")
EXAMPLES_TEXT: T = (
    "Each example is a fragment laid over the base workflow above (mappings merge; a "
    "transition replaces the base's one with the same trigger). Every one is loaded by the "
    "validator when this reference is tested.",
    "每个示例都是叠加在上面基础流程之上的片段（映射逐键合并；与基础流程触发名相同的操作"
    "会替换原操作）。测试本参考时，每个示例都由校验器实际加载过。",
)
EXPR_TITLE: T = ("Expressions (guards and conditions)", "条件表达式")
EXPR_TEXT: T = (
    "Guards, route conditions, `deadline_when`, `duration_when` and `computes` are "
    "expressions such as `person.age >= 60 and person.hukou == 'rural'`. They are never run "
    "as code: they are checked against a small grammar when the file is validated. Allowed: "
    "constants (numbers, 'text', true/false/None as `True`, `False`, `None`, lists), "
    "`namespace.name` one level deep, an index with a constant (`case.members[0]`), "
    "comparisons `== != < <= > >= in not in`, `and or not`, arithmetic `+ - * / // %` and "
    "`**` with a constant exponent, `a if condition else b`, and calls to the functions "
    "below. Missing data reads as None, and a comparison with None is false, so "
    "`person.age >= 60` is simply false when the age is not recorded.",
    "操作条件（guards）、分流条件（routes 的 when）、`deadline_when`、`duration_when` 和 "
    "`computes` 都用条件表达式书写，例如 `person.age >= 60 and person.hukou == 'rural'`。"
    "表达式绝不会被当作程序执行：校验文件时按一套很小的语法检查。允许：常量（数字、"
    "'文本'、`True`、`False`、`None`、列表），一层的 `命名空间.名称`，用常量取下标"
    "（`case.members[0]`），比较 `== != < <= > >= in not in`，`and or not`，算术 "
    "`+ - * / // %` 以及指数为常量的 `**`，`甲 if 条件 else 乙`，以及调用下列函数。"
    "缺少的数据按 None 处理，与 None 比大小的结果为假，所以未登记年龄时 "
    "`person.age >= 60` 就是假。",
)
CASE_NAMES: T = (
    "the workflow's own `fields`, and ",
    "本流程 `fields` 中声明的字段，以及 ",
)
SETTING_NAMES: T = (
    "the workflow's own `settings` (each reads as its chosen value, a text)",
    "本流程 `settings` 中声明的县级选项（读到的是所选的值，为文本）",
)
POLICY_NAMES: T = (
    "the county's standards in `policy/standards.yaml` next to the workflow file, as in "
    "force on the day the action is taken",
    "流程文件旁 `policy/standards.yaml` 中的本县标准，取办理当天有效的数值",
)
WHERE_TITLE: T = ("Where each namespace may be read", "各处可读的命名空间")
# What each kind of expression may read (the loader decides; tests/test_reference.py
# loads every pair to check this table against it).
READABLE: dict[str, tuple[str, ...]] = {
    "guards": ("person", "case", "vote", "policy", "setting"),
    "routes[].when": ("person", "case", "vote", "policy", "setting"),
    "deadline_when[].when": ("case",),
    "duration_when[].when": ("setting",),
    "computes": ("person", "case"),
}
NAMESPACES = ("person", "case", "vote", "policy", "setting")
FUNCTIONS_TITLE: T = ("Functions", "函数")
LIMITS_TITLE: T = ("Limits (the static cost bound)", "上限（静态开销限制）")
LIMITS_TEXT: T = (
    "An expression is at most {length} characters and {depth} levels deep; a text "
    "constant at most {string} characters; an integer constant at most {int}; an exponent "
    "at most {exponent}. While a guard is evaluated, texts and lists may hold at most "
    "{items} characters or items and integers must stay below 2**{bits}. What would exceed "
    "these limits whatever the case data is (`'a' * 10**10`) is refused when the file is "
    "validated, with its line and column; what only some case data can make too big fails "
    "on that case alone and `case show` gives the reason.",
    "一个表达式最多 {length} 个字符、嵌套最多 {depth} 层；文本常量最多 {string} 个字符；"
    "整数常量最大 {int}；指数最大 {exponent}。计算时，文本和列表最多 {items} 个字符或元素，"
    "整数必须小于 2**{bits}。无论案件数据如何都必然超限的写法（如 `'a' * 10**10`）在校验"
    "文件时即被拒绝，并指出行和列；只有个别案件数据才会超限的，只影响该案件，"
    "`case show` 会显示原因。",
)
DURATIONS_TITLE: T = ("Durations and working days", "期限与工作日")
DURATIONS_TEXT: T = (
    "A duration is a whole number followed by a unit, without spaces: `24h`, `7d`, `10wd`, "
    "`12mo`. Working days follow the State Council's holiday notices (the `chinesecalendar` "
    "package) and the county's `workflows/policy/calendar.yaml`; a `wd` deadline that "
    "reaches a year with no calendar data is an error, never a weekends-only guess.",
    "期限写成整数加单位，中间不留空格：`24h`、`7d`、`10wd`、`12mo`。工作日按国务院"
    "节假日安排（`chinesecalendar` 软件包）和本县的 `workflows/policy/calendar.yaml` 计算；"
    "以 `wd` 计的期限如果落到没有日历数据的年份，按错误处理，绝不按“只休周末”推测。",
)
UNIT_DOCS: dict[str, T] = {
    "h": ("elapsed hours.", "小时，按实际经过的小时数计算。"),
    "d": (
        "calendar days on the county's local clock (same time of day N days later).",
        "自然日，按本县当地时间计算（N 天后的同一时刻）。",
    ),
    "wd": (
        "working days, counted statutorily: the starting day does not count, and the "
        "deadline is the end of the Nth working day (00:00 of the next day).",
        "工作日，按法定方式计算：起始当日不计入，期限为第 N 个工作日结束时（即次日 0 时）。",
    ),
    "mo": (
        "calendar months (same time of day N months later; Jan 31 + 1mo is the month's last day).",
        "自然月（N 个月后的同一时刻；1 月 31 日加 1mo 为该月最后一天）。",
    ),
}
MISTAKES_TITLE: T = ("Errors the validator gives", "校验器给出的错误")
MISTAKES_TEXT: T = (
    "Each item is one mistake made in the base workflow: the changed lines, then exactly "
    "what `aidflow workflow validate` prints for them (file:line:column: where in the file: "
    "the problem; the fix). The validator lists every problem in a file at once; nothing is "
    "deployed while any remains. Expression messages are shown for a few typical mistakes; "
    "every message names the expression and the column.",
    "每一项是在基础流程中犯的一个错误：先列出改动的行，再列出 `aidflow workflow validate` "
    "对它实际输出的内容（文件:行:列: 在文件中的位置: 问题; 修改办法）。校验器的提示目前为英文，"
    "下面按实际输出原样列出。校验器一次列出文件中"
    "的所有问题；只要还有问题，就不会部署。条件表达式的错误只列举几个典型例子；"
    "每条都会指出是哪个表达式、第几列。",
)

FUNCTION_DOCS: dict[str, T] = {
    "abs": ("`abs(x)`: the absolute value.", "`abs(x)`：绝对值。"),
    "all": ("`all(list)`: true when every item is true.", "`all(列表)`：所有元素都为真时为真。"),
    "any": ("`any(list)`: true when some item is true.", "`any(列表)`：任一元素为真时为真。"),
    "contains": (
        "`contains(list, item)`: true when the list holds the item.",
        "`contains(列表, 元素)`：列表中含有该元素时为真。",
    ),
    "days_between": (
        "`days_between(start, end)`: days from one date to another (negative when end is "
        "earlier); dates or 'YYYY-MM-DD' texts.",
        "`days_between(开始, 结束)`：两个日期相差的天数（结束早于开始时为负数）；"
        "参数为日期或 'YYYY-MM-DD' 文本。",
    ),
    "int": ("`int(x)`: a whole number.", "`int(x)`：转为整数。"),
    "len": ("`len(x)`: the length of a text or list.", "`len(x)`：文本或列表的长度。"),
    "lower": ("`lower(text)`: the text in lower case.", "`lower(文本)`：转为小写。"),
    "max": (
        "`max(a, b, ...)` or `max(list)`: the largest.",
        "`max(a, b, ...)` 或 `max(列表)`：最大值。",
    ),
    "min": (
        "`min(a, b, ...)` or `min(list)`: the smallest.",
        "`min(a, b, ...)` 或 `min(列表)`：最小值。",
    ),
    "round": (
        "`round(x)` or `round(x, digits)`: rounded (half to even).",
        "`round(x)` 或 `round(x, 位数)`：舍入（逢五取偶，即“四舍六入五成双”）。",
    ),
    "str": ("`str(x)`: as text.", "`str(x)`：转为文本。"),
    "sum": ("`sum(list)`: the total.", "`sum(列表)`：合计。"),
}

# What each object of the schema is, in Chinese (the English is the dataclass's docstring).
SECTION_DOCS: dict[str, T] = {
    "Workflow": ("", "一个流程文件。"),
    "Labels": ("", "中文和英文的显示名称。"),
    "State": (
        "",
        "流程中的一个环节：由谁办理（`owner`）、何时之前办理（`deadline`），或者是办结。"
        "除终结状态外，每个状态都在等待某人办理；终结状态表示案件办结。",
    ),
    "VoteRule": (
        "",
        "离开该状态取决于记录的表决结果（村级民主评议）。当参加表决的合格表决人数不少于 "
        "`quorum`，且赞成票占所投票数的比例按 `rule`（`more_than` 超过 / `at_least` 不少于）"
        '达到 `threshold`（分数，如 "1/2"、"2/3"）时，表决通过。',
    ),
    "DeadlineWhen": (
        "",
        "进入该状态时若 `when`（关于 case.* 的表达式）为真，则改用此期限。例如收入不稳定的"
        "家庭 6 个月复核一次，而不是该状态的 12 个月。",
    ),
    "Transition": (
        "",
        "一项操作：从 `source` 到 `dest`，或者到 `routes` 中第一个 `when` 成立的目的状态。",
    ),
    "Route": (
        "",
        "分流操作的一个去向：`when`（条件表达式）成立时前往。按顺序逐个判断，取第一个成立的；"
        "最后一个不写 `when`（即“其他情况”），因此总是恰好取一个去向。",
    ),
    "TransitionField": (
        "",
        "操作接收的一个字段；`required` 为 true 的字段办理时必须用 `--field` 填写。",
    ),
    "OncePerPerson": (
        "",
        "同一人在 `within`（期限）之内，对案件字段 `field` 的同一取值最多批准一次；"
        "除非案件的布尔字段 `unless` 为真（例如临时救助：同一原因一年一次，县里特批的除外）。",
    ),
    "FieldSpec": ("", "案件的一个有类型的数据字段，在办理操作时填写。"),
    "Rung": (
        "",
        "催办阶梯的一级：经过 `after` 时长后通知角色 `to`。`after` 从 `relative_to` 指定的"
        "时点起算：`entry`（进入该状态时，默认，如“12 小时提醒”）或 `deadline`（该状态的期限，"
        "如“超期 1 天通知县级”）。写了 `repeat` 时，首次通知后每隔 `repeat` 再通知一次，"
        "直到有人确认（`stop_on_ack` 为 true 时）或案件离开该状态。",
    ),
    "ClockSpec": (
        "",
        "跨越多个状态的命名计时，例如低保审核审批的法定 30 个工作日。案件进入 `starts_at` "
        "时开始计时，进入 `stops_at` 中任一状态时终止；案件处于在 `pauses` 中列出该计时的"
        "状态时暂停；计时期间某个操作首次办理时，按 `extended_by[操作]` 延长。延长时间使用"
        "与计时相同的单位。",
    ),
    "DurationWhen": (
        "",
        "计时开始时若 `when`（关于 setting.* 的表达式）为真，则改用此时长，例如乡镇审批时为 "
        "20 个工作日而不是 30 个。",
    ),
    "Setting": (
        "",
        "县级选项，例如村级民主评议是否必须进行。`value` 必须是 `choices` 之一；"
        "条件表达式以 `setting.名称` 读取（文本）。",
    ),
}

# What each key is for. `render` refuses to run while a key of the schema has no entry.
KEY_DOCS: dict[str, dict[str, T]] = {
    "Workflow": {
        "workflow": (
            "The workflow's name (snake_case); cases and commands refer to it.",
            "流程名称（小写加下划线）；案件和命令都用它指代流程。",
        ),
        "version": (
            "Optional. When written, it must be the version number deploy assigns "
            "(1, 2, 3... per workflow); deploy refuses a mismatch and names the right one.",
            "可不写。如果写了，必须等于部署时分配的版本号（每个流程按 1、2、3……编号）；"
            "不一致时部署会拒绝，并给出正确的版本号。",
        ),
        "labels": ("The workflow's display name.", "流程的显示名称。"),
        "roles": (
            "The roles that act in this workflow, with their display names.",
            "参与本流程的角色及其显示名称。",
        ),
        "states": (
            "The states, by name. Exactly one is `initial`; at least one is `final`.",
            "各个状态，以名称为键。恰好一个 `initial`，至少一个 `final`。",
        ),
        "transitions": (
            "The actions that move a case from state to state.",
            "使案件从一个状态转到另一个状态的操作。",
        ),
        "fields": (
            "The case's typed data fields, by name.",
            "案件的数据字段及其类型，以名称为键。",
        ),
        "escalations": (
            "Escalation ladders, by name; a state uses one with `escalation:`.",
            "催办阶梯，以名称为键；状态用 `escalation:` 引用。",
        ),
        "clocks": (
            "Clocks that run over several states (statutory time limits).",
            "跨越多个状态的计时（法定办理时限）。",
        ),
        "settings": (
            "County choices that expressions read as `setting.NAME`.",
            "县级选项，表达式以 `setting.名称` 读取。",
        ),
        "description": ("Free text for readers of the file.", "说明文字，供阅读文件的人参考。"),
    },
    "Labels": {
        "zh": ("The Chinese name.", "中文名称。"),
        "en": ("The English name.", "英文名称。"),
    },
    "State": {
        "labels": ("The state's display name.", "状态的显示名称。"),
        "initial": (
            "`true` for the state a new case starts in (exactly one).",
            "新案件的起始状态设为 `true`（恰好一个）。",
        ),
        "final": (
            "`true` for a state that ends the case; nothing may leave it.",
            "办结状态设为 `true`；办结后不能再有任何操作。",
        ),
        "owner": (
            "The role that must act here (required on every state that is not final).",
            "在此环节必须办理的角色（非终结状态必填）。",
        ),
        "deadline": (
            "How long the owner has (a duration; required on every state that is not final).",
            "办理期限（期限文本；非终结状态必填）。",
        ),
        "on_timeout": (
            "A trigger out of this state that the scheduler fires when the deadline passes.",
            "期限届满时由系统自动办理的操作（必须是离开此状态的操作）。",
        ),
        "min_dwell": (
            "The shortest time a case must stay here (e.g. a 7-day public notice).",
            "案件在此状态的最短停留时间（例如 7 天公示期）。",
        ),
        "dwell_exceptions": (
            "Triggers that may leave before `min_dwell` has passed (e.g. an objection).",
            "可以在最短停留时间届满前办理的操作（例如异议）。",
        ),
        "vote": ("A vote that decides how the case leaves.", "决定案件去向的表决。"),
        "escalation": (
            "The name of a ladder under `escalations` that reminds and escalates here.",
            "在此状态使用的催办阶梯名称（须在 `escalations` 下声明）。",
        ),
        "pauses": (
            "Clocks that stand still while the case is here.",
            "案件处于此状态时暂停的计时。",
        ),
        "deadline_when": (
            "Deadlines that replace `deadline` when their `when` holds on entry; the first "
            "true one wins.",
            "进入状态时按条件替换 `deadline` 的期限；取第一个条件成立的。",
        ),
    },
    "VoteRule": {
        "voters": ("The role whose members vote.", "参加表决的角色。"),
        "quorum": (
            "How many eligible voters must vote (1 to 10,000).",
            "至少需要多少名合格表决人参加表决（1 至 10,000）。",
        ),
        "threshold": (
            "The yes share needed, a fraction such as 1/2 or 2/3.",
            "通过所需的赞成比例，写成分数，如 1/2 或 2/3。",
        ),
        "rule": (
            "`more_than` (strictly more than the threshold) or `at_least`.",
            "`more_than`（超过该比例）或 `at_least`（不少于该比例）。",
        ),
        "exclude_related": (
            "Voters recorded as related to the applicant (`person.related_users`) may not vote.",
            "登记为与申请人有关联的表决人（`person.related_users`）回避，不参加表决。",
        ),
    },
    "DeadlineWhen": {
        "when": ("An expression over `case.*`.", "关于 `case.*` 的表达式。"),
        "deadline": ("The deadline that then applies.", "条件成立时适用的期限。"),
    },
    "Transition": {
        "trigger": (
            "The action's name (snake_case), as caseworkers type it.",
            "操作名称（小写加下划线），经办人办理时输入此名称。",
        ),
        "source": (
            "The state, or list of states, the action leaves.",
            "操作的起始状态，可以是一个或多个。",
        ),
        "dest": (
            "The state it leads to (or write `routes` instead).",
            "操作后的状态（或改写 `routes`）。",
        ),
        "routes": (
            "Several destinations tried in order; the first whose `when` holds is taken and "
            "the last has no `when`.",
            "按顺序判断的多个去向；取第一个 `when` 成立的，最后一个不写 `when`。",
        ),
        "labels": ("The action's display name.", "操作的显示名称。"),
        "roles": (
            "The roles that may take the action (required unless `system`).",
            "可以办理该操作的角色（`system` 操作以外必填）。",
        ),
        "guards": (
            "Expressions that must all hold for the action to be allowed.",
            "办理前必须全部成立的条件表达式。",
        ),
        "fields": (
            "Case fields the action accepts (`--field name=value`).",
            "办理时可填写的案件字段（`--field 名称=值`）。",
        ),
        "note_required": (
            "The person acting must write a note (a reason).",
            "办理人必须填写说明（理由）。",
        ),
        "separate_from": (
            "Triggers whose actor may not take this action on the same case "
            "(separation of duties).",
            "办理过这些操作的人不得在同一案件中办理本操作（不相容职务分离）。",
        ),
        "requires_vote": (
            "`passed` or `failed`: allowed only when the source state's vote has that result.",
            "`passed` 或 `failed`：仅当起始状态的表决结果相符时才能办理。",
        ),
        "objection": (
            "`true` for the action `aidflow case object` takes: an objection raised during a "
            "public notice (when several leave the state, the first whose guards hold).",
            "设为 `true` 的操作由 `aidflow case object`（公示期间提出异议）办理；"
            "同一状态有多个异议操作时，取第一个条件成立的。",
        ),
        "system": (
            "`true` when only the scheduler takes it (then `roles` may be empty).",
            "仅由系统自动办理时设为 `true`（此时可不写 `roles`）。",
        ),
        "computes": (
            "Case fields the engine sets when the action is taken: field → expression over "
            "`person.*` and `case.*`.",
            "办理时由系统计算并写入的案件字段：字段 → 关于 `person.*` 和 `case.*` 的表达式。",
        ),
        "once_per_person": (
            "At most one such approval per person and cause within a period.",
            "同一人同一原因在一定期间内最多批准一次。",
        ),
    },
    "Route": {
        "dest": ("The state this route leads to.", "此去向的目的状态。"),
        "when": (
            "The condition (an expression); left out on the last route only.",
            "条件（表达式）；只有最后一个去向不写。",
        ),
    },
    "TransitionField": {
        "required": (
            "Whether the field must be given when the action is taken.",
            "办理时是否必须填写该字段。",
        ),
    },
    "OncePerPerson": {
        "field": ("The case field that names the cause.", "表示救助原因的案件字段。"),
        "within": ("The period (a duration).", "期间（期限文本）。"),
        "unless": (
            "A bool case field that, when true, allows another approval.",
            "布尔类型的案件字段，为真时允许再次批准。",
        ),
    },
    "FieldSpec": {
        "type": ("The value's type.", "取值的类型。"),
        "labels": ("The field's display name.", "字段的显示名称。"),
        "choices": (
            "The allowed values (fields of type `str` only).",
            "允许的取值（仅限 `str` 类型的字段）。",
        ),
        "choice_labels": (
            "A display name per choice (`fire: {zh: 火灾, en: Fire}`); "
            "`--field cause=火灾` is taken as `fire`.",
            "每个取值的显示名称（`fire: {zh: 火灾, en: Fire}`）；`--field cause=火灾` 即 `fire`。",
        ),
    },
    "Rung": {
        "after": ("How long after the start point it fires.", "从起算时点起经过多久发出。"),
        "to": ("The role notified.", "接收通知的角色。"),
        "template": (
            "The notice: " + ", ".join(f"`{t}`" for t in d.ESCALATION_TEMPLATES) + ".",
            "通知模板：" + "、".join(f"`{t}`" for t in d.ESCALATION_TEMPLATES) + "。",
        ),
        "repeat": (
            "Fire again every this long until acknowledged or the case leaves.",
            "每隔多久再次通知，直到有人确认或案件离开该状态。",
        ),
        "stop_on_ack": (
            "Stop repeating once someone acknowledges.",
            "有人确认后停止重复通知。",
        ),
        "relative_to": (
            "`entry` (entering the state) or `deadline` (the state's deadline).",
            "`entry`（进入状态时）或 `deadline`（该状态的期限）。",
        ),
    },
    "ClockSpec": {
        "duration": ("The time limit (a duration).", "时限（期限文本）。"),
        "starts_at": ("The state whose entry starts the clock.", "进入后开始计时的状态。"),
        "stops_at": ("States whose entry stops it for good.", "进入后终止计时的状态。"),
        "labels": ("The clock's display name.", "计时的显示名称。"),
        "extended_by": (
            "trigger → extra time, given the first time that trigger is taken while the "
            "clock runs; in the clock's unit.",
            "操作 → 延长的时间，计时期间该操作首次办理时延长；单位须与计时相同。",
        ),
        "duration_when": (
            "Durations that replace `duration` when their `when` (over `setting.*`) holds "
            "as the clock starts; the first true one wins.",
            "计时开始时按条件（关于 `setting.*`）替换 `duration` 的时长；取第一个成立的。",
        ),
    },
    "DurationWhen": {
        "when": ("An expression over `setting.*`.", "关于 `setting.*` 的表达式。"),
        "duration": ("The duration that then applies.", "条件成立时适用的时长。"),
    },
    "Setting": {
        "value": ("The county's choice: one of `choices`.", "本县的选择：`choices` 之一。"),
        "choices": ("The values allowed.", "允许的取值。"),
        "labels": ("The setting's display name.", "选项的显示名称。"),
        "source": (
            "Where the rule comes from (a regulation, a county decision).",
            "依据（法规条款、县里的决定）。",
        ),
    },
}
