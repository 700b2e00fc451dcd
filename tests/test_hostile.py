"""Hostile and malformed input through the real CLI: each gets a clear error, its documented exit
code, and leaves the database exactly as it was (a full dump of every table before and after).

The corpus: hostile workflow files in tests/hostile/workflows/ (written by
tests/hostile/generate.py; guard expressions that try to leave the sandbox, YAML bombs,
bad encodings, bad durations), deployed with `workflow deploy`; and command lines with bad
ID numbers, times, durations, ids, options, field values and text, in CLI_INPUTS below.
Exit codes (README): 2 usage, 3 invalid input, 4 not found, 6 refused by the rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aidflow.clock import FrozenClock
from aidflow.language.calendar import WorkCalendar
from aidflow.store.database import make_engine, upgrade
from aidflow.store.models import Case

from .conftest import PERSON_ID, START, WORKFLOWS, Cli, World, _pg_schema_url
from .test_cli import dump
from .test_concurrency import dibao_world, world  # noqa: F401 - the dibao-only world fixture

HOSTILE = Path(__file__).parent / "hostile" / "workflows"
NOW = "2023-08-01T09:00"
PERSON = ("--name", "x", "--township", "城关镇", "--village", "东村", "--hukou", "rural")

# (file, the problem after "<path>:"), all exit 3 and nothing deployed
WORKFLOW_FILES: list[tuple[str, str]] = [
    (
        "billion_laughs.yaml",
        "13:1: x0: unknown key 'x0'; allowed keys: workflow, version, labels, roles, states, "
        "transi",
    ),
    (
        "binary_garbage.yaml",
        "1:1: not UTF-8 text (invalid start byte at byte 0); save the file as UTF-8",
    ),
    (
        "deadline_float.yaml",
        "25:15: states.review.deadline: invalid duration '1.5d': write a whole number followed by "
        "h",
    ),
    (
        "deadline_unit_unknown.yaml",
        "25:15: states.review.deadline: invalid duration '2fortnights': write a whole number "
        "follow",
    ),
    (
        "deadline_words.yaml",
        "25:15: states.review.deadline: invalid duration 'ten days': write a whole number "
        "followed ",
    ),
    (
        "deep_flow_nesting.yaml",
        "1:1: YAML nested too deeply; a workflow needs a few levels of nesting; remove the deep "
        "bra",
    ),
    ("dwell_without_unit.yaml", "26:16: states.review.min_dwell: expected text, got 2"),
    (
        "field_type_unknown.yaml",
        "14:18: fields.amount.type: expected one of 'str', 'int', 'decimal', 'bool', 'date' or "
        "'lis",
    ),
    (
        "guard_builtins.yaml",
        "49:9: transitions[1].guards[0]: guard '__builtins__': unknown name '__builtins__': "
        "express",
    ),
    (
        "guard_comprehension.yaml",
        "49:9: transitions[1].guards[0]: guard '[x for x in range(10)]': comprehension is not "
        "allow",
    ),
    (
        "guard_deep_not.yaml",
        "49:9: transitions[1].guards[0]: guard 'not not not not not not not not not not not not "
        "not",
    ),
    (
        "guard_deep_parens.yaml",
        "49:9: transitions[1].guards[0]: guard "
        "'(((((((((((((((((((((((((((((((((((((((((((((((((((",
    ),
    (
        "guard_dict_method.yaml",
        "49:9: transitions[1].guards[0]: guard \"{}.get('x')\": dict literal is not allowed: '{}' "
        "(co",
    ),
    (
        "guard_dunder_dict.yaml",
        "49:9: transitions[1].guards[0]: guard 'person.__dict__': dunder/private attribute "
        "'__dict_",
    ),
    (
        "guard_dunder_import.yaml",
        '49:9: transitions[1].guards[0]: guard "person.age >= 18 if case.amount else '
        "__import__('os",
    ),
    (
        "guard_dunder_on_field.yaml",
        "49:9: transitions[1].guards[0]: guard 'case.amount.__class__': dunder/private attribute "
        "'_",
    ),
    (
        "guard_eval.yaml",
        "49:9: transitions[1].guards[0]: guard \"eval('1+1')\": unknown function 'eval': allowed "
        "func",
    ),
    (
        "guard_exec.yaml",
        "49:9: transitions[1].guards[0]: guard \"exec('1')\": unknown function 'exec': allowed "
        "functi",
    ),
    (
        "guard_exponent_in_abs.yaml",
        "49:9: transitions[1].guards[0]: guard 'abs(-10**10000)': exponent too large in "
        "'10**10000'",
    ),
    (
        "guard_fstring.yaml",
        "49:9: transitions[1].guards[0]: guard \"f'{person.age}'\": f-string is not allowed: "
        "\"f'{pers",
    ),
    (
        "guard_getattr.yaml",
        "49:9: transitions[1].guards[0]: guard \"getattr(person, 'age')\": unknown function "
        "'getattr'",
    ),
    (
        "guard_globals.yaml",
        "49:9: transitions[1].guards[0]: guard 'globals()': unknown function 'globals': allowed "
        "fun",
    ),
    (
        "guard_huge_exponent.yaml",
        "49:9: transitions[1].guards[0]: guard '2 ** 10000000': exponent too large in '2 ** "
        "1000000",
    ),
    (
        "guard_huge_index.yaml",
        "49:9: transitions[1].guards[0]: guard '[1,2][10**20]': subscript index must be an "
        "integer ",
    ),
    (
        "guard_import_statement.yaml",
        "49:9: transitions[1].guards[0]: guard 'import os': invalid expression syntax: invalid "
        "synt",
    ),
    (
        "guard_lambda.yaml",
        "49:9: transitions[1].guards[0]: guard '(lambda: 1)()': lambda is not allowed: 'lambda: "
        "1' ",
    ),
    (
        "guard_long_and_chain.yaml",
        "49:9: transitions[1].guards[0]: guard 'True and True and True and True and True and True "
        "a",
    ),
    (
        "guard_long_attribute_chain.yaml",
        "49:9: transitions[1].guards[0]: guard "
        "'person.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.",
    ),
    (
        "guard_long_string.yaml",
        "49:9: transitions[1].guards[0]: guard "
        "\"'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ),
    (
        "guard_method_call.yaml",
        "49:9: transitions[1].guards[0]: guard 'person.hukou.encode()': method calls are not "
        "allowe",
    ),
    (
        "guard_nested_exponent.yaml",
        "49:9: transitions[1].guards[0]: guard 'len(str(9**99999))': exponent too large in "
        "'9**9999",
    ),
    (
        "guard_open.yaml",
        "49:9: transitions[1].guards[0]: guard \"open('/etc/passwd')\": unknown function 'open': "
        "allo",
    ),
    (
        "guard_private_attribute.yaml",
        "49:9: transitions[1].guards[0]: guard 'case._private': dunder/private attribute "
        "'_private'",
    ),
    (
        "guard_range.yaml",
        "49:9: transitions[1].guards[0]: guard 'max(range(10**12))': unknown function 'range': "
        "allo",
    ),
    (
        "guard_star_args.yaml",
        "49:9: transitions[1].guards[0]: guard 'min(*[1, 2])': argument unpacking is not allowed: "
        "'",
    ),
    (
        "guard_str_format.yaml",
        "49:9: transitions[1].guards[0]: guard \"str.format('{}', 1)\": unknown name 'str': "
        "expressio",
    ),
    (
        "guard_subclasses.yaml",
        "49:9: transitions[1].guards[0]: guard '().__class__.__base__.__subclasses__()': "
        "dunder/pri",
    ),
    (
        "guard_two_statements.yaml",
        "49:9: transitions[1].guards[0]: guard 'person.age; 1': invalid expression syntax: "
        "invalid ",
    ),
    (
        "guard_walrus.yaml",
        "49:9: transitions[1].guards[0]: guard '(x := 1)': assignment expression (:=) is not "
        "allowe",
    ),
    (
        "huge_deadline.yaml",
        "21:15: states.draft.deadline: invalid duration '999999999999wd': write a whole number "
        "foll",
    ),
    (
        "invalid_utf8.yaml",
        "1:1: not UTF-8 text (invalid start byte at byte 265); save the file as UTF-8",
    ),
    (
        "many_documents.yaml",
        "59:1: more than one YAML document in the file; keep one workflow per file and remove the "
        "'",
    ),
    (
        "merge_key.yaml",
        "23:5: states.review: keys must be plain text (no lists, maps or '<<' merges)",
    ),
    (
        "name_huge.yaml",
        "4:11: workflow: workflow name "
        "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ),
    (
        "name_path_traversal.yaml",
        "4:11: workflow: workflow name '../../etc/passwd' must be snake_case (a-z, 0-9, _; "
        "starting",
    ),
    (
        "negative_deadline.yaml",
        "25:15: states.review.deadline: invalid duration '-10d': write a whole number followed by "
        "h",
    ),
    (
        "nul_byte.yaml",
        "6:31: character #x0000 is not allowed in YAML; remove it (control characters cannot "
        "appear",
    ),
    ("quorum_negative.yaml", "28:41: states.review.vote.quorum: quorum must be at least 1"),
    (
        "quorum_huge.yaml",
        "28:41: states.review.vote.quorum: quorum 1000000000000000000000000000000 is more than "
        "10,000 vo",
    ),
    (
        "state_name_huge.yaml",
        "29:5003: YAML syntax error: could not find expected ':' (while scanning a simple key on "
        "li",
    ),
    (
        "tab_indentation.yaml",
        "18:1: YAML syntax error: found character '\\t' that cannot start any token; indent with "
        "spa",
    ),
    (
        "threshold_nan.yaml",
        "28:55: states.review.vote.threshold: threshold '.nan' must be a fraction between 0 and "
        "1; ",
    ),
    (
        "top_level_list.yaml",
        "2:1: a workflow file must be a mapping with keys workflow, version, labels, roles, "
        "states ",
    ),
    ("utf16.yaml", "1:1: not UTF-8 text (invalid start byte at byte 0); save the file as UTF-8"),
    (
        "zero_deadline.yaml",
        "21:15: states.draft.deadline: invalid duration '0wd': write a whole number followed by h "
        "(",
    ),
]


def test_the_workflow_corpus_is_complete() -> None:
    assert sorted(p.name for p in HOSTILE.glob("*.yaml")) == sorted(
        name for name, _ in WORKFLOW_FILES
    )
    assert len(WORKFLOW_FILES) >= 50


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def county(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cli]:
    """One dibao world per backend for the whole corpus, case 1 in 'investigation', as of NOW.

    Shared on purpose: every input must leave it unchanged, which each test checks.
    """
    urls = (
        iter([f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'aidflow.db'}"])
        if request.param == "sqlite"
        else _pg_schema_url()
    )
    url = next(urls)
    engine = make_engine(url)
    try:
        upgrade(engine, training=True)  # the corpus runs at a simulated time (--now)
        world = dibao_world(
            engine,
            FrozenClock(START),
            WorkCalendar.from_file(WORKFLOWS / "policy" / "calendar.yaml"),
        )
        cid = world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id)
        world.fire("li", cid, "accept")
        world.fire("li", cid, "start_investigation", investigators="li,zhao")
        yield Cli(url, now=NOW)
    finally:
        engine.dispose()
        for _ in urls:  # drops the PostgreSQL schema
            pass


@pytest.mark.parametrize(("name", "problem"), WORKFLOW_FILES, ids=[n for n, _ in WORKFLOW_FILES])
def test_hostile_workflow_file_is_refused_and_deploys_nothing(
    county: Cli, name: str, problem: str
) -> None:
    before = dump(county.url)
    path = HOSTILE / name
    result = county("workflow", "deploy", str(path), user="admin")
    assert result.exit_code == 3, (result.exit_code, result.output)
    assert result.stdout == ""
    assert result.stderr.startswith("error: 1 problem found:\n") or result.stderr.startswith(
        "error: "
    )
    assert f"{path}:{problem}" in result.stderr
    assert "Traceback" not in result.output
    assert dump(county.url) == before


# (id, user, argv, exit code, text the error must contain)
CLI_INPUTS: list[tuple[str, str | None, list[str], int, str]] = [
    # -- ID numbers
    (
        "id_16_chars",
        "li",
        ["person", "add", "1101051949123100", *PERSON],
        3,
        "has 16 characters; it needs 18",
    ),
    (
        "id_19_chars",
        "li",
        ["person", "add", "11010519491231002X1", *PERSON],
        3,
        "has 19 characters",
    ),
    (
        "id_letter",
        "li",
        ["person", "add", "11010519491231A02X", *PERSON],
        3,
        "110***********A02X may only contain digits",
    ),
    (
        "id_feb_30",
        "li",
        ["person", "add", "110105199902300011", *PERSON],
        3,
        "no valid birth date (1999-02-30)",
    ),
    (
        "id_zero_date",
        "li",
        ["person", "add", "11010500000000002X", *PERSON],
        3,
        "no valid birth date (0000-00-00)",
    ),
    (
        "id_future",
        "li",
        ["person", "add", "110105209912310011", *PERSON],
        3,
        "birth date in the future (2099-12-31)",
    ),
    (
        "id_year_1850",
        "li",
        ["person", "add", "110105185001010011", *PERSON],
        3,
        "impossible birth year 1850",
    ),
    (
        "id_check_digit",
        "li",
        ["person", "add", "110105194912310021", *PERSON],
        3,
        "check digit should be X, not 1",
    ),
    (
        "id_15_bad_date",
        "li",
        ["person", "add", "110105490230002", *PERSON],
        3,
        "no valid birth date (1949-02-30)",
    ),
    (
        "id_15_already_known",
        "li",
        ["person", "add", "110105491231002", *PERSON],
        3,
        "a person with ID number 110***********002X is already registered",
    ),
    (
        "id_lowercase_x_known",
        "li",
        ["person", "add", "11010519491231002x", *PERSON],
        3,
        "110***********002X is already registered",
    ),
    (
        "id_full_width",
        "li",
        ["person", "add", "１１０１０５１９４９１２３１００２Ｘ", *PERSON],
        3,
        "may only contain digits, with X allowed last",
    ),
    ("id_empty", "li", ["person", "add", "", *PERSON], 3, "has 0 characters; it needs 18"),
    ("id_spaces", "li", ["person", "add", "   ", *PERSON], 3, "has 0 characters; it needs 18"),
    ("id_nul", "li", ["person", "add", "11010519491231002\x00", *PERSON], 2, "contains a NUL byte"),
    (
        "person_name_empty",
        "li",
        ["person", "add", "110105194912310011", "--name", " ", *PERSON[2:]],
        3,
        "name, township and village must not be empty",
    ),
    (
        "person_name_10000",
        "li",
        ["person", "add", "110105194912310011", "--name", "x" * 10000, *PERSON[2:]],
        3,
        "name is 10000 characters long; the limit is 100",
    ),
    (
        "person_hukou",
        "li",
        ["person", "add", "110105194912310011", *PERSON[:6], "--hukou", "both"],
        2,
        "'both' is not one of 'rural', 'urban'",
    ),
    (
        "person_grade_9",
        "li",
        ["person", "add", "110105194912310011", *PERSON, "--disability-grade", "9"],
        2,
        "9 is not in the range 1<=x<=4",
    ),
    # -- times (--now) and time zones
    ("now_garbage", "li", ["--now", "garbage", "case", "list"], 3, "--now 'garbage' is not a time"),
    (
        "now_feb_30",
        "li",
        ["--now", "2023-02-30T09:00", "case", "list"],
        3,
        "--now '2023-02-30T09:00' is not a time",
    ),
    (
        "now_hour_25",
        "li",
        ["--now", "2023-08-01T25:00", "case", "list"],
        3,
        "'2023-08-01T25:00' is not a time",
    ),
    (
        "now_offset_99h",
        "li",
        ["--now", "2023-08-01T09:00+99:00", "case", "list"],
        3,
        "is not a time",
    ),
    (
        "now_year_99999",
        "li",
        ["--now", "99999-01-01T00:00", "case", "list"],
        3,
        "'99999-01-01T00:00' is not a time",
    ),
    (
        "now_year_1",
        "li",
        ["--now", "0001-01-01T00:00", "case", "fire", "1", "submit_findings"],
        3,
        "--now '0001-01-01T00:00' is out of range",
    ),
    (
        "now_year_9999",
        "li",
        ["--now", "9999-12-31T23:59", "case", "list"],
        3,
        "'9999-12-31T23:59' is out of range",
    ),
    (
        "tz_unknown",
        "li",
        ["--tz", "Mars/Olympus", "case", "list"],
        3,
        "--tz 'Mars/Olympus' is not a known time zone",
    ),
    # -- ids and options
    ("case_id_negative", "li", ["case", "show", "-1"], 2, "No such option '-1'"),
    (
        "case_id_zero",
        "li",
        ["case", "show", "0"],
        2,
        "0 is not in the range 1<=x<=9223372036854775807",
    ),
    (
        "case_id_huge",
        "li",
        ["case", "show", "99999999999999999999999"],
        2,
        "99999999999999999999999 is not in the range",
    ),
    (
        "case_id_2_63",
        "li",
        ["case", "fire", "9223372036854775808", "accept"],
        2,
        "9223372036854775808 is not in the range",
    ),
    ("case_id_missing", "li", ["case", "show", "424242"], 4, "no case 424242"),
    ("case_id_letters", "li", ["case", "show", "abc"], 2, "'abc' is not a valid integer"),
    ("case_id_float", "li", ["case", "show", "1.5"], 2, "'1.5' is not a valid integer"),
    ("case_id_empty", "li", ["case", "show", ""], 2, "'' is not a valid integer"),
    (
        "expect_version_text",
        "li",
        ["case", "fire", "1", "accept", "--expect-version", "abc"],
        2,
        "'abc' is not a valid integer",
    ),
    (
        "unknown_option",
        "li",
        ["case", "fire", "1", "accept", "--bogus"],
        2,
        "No such option '--bogus'",
    ),
    ("unknown_command", "li", ["case", "explode", "1"], 2, "No such command 'explode'"),
    ("limit_zero", "li", ["case", "list", "--limit", "0"], 2, "0 is not in the range 1<=x<=100000"),
    (
        "limit_negative",
        "li",
        ["case", "list", "--limit", "-5"],
        2,
        "-5 is not in the range 1<=x<=100000",
    ),
    ("trigger_empty", "li", ["case", "fire", "1", ""], 6, "workflow 'dibao' has no trigger ''"),
    (
        "trigger_10000",
        "li",
        ["case", "fire", "1", "a" * 10000],
        6,
        "workflow 'dibao' has no trigger 'aaaa",
    ),
    (
        "vote_choice",
        "rep1",
        ["case", "vote", "1", "maybe"],
        2,
        "'maybe' is not one of 'yes', 'no', 'abstain'",
    ),
    (
        "workflow_empty",
        "li",
        ["case", "open", PERSON_ID, "-w", ""],
        4,
        "no deployed workflow named ''",
    ),
    (
        "workflow_unknown",
        "li",
        ["case", "open", PERSON_ID, "-w", "dibaoo"],
        4,
        "no deployed workflow named 'dibaoo'\n  hint: did you mean 'dibao'?",
    ),
    (
        "assign_ghost",
        "li",
        ["case", "open", PERSON_ID, "-w", "dibao", "--assign", "ghost"],
        4,
        "no user named 'ghost'",
    ),
    (
        "key_nul",
        "li",
        ["case", "note", "1", "-n", "x", "--idempotency-key", "a\x00b"],
        2,
        "contains a NUL byte",
    ),
    (
        "key_control",
        "li",
        ["case", "note", "1", "-n", "x", "--idempotency-key", "a\tb"],
        3,
        "idempotency key 'a\\tb' must be 1 to 100 printable characters",
    ),
    (
        "key_101",
        "li",
        ["case", "note", "1", "-n", "x", "--idempotency-key", "k" * 101],
        3,
        "must be 1 to 100 printable characters",
    ),
    (
        "user_name_long",
        "admin",
        ["user", "add", "u" * 65, "--role", "x", "--area", "*", "--email", "a@b.c"],
        3,
        "user name is 65 characters long; the limit is 64",
    ),
    (
        "user_email",
        "admin",
        ["user", "add", "bob", "--role", "x", "--area", "*", "--email", "bob"],
        3,
        "email 'bob' is not an email address",
    ),
    (
        "user_area",
        "admin",
        ["user", "add", "bob", "--role", "admin", "--area", "/a/b/", "--email", "b@c.d"],
        3,
        "area '/a/b/' is not valid",
    ),
    # -- text: NUL bytes, bytes that are not UTF-8, empty notes
    ("note_empty", "li", ["case", "note", "1", "--note", "  "], 3, "the note is empty"),
    (
        "note_nul",
        "li",
        ["case", "note", "1", "--note", "a\x00b"],
        2,
        "argument 'a\\x00b' contains a NUL byte",
    ),
    (
        "note_bad_utf8",
        "li",
        ["case", "note", "1", "--note", b"caf\xe9 \xff".decode("utf-8", "surrogateescape")],
        2,
        "is not valid UTF-8 text",
    ),
    (
        "trigger_bad_utf8",
        "li",
        ["case", "fire", "1", b"\xc3\x28".decode("utf-8", "surrogateescape")],
        2,
        "is not valid UTF-8 text",
    ),
    # -- field values
    *[
        (
            f"decimal_{name}",
            "li",
            [
                "case",
                "fire",
                "1",
                "submit_findings",
                "-n",
                "visited",
                "-f",
                f"monthly_income={raw}",
                "-f",
                "income_stable=no",
            ],
            3,
            f"field monthly_income={raw!r}: {why}",
        )
        for name, raw, why in [
            ("nan", "NaN", "must be a finite number"),
            ("snan", "sNaN", "must be a finite number"),
            ("infinity", "Infinity", "must be a finite number"),
            ("minus_inf", "-inf", "must be a finite number"),
            ("1e999", "1e999", "must be below 10^15"),
            ("huge", "9" * 40, "must be below 10^15"),
            ("tiny", "1e-999", "must have at most 6 decimal places"),
            ("comma", "12,5", "not a valid decimal"),
            ("empty", "", "not a valid decimal"),
            ("hex", "0x10", "not a valid decimal"),
        ]
    ],
    *[
        (
            f"bool_{name}",
            "li",
            [
                "case",
                "fire",
                "1",
                "submit_findings",
                "-n",
                "visited",
                "-f",
                "monthly_income=120",
                "-f",
                f"income_stable={raw}",
            ],
            3,
            f"field income_stable={raw!r}: must be true or false",
        )
        for name, raw in [("maybe", "maybe"), ("empty", ""), ("two", "2"), ("nul_word", "null")]
    ],
    (
        "field_not_pair",
        "li",
        ["case", "fire", "1", "submit_findings", "-f", "monthly_income"],
        3,
        "--field 'monthly_income' is not NAME=VALUE",
    ),
    (
        "field_no_name",
        "li",
        ["case", "fire", "1", "submit_findings", "-f", "=x"],
        3,
        "--field '=x' is not NAME=VALUE",
    ),
    (
        "field_twice",
        "li",
        [
            "case",
            "fire",
            "1",
            "submit_findings",
            "-f",
            "monthly_income=1",
            "-f",
            "monthly_income=2",
        ],
        3,
        "--field monthly_income given twice",
    ),
    (
        "field_unknown",
        "li",
        ["case", "fire", "1", "submit_findings", "-f", "salary=1"],
        3,
        "'submit_findings' does not take field 'salary'",
    ),
    (
        "field_missing",
        "li",
        ["case", "fire", "1", "submit_findings", "-n", "visited"],
        3,  # invalid input: the command lacks what the action takes
        "monthly_income",
    ),
]


def test_the_cli_corpus_is_large_enough() -> None:
    assert len({i for i, *_ in CLI_INPUTS}) == len(CLI_INPUTS) >= 50


@pytest.mark.parametrize(
    ("user", "argv", "code", "text"), [c[1:] for c in CLI_INPUTS], ids=[c[0] for c in CLI_INPUTS]
)
def test_hostile_command_line_is_refused_and_writes_nothing(
    county: Cli, user: str | None, argv: list[str], code: int, text: str
) -> None:
    before = dump(county.url)
    result = county(*argv, user=user)  # a --now in argv comes after Cli's own and wins
    assert result.exit_code == code, (result.exit_code, result.output[:500])
    assert text in result.stderr, result.stderr[:500]
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert dump(county.url) == before


def test_a_4000_character_note_is_stored_whole(world: World, db_url: str) -> None:  # noqa: F811
    cid = world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id)
    note = "很长的记录。" * 666 + "end."
    assert len(note) == 4000  # the limit (language.textlimits)
    result = Cli(db_url, now=NOW)("case", "note", str(cid), "--note", note, user="li")
    assert result.exit_code == 0 and result.stdout == f"case {cid}: note #2 added\n"
    history = world.run(lambda svc: [e.note for e in svc.view(svc.actor("li"), cid).events])
    assert history[-1] == note
    assert world.verify() == []
    assert world.run(lambda svc: svc.session.get_one(Case, cid).last_seq) == 2
