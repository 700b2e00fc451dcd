"""Writes the hostile workflow files in tests/hostile/workflows/ (run from the repository root).

Each file is tests/workflows/valid/minimal.yaml with one hostile change; the expected
error for each is in tests/test_hostile.py (WORKFLOW_FILES).
"""

from pathlib import Path

out = Path("tests/hostile/workflows")
src = Path("tests/workflows/valid/minimal.yaml").read_text()
line = "      - case.amount > 0 and person.age >= 18"
head = "# Hostile input: {what}. Made from tests/workflows/valid/minimal.yaml.\n"
guards = {
    "guard_subclasses": (
        "().__class__.__base__.__subclasses__()",
        "a walk to object.__subclasses__()",
    ),
    "guard_dunder_dict": ("person.__dict__", "reading an object's __dict__"),
    "guard_dunder_on_field": ("case.amount.__class__", "a dunder attribute on a field value"),
    "guard_builtins": ("__builtins__", "the builtins module by name"),
    "guard_import_statement": ("import os", "an import statement"),
    "guard_dunder_import": (
        "person.age >= 18 if case.amount else __import__('os')",
        "__import__ hidden in a branch",
    ),
    "guard_exec": ("exec('1')", "exec"),
    "guard_eval": ("eval('1+1')", "eval"),
    "guard_open": ("open('/etc/passwd')", "reading a file"),
    "guard_getattr": ("getattr(person, 'age')", "getattr"),
    "guard_globals": ("globals()", "globals()"),
    "guard_huge_exponent": ("2 ** 10000000", "a huge exponent"),
    "guard_nested_exponent": ("len(str(9**99999))", "a huge exponent inside calls"),
    "guard_exponent_in_abs": ("abs(-10**10000)", "a huge negative power"),
    "guard_deep_parens": ("(" * 300 + "1" + ")" * 300, "300 nested parentheses"),
    "guard_deep_not": ("not " * 2000 + "True", "2000 nested nots"),
    "guard_long_and_chain": ("True " + "and True " * 5000, "a 45,000-character expression"),
    "guard_long_attribute_chain": ("person" + ".a" * 500, "a 500-deep attribute chain"),
    "guard_long_string": ("'" + "a" * 200000 + "' == person.hukou", "a 200,000-character string"),
    "guard_comprehension": ("[x for x in range(10)]", "a comprehension"),
    "guard_lambda": ("(lambda: 1)()", "a lambda"),
    "guard_private_attribute": ("case._private", "a private attribute"),
    "guard_fstring": ("f'{person.age}'", "an f-string"),
    "guard_two_statements": ("person.age; 1", "two statements"),
    "guard_walrus": ("(x := 1)", "an assignment expression"),
    "guard_method_call": ("person.hukou.encode()", "a method call"),
    "guard_dict_method": ("{}.get('x')", "a dict literal and a method"),
    "guard_star_args": ("min(*[1, 2])", "argument unpacking"),
    "guard_str_format": ("str.format('{}', 1)", "a method of a builtin type"),
    "guard_range": ("max(range(10**12))", "range()"),
    "guard_huge_index": ("[1,2][10**20]", "a huge subscript"),
}
for name, (g, what) in guards.items():
    esc = g.replace("\\", "\\\\").replace('"', '\\"')
    (out / f"{name}.yaml").write_text(
        head.format(what=what) + src.replace(line, f'      - "{esc}"')
    )


def sub(name, what, old, new, count=1):
    assert old in src, old
    (out / f"{name}.yaml").write_text(head.format(what=what) + src.replace(old, new, count))


sub(
    "billion_laughs",
    "a YAML alias bomb (billion laughs)",
    "fields:\n  amount: {type: decimal}\n",
    "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 9))
    + "fields:\n  amount: {type: decimal}\n",
)
sub(
    "deep_flow_nesting",
    "10,000 nested flow sequences",
    "fields:\n  amount: {type: decimal}\n",
    "fields:\n  amount: {type: decimal}\nextra: " + "[" * 10000 + "]" * 10000 + "\n",
)
sub(
    "huge_deadline",
    "a deadline of 999999999999 working days",
    "deadline: 3wd",
    "deadline: 999999999999wd",
)
sub("negative_deadline", "a negative deadline", "deadline: 10d", "deadline: -10d")
sub("zero_deadline", "a zero deadline", "deadline: 3wd", "deadline: 0wd")
sub("deadline_float", "a fractional deadline", "deadline: 10d", "deadline: 1.5d")
sub("deadline_unit_unknown", "a deadline in fortnights", "deadline: 10d", "deadline: 2fortnights")
sub(
    "name_path_traversal",
    "a workflow name with ../",
    "workflow: minimal",
    "workflow: ../../etc/passwd",
)
sub(
    "name_huge", "a 10,000-character workflow name", "workflow: minimal", "workflow: " + "a" * 10000
)
sub("state_name_huge", "a 5,000-character state name", "  approved:\n", "  " + "a" * 5000 + ":\n")
sub("threshold_nan", "a vote threshold .nan", "threshold: 2/3", "threshold: .nan")
sub("quorum_negative", "a negative quorum", "quorum: 3", "quorum: -3")
sub(
    "quorum_huge",
    "a quorum of 10**30 voters",
    "quorum: 3",
    "quorum: 1000000000000000000000000000000",
)
sub(
    "field_type_unknown",
    "a field of type python",
    "amount: {type: decimal}",
    "amount: {type: python}",
)
sub("tab_indentation", "a tab used for indentation", "  draft:\n    labels", "  draft:\n\tlabels")
(out / "top_level_list.yaml").write_text(
    "# Hostile input: a list instead of a mapping.\n- workflow: minimal\n- version: 1\n"
)
(out / "nul_byte.yaml").write_bytes(
    (
        "# Hostile input: a NUL byte in a label.\n"
        + src.replace("Minimal workflow", "Minimal\x00workflow")
    ).encode()
)
(out / "invalid_utf8.yaml").write_bytes(
    b"# Hostile input: bytes that are not UTF-8.\n"
    + src.replace("Minimal workflow", "MINIMAL_MARK")
    .encode()
    .replace(b"MINIMAL_MARK", b"Minimal \xff\xfe workflow")
)
(out / "binary_garbage.yaml").write_bytes(
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
)
(out / "utf16.yaml").write_bytes(src.encode("utf-16"))
(out / "many_documents.yaml").write_text(
    head.format(what="two YAML documents in one file") + src + "---\n" + src
)
(out / "merge_key.yaml").write_text(
    head.format(what="a YAML merge key")
    + src.replace("  review:\n    labels", "  review:\n    <<: {owner: officer}\n    labels", 1)
)
sub("dwell_without_unit", "a dwell time without a unit", "min_dwell: 2d", "min_dwell: 2")
sub("deadline_words", "a deadline in words", "deadline: 10d", "deadline: ten days")
