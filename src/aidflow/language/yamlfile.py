"""Strict YAML reading with line/column marks for every value.

PyYAML follows YAML 1.1, where `on`, `yes` and `off` are booleans and `1:30` is 90.
Here only `true`/`false` are booleans, only plain decimal digits are integers, and the
1.1 surprises are refused with a message instead of silently changing meaning.
Duplicate keys are refused too. Every problem is collected, not just the first.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aidflow.errors import Problem
from aidflow.i18n import N_, _

Path_ = tuple[str | int, ...]

_BOOL = {"true": True, "false": False}
_NULL = {"", "~", "null"}
_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")
_YAML11_BOOL = re.compile(
    r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|True|TRUE|False|FALSE)$"
)
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")
_OCTAL_OR_HEX = re.compile(r"^[-+]?(0[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+)$")


@dataclass
class Document:
    """A parsed YAML document: plain data plus where each value and key came from."""

    file: str
    data: Any
    value_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def where(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """The line and column of `path`, or of its nearest ancestor that has one."""
        marks = (self.key_marks, self.value_marks) if key else (self.value_marks, self.key_marks)
        p = tuple(path)
        while True:
            for m in marks:
                if p in m:
                    return m[p]
            if not p:
                return (1, 1)
            p = p[:-1]

    def problem(
        self, path: Path_, message: str, hint: str | None = None, *, key: bool = False
    ) -> None:
        line, col = self.where(path, key=key)
        self.problems.append(Problem(self.file, line, col, format_path(path), message, hint))

    def source_json(self) -> str:
        return json.dumps(
            self.data, ensure_ascii=False
        )  # keep the file's order: states list as written


def format_path(path: Path_) -> str:
    """('transitions', 2, 'dest') -> 'transitions[2].dest'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def read_yaml(text: str, file: str) -> Document:
    """Parse `text` strictly; problems are recorded on the returned Document."""
    doc = Document(file=file, data=None)
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg, hint = _syntax_message(exc)
        doc.problems.append(Problem(file, line, col, "", msg, hint))
        return doc
    except yaml.reader.ReaderError as exc:  # a control character such as NUL; no mark of its own
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        doc.problems.append(
            Problem(
                file,
                line,
                col,
                "",
                _(
                    "character #x{code} is not allowed in YAML",
                    code=format(exc.character, "04x"),
                ),
                _("remove it (control characters cannot appear in a workflow file)"),
            )
        )
        return doc
    except yaml.YAMLError as exc:
        doc.problems.append(Problem(file, 1, 1, "", _("YAML error: {error}", error=str(exc))))
        return doc
    except RecursionError:  # PyYAML composes deeply nested [[[...]]] recursively
        doc.problems.append(
            Problem(
                file,
                1,
                1,
                "",
                _("YAML nested too deeply"),
                _("a workflow needs a few levels of nesting; remove the deep brackets"),
            )
        )
        return doc
    empty = Problem(
        file,
        1,
        1,
        "",
        _("the file is empty"),
        _(
            "write a workflow: a mapping with keys "
            "workflow, version, labels, roles, states and transitions"
        ),
    )
    if not nodes or nodes[0] is None:
        doc.problems.append(empty)
        return doc
    if len(nodes) > 1:
        line, col = _mark(nodes[1])
        doc.problems.append(
            Problem(
                file,
                line,
                col,
                "",
                _("more than one YAML document in the file"),
                _("keep one workflow per file and remove the '---' separator"),
            )
        )
    doc.data = _convert(nodes[0], (), doc, set())
    if doc.data is None and not doc.problems:  # `---`, `~` or `null` alone
        doc.problems.append(empty)
    return doc


# PyYAML's own words for the common mistakes, as patterns whose groups fill the message.
_PYYAML_WORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), message)
    for pattern, message in (
        (
            r"found character '(?P<char>.+)' that cannot start any token",
            N_("found character '{char}' that cannot start any token"),
        ),
        (
            r"expected '(?P<first>.)' or '(?P<second>.)', but got '(?P<got>.*)'",
            N_("expected '{first}' or '{second}', but got '{got}'"),
        ),
        (
            r"expected <block end>, but found '(?P<got>.*)'",
            N_("expected <block end>, but found '{got}'"),
        ),
        (r"found undefined alias '(?P<name>.*)'", N_("found undefined alias '{name}'")),
        (r"found unexpected end of stream", N_("found unexpected end of stream")),
        (r"could not find expected ':'", N_("could not find expected ':'")),
        (r"found unexpected ':'", N_("found unexpected ':'")),
        (r"while scanning for the next token", N_("while scanning for the next token")),
        (r"while scanning a simple key", N_("while scanning a simple key")),
        (r"while scanning a quoted scalar", N_("while scanning a quoted scalar")),
        (r"while scanning a plain scalar", N_("while scanning a plain scalar")),
        (r"while parsing a flow sequence", N_("while parsing a flow sequence")),
        (r"while parsing a flow mapping", N_("while parsing a flow mapping")),
        (r"while parsing a block mapping", N_("while parsing a block mapping")),
        (r"while parsing a block collection", N_("while parsing a block collection")),
        (r"while parsing a block node", N_("while parsing a block node")),
    )
)


# The tokens PyYAML names in its messages ("but got '<stream end>'").
_PYYAML_TOKENS = frozenset(
    (
        N_("<stream end>"),
        N_("<block end>"),
        N_("<block mapping start>"),
        N_("<block sequence start>"),
        N_("<scalar>"),
    )
)


def _pyyaml_words(text: str) -> str:
    """One of PyYAML's messages in the current language (as it is where none matches)."""
    for pattern, message in _PYYAML_WORDS:
        match = pattern.fullmatch(text)
        if match:
            values = {k: _(v) if v in _PYYAML_TOKENS else v for k, v in match.groupdict().items()}
            return _(message, **values) if values else _(message)
    return text


def _syntax_message(exc: yaml.MarkedYAMLError) -> tuple[str, str]:
    """PyYAML's parser wording, translated for the common mistakes, and a hint."""
    raw = str(exc.problem or exc.context)
    problem = _pyyaml_words(raw)
    if raw.startswith("expected <block end>"):
        return (
            _(
                "YAML syntax error: bad indentation: "
                "this line does not line up with the lines above it"
            ),
            _("indent it exactly like the other keys or items at its level (spaces only)"),
        )
    if raw == "mapping values are not allowed here":
        return (
            _("YAML syntax error: unexpected ':' (mapping values are not allowed here)"),
            _("check the indentation of this line, and put values that contain ': ' in quotes"),
        )
    if "'\\t'" in raw:
        return (
            _("YAML syntax error: {problem}", problem=problem),
            _("indent with spaces, not tabs"),
        )
    if exc.context and exc.problem:
        if exc.context_mark:
            context = _(
                "{context} on line {line}",
                context=_pyyaml_words(str(exc.context)),
                line=exc.context_mark.line + 1,
            )
        else:
            context = _pyyaml_words(str(exc.context))
        return (
            _("YAML syntax error: {problem} ({context})", problem=problem, context=context),
            _("check indentation, brackets and quoting"),
        )
    return (
        _("YAML syntax error: {problem}", problem=problem),
        _("check indentation, brackets and quoting"),
    )


def _show_tag(tag: str) -> str:
    return (
        "!!" + tag.removeprefix("tag:yaml.org,2002:")
        if tag.startswith("tag:yaml.org,2002:")
        else tag
    )


_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{t}"
    for t in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq", "value")
}


def _convert(node: yaml.Node, path: Path_, doc: Document, expanded: set[int]) -> Any:
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        # An alias (*name) is the same node again: expanding lists and mappings twice allows
        # exponential "billion laughs" files, and `&a [*a]` recurses forever.
        if id(node) in expanded:
            doc.value_marks[path] = doc.where(path)  # where it is used, not where the anchor is
            doc.problem(
                path,
                _("an alias (*name) of a list or mapping is not allowed"),
                _("write the value out in full"),
            )
            return None
        expanded.add(id(node))
    doc.value_marks[path] = _mark(node)
    if node.tag not in _PLAIN_TAGS:
        doc.problem(
            path,
            _("YAML tag '{tag}' is not allowed", tag=_show_tag(node.tag)),
            _("remove the tag; write plain values"),
        )
        return None
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if (
                not isinstance(key_node, yaml.ScalarNode)
                or key_node.tag == "tag:yaml.org,2002:merge"
            ):
                line, col = _mark(key_node)
                doc.problems.append(
                    Problem(
                        doc.file,
                        line,
                        col,
                        format_path(path),
                        _("keys must be plain text (no lists, maps or '<<' merges)"),
                    )
                )
                continue
            key = str(key_node.value)
            child = path + (key,)
            if key in first_seen:
                line, col = _mark(key_node)
                doc.problems.append(
                    Problem(
                        doc.file,
                        line,
                        col,
                        format_path(child),
                        _(
                            "duplicate key '{key}' (first defined on line {line})",
                            key=key,
                            line=first_seen[key],
                        ),
                        _("remove or rename one of them"),
                    )
                )
                continue
            first_seen[key] = _mark(key_node)[0]
            doc.key_marks[child] = _mark(key_node)
            out[key] = _convert(value_node, child, doc, expanded)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), doc, expanded) for i, item in enumerate(node.value)]
    return _scalar(node, path, doc)


def _scalar(node: yaml.Node, path: Path_, doc: Document) -> Any:
    value = str(node.value)
    if node.style is not None:  # quoted or block scalar: always text
        return value
    if value in _BOOL:
        return _BOOL[value]
    if value in _NULL:
        return None
    if _INT.match(value):
        try:
            return int(value)
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
            doc.problem(
                path,
                _("number too long ({digits} digits)", digits=len(value)),
                _("write a smaller number"),
            )
            return value
    if _FLOAT.match(value):
        return float(value)
    if _YAML11_BOOL.match(value):
        doc.problem(
            path,
            _("ambiguous value {value}: YAML 1.1 reads it as a boolean", value=value),
            _("write true or false, or quote it ('{value}') if you mean the text", value=value),
        )
        return value
    if _SEXAGESIMAL.match(value):
        doc.problem(
            path,
            _("ambiguous value {value}: YAML 1.1 reads it as a base-60 number", value=value),
            _("quote it ('{value}') if you mean the text", value=value),
        )
        return value
    if _OCTAL_OR_HEX.match(value):
        doc.problem(
            path,
            _(
                "ambiguous value {value}: YAML 1.1 reads it as an octal/hex/binary number",
                value=value,
            ),
            _("write a plain decimal number, or quote it ('{value}')", value=value),
        )
        return value
    return value


def read_yaml_file(path: str | Path) -> Document:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        doc = Document(file=str(path), data=None)
        doc.problems.append(Problem(str(path), 0, 0, "", _("file not found"), _("check the path")))
        return doc
    except UnicodeDecodeError as exc:
        doc = Document(file=str(path), data=None)
        doc.problems.append(
            Problem(
                str(path),
                1,
                1,
                "",
                _("not UTF-8 text ({reason} at byte {byte})", reason=exc.reason, byte=exc.start),
                _("save the file as UTF-8"),
            )
        )
        return doc
    return read_yaml(text, str(path))
