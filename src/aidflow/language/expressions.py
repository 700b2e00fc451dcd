"""Sandboxed guard expressions over case data (never Python eval).

A guard such as ``person.age >= 60 and person.hukou == 'rural'`` is parsed with
``ast.parse(text, mode='eval')``, checked against a small whitelist grammar when it is
compiled, and evaluated by walking the checked tree here. Nothing is ever compiled to code,
and anything outside the grammar is an `ExpressionError` at compile time:

* constants: int (absolute value at most 10**15), float, str (at most 200 characters),
  bool, None; list and tuple literals;
* ``namespace.field``, exactly one level deep, for the namespaces given to
  `compile_expression` (``person``, ``case``, ``vote``, ``policy`` by default). Field
  names are lower-case letters, digits and ``_`` and never start with ``_``;
* subscripts with a constant integer or string index: ``case.investigators[0]``;
* comparisons ``== != < <= > >= in not in`` (chains allowed), ``and or not``,
  unary ``- +``, binary ``+ - * / // %`` and ``**`` with a constant exponent of at most 10;
* ``a if condition else b``;
* calls by name to the functions in `FUNCTIONS`, with positional arguments only.

The text is at most 1000 characters and at most 30 expressions deep.

Missing data reads as None, and None never raises:

* a missing namespace, field, key or list item reads as None;
* ordering comparisons (``< <= > >=``) with a None side are false, and so are ``in`` and
  ``not in`` when the container is None; ``==`` and ``!=`` compare None as usual;
* None propagates through arithmetic and unary minus (``None + 1`` is None), and a
  function called with a None argument returns None.

So ``person.age >= 60`` is simply false when the age is not recorded. Real type errors
(``'a' - 1``), division by zero and results that are too large raise
``ExpressionError("cannot evaluate ...")``. Computed strings, lists and tuples may hold at
most 10,000 characters and items in all (nested ones included), and computed integers
must stay below 2**256, so ``person.name * 10**9`` fails before it allocates anything.
What must exceed those limits whatever the data is refused when the expression is compiled
(`_Bounds`): constant parts are folded and sequences keep their least size, so
``'a' * 10**10``, ``[case.x] * 100000`` and ``(10**10)**10`` never reach a case.

`Expression.evaluate` never raises anything but `ExpressionError` for a checked expression
over plain data; values from the scope are compared and added with their own operators.
"""

from __future__ import annotations

import ast
import functools
import numbers
import operator
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from aidflow.errors import ExpressionError, did_you_mean
from aidflow.i18n import N_, _, ngettext, pick

__all__ = [
    "DEFAULT_NAMESPACES",
    "FUNCTIONS",
    "Expression",
    "check_references",
    "compile_expression",
]

DEFAULT_NAMESPACES: tuple[str, ...] = ("person", "case", "vote", "policy")

MAX_LENGTH = 1000
MAX_DEPTH = 30
MAX_STRING = 200
MAX_INT = 10**15
MAX_EXPONENT = 10
MAX_ITEMS = 10_000
MAX_INT_BITS = 256
MAX_ROUND_DIGITS = 15

_FIELD = re.compile(r"[a-z_][a-z0-9_]*\Z")
_NEWLINE = re.compile(r"\r\n|\r|\n")


# -- the function whitelist -------------------------------------------------------------


def _lower(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(_("lower() expects a string, got {kind}", kind=type(text).__name__))
    return text.lower()


def _contains(collection: Any, item: Any) -> bool:
    return item in collection


def _round(number: Any, ndigits: Any = None) -> Any:
    if ndigits is None:
        return round(number)
    if not isinstance(ndigits, int) or isinstance(ndigits, bool) or abs(ndigits) > MAX_ROUND_DIGITS:
        raise ValueError(
            _("round() digits must be an integer from -{most} to {most}", most=MAX_ROUND_DIGITS)
        )
    return round(number, ndigits)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise TypeError(
        _(
            "days_between() expects dates or 'YYYY-MM-DD' strings, got {kind}",
            kind=type(value).__name__,
        )
    )


def _days_between(start: Any, end: Any) -> int:
    """Days from `start` to `end` (negative when `end` is earlier)."""
    return (_as_date(end) - _as_date(start)).days


FUNCTIONS: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {
        "abs": abs,
        "all": all,
        "any": any,
        "contains": _contains,
        "days_between": _days_between,
        "int": int,
        "len": len,
        "lower": _lower,
        "max": max,
        "min": min,
        "round": _round,
        "str": str,
        "sum": sum,
    }
)
"""The only functions an expression can call, by name. All are pure and cheap."""

# (fewest, most) positional arguments; None means no upper bound.
_ARITY: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1),
    "all": (1, 1),
    "any": (1, 1),
    "contains": (2, 2),
    "days_between": (2, 2),
    "int": (1, 1),
    "len": (1, 1),
    "lower": (1, 1),
    "max": (1, None),
    "min": (1, None),
    "round": (1, 2),
    "str": (1, 1),
    "sum": (1, 1),
}

# -- operators --------------------------------------------------------------------------

_BINARY: dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.FloorDiv: ("//", operator.floordiv),
    ast.Mod: ("%", operator.mod),
    ast.Pow: ("**", operator.pow),
}
_REFUSED_BINARY = {
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_MEMBERSHIP = (ast.In, ast.NotIn)

# Node types outside the grammar, with what to call them in a message and a hint.
_REFUSED: dict[type[ast.AST], tuple[str, str | None]] = {
    ast.Lambda: ("lambda", None),
    ast.ListComp: (N_("comprehension"), N_("use any(), all() or contains() on a list field")),
    ast.SetComp: (N_("comprehension"), N_("use any(), all() or contains() on a list field")),
    ast.DictComp: (N_("comprehension"), N_("use any(), all() or contains() on a list field")),
    ast.GeneratorExp: (N_("comprehension"), N_("use any(), all() or contains() on a list field")),
    ast.NamedExpr: (N_("assignment expression (:=)"), None),
    ast.JoinedStr: ("f-string", N_("compare plain strings instead")),
    ast.FormattedValue: ("f-string", N_("compare plain strings instead")),
    ast.Await: ("'await'", None),
    ast.Yield: ("'yield'", None),
    ast.YieldFrom: ("'yield'", None),
    ast.Starred: (N_("unpacking (*)"), None),
    ast.Slice: (N_("slice"), N_("index with a single constant, as in case.investigators[0]")),
    ast.Set: (N_("set literal"), N_("use a list, as in ['a', 'b']")),
    ast.Dict: (N_("dict literal"), None),
}


# -- where things are in the text -------------------------------------------------------


_Located = ast.expr | ast.keyword  # the nodes that carry a position


class _Source:
    """The parsed text, with AST positions (lines, UTF-8 byte offsets) turned into columns.

    `ast.parse` refuses leading whitespace ("unexpected indent"), so the text is parsed
    without it and `prefix` is added back to every column.
    """

    def __init__(self, text: str) -> None:
        self.text = text.lstrip()
        self.prefix = len(text) - len(self.text)
        self.starts = [0] + [m.end() for m in _NEWLINE.finditer(self.text)]

    def _line(self, lineno: int) -> str:
        index = min(max(lineno, 1), len(self.starts)) - 1
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.text)
        return self.text[self.starts[index] : end]

    def _offset(self, lineno: int, byte_col: int) -> int:
        index = min(max(lineno, 1), len(self.starts)) - 1
        chars = len(self._line(lineno).encode("utf-8")[:byte_col].decode("utf-8", "replace"))
        return self.prefix + self.starts[index] + chars

    def column(self, node: _Located) -> int:
        """1-based column of the start of `node` in the original text."""
        return self._offset(node.lineno, node.col_offset) + 1

    def end_column(self, node: _Located) -> int:
        """1-based column just after the end of `node`."""
        return self._offset(node.end_lineno or node.lineno, node.end_col_offset or 0) + 1

    def attr_column(self, node: ast.Attribute) -> int:
        return max(self.column(node), self.end_column(node) - len(node.attr))

    def between_column(self, left: _Located, right: _Located, symbol: str) -> int:
        """Column of the operator `symbol` written between `left` and `right`."""
        start = self.end_column(left) - 1 - self.prefix
        stop = self.column(right) - 1 - self.prefix
        found = self.text.find(symbol, start, max(stop, start))
        return (found if found >= 0 else start) + self.prefix + 1

    def syntax_column(self, exc: SyntaxError) -> int:
        if not exc.lineno:
            return 0
        if not exc.offset or exc.offset < 1:  # "invalid syntax" at the end of the text
            return self.prefix + len(self.text) + 1
        index = min(max(exc.lineno, 1), len(self.starts)) - 1
        return self.prefix + self.starts[index] + exc.offset

    def segment(self, node: ast.AST) -> str:
        """The source of `node`, on one line."""
        text = ast.get_source_segment(self.text, node) or ""
        return re.sub(r"\s*(?:\r\n|\r|\n)\s*", " ", text)

    def quoted(self, node: ast.AST) -> str:
        return _quote(self.segment(node))


def _quote(text: str, limit: int = 60) -> str:
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return repr(text)


def _show(value: Any) -> str:
    """A value as a caseworker should read it: 'rural', 57, 1234.50, 2024-03-01, None."""
    text = str(value) if isinstance(value, (Decimal, date)) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- compiling --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Expression:
    """A checked guard expression; build it with `compile_expression`.

    `references` holds the ``namespace.field`` names it reads and `functions` the names of
    the functions it calls, so a loader can check them against the declared fields.
    """

    text: str
    references: frozenset[str]
    functions: frozenset[str]
    namespaces: tuple[str, ...]
    _tree: ast.Expression = field(repr=False)
    _source: _Source = field(repr=False)
    _ordered_references: tuple[str, ...] = field(repr=False)

    def evaluate(self, scope: Mapping[str, Mapping[str, Any]]) -> Any:
        """The value of the expression, reading ``ns.field`` as ``scope[ns][field]``."""
        return _Evaluator(self._source, scope).eval(self._tree.body)

    def equalities(self) -> dict[str, Any] | None:
        """``{"ns.field": constant}`` when the expression is ``ns.field == constant`` or an
        ``and`` of such comparisons (what a store can turn into WHERE), else None."""
        found: dict[str, Any] = {}

        def walk(node: ast.expr) -> bool:
            if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
                return all(walk(v) for v in node.values)
            if (
                isinstance(node, ast.Compare)
                and len(node.ops) == 1
                and isinstance(node.ops[0], ast.Eq)
                and isinstance(node.left, ast.Attribute)
                and isinstance(node.left.value, ast.Name)
                and isinstance(node.comparators[0], ast.Constant)
            ):
                found[f"{node.left.value.id}.{node.left.attr}"] = node.comparators[0].value
                return True
            return False

        return found if walk(self._tree.body) else None

    def explain(self, scope: Mapping[str, Mapping[str, Any]]) -> str:
        """Why the expression is falsy: each failing comparison or name, with actual values.

        For example ``person.age >= 60 is false (person.age = 57)``; several failures in
        an and/or chain are joined with ``; ``. A truthy expression gives ``<text> is true``.
        """
        evaluator = _Evaluator(self._source, scope)
        body = self._tree.body
        if evaluator.eval(body):
            return f"{self._source.segment(body)} is true"
        return "; ".join(evaluator.failures(body))

    def describe(
        self, scope: Mapping[str, Mapping[str, Any]], labels: Mapping[str, str] | None = None
    ) -> list[str]:
        """Why the expression is falsy, in words of the current language: one sentence per
        failing part, naming fields by `labels` (``ns.field`` -> label, ``ns.field=value``
        -> the label of a choice), e.g. ``Investigators must number at least 2 (now 1)``.
        `explain` gives the same with the expression's own text. Empty when it is truthy."""
        evaluator = _Evaluator(self._source, scope)
        body = self._tree.body
        if evaluator.eval(body):
            return []
        return _Words(evaluator, labels or {}).reasons(body)


def compile_expression(text: str, *, namespaces: Iterable[str] = DEFAULT_NAMESPACES) -> Expression:
    """Parse and check `text` against the guard grammar; see the module docstring.

    Raises `ExpressionError` (with a 1-based `column` into `text` and often a `hint`) for
    anything outside the grammar. Results are cached on (text, namespaces).
    """
    if not isinstance(text, str):
        raise ExpressionError(
            _("expression must be a string, got {kind}", kind=type(text).__name__)
        )
    names = tuple(namespaces)
    for name in names:
        if not isinstance(name, str) or not _FIELD.match(name) or name.startswith("_"):
            raise ValueError(_("invalid namespace name {name}", name=repr(name)))
    return _compile(text, names)


# Every command and sweep compiles the same few guard texts for each case it touches, and
# parsing and checking one costs far more than the look-up; the texts come from deployed
# workflows, so the cache stays small.
@functools.lru_cache(maxsize=1024)
def _compile(text: str, namespaces: tuple[str, ...]) -> Expression:
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            _(
                "expression is too long: {n} characters (the limit is {limit})",
                n=len(text),
                limit=MAX_LENGTH,
            ),
            column=MAX_LENGTH + 1,
            hint=_("split it into several guards"),
        )
    if not text.strip():
        raise ExpressionError(
            _("expression is empty"), hint=_("write a condition such as person.age >= 60")
        )
    source = _Source(text)
    tree = _parse(source)
    _check_depth(source, tree)
    checker = _Checker(source, namespaces)
    checker.check(tree.body)
    _Bounds(source).bound(tree.body)
    return Expression(
        text=text,
        references=frozenset(checker.references),
        functions=frozenset(checker.functions),
        namespaces=namespaces,
        _tree=tree,
        _source=source,
        _ordered_references=tuple(checker.references),
    )


_TOO_DEEP = N_("expression nested too deeply (the limit is {limit} levels)")
_TOO_DEEP_HINT = N_("split it into simpler guards")


def _too_deep(column: int) -> ExpressionError:
    return ExpressionError(_(_TOO_DEEP, limit=MAX_DEPTH), column=column, hint=_(_TOO_DEEP_HINT))


# CPython 3.11 keeps the AST constructor's recursion counter per interpreter, not per
# thread, so concurrent parses can fail with a spurious SystemError (python/cpython#106905).
_PARSE_LOCK = threading.Lock()


def _parse_text(text: str) -> ast.Expression:
    with _PARSE_LOCK:
        try:
            return ast.parse(text, mode="eval")
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc):
                raise
            return ast.parse(text, mode="eval")  # a parse elsewhere interfered; once more


def _parse(source: _Source) -> ast.Expression:
    try:
        return _parse_text(source.text)
    except SyntaxError as exc:
        column = source.syntax_column(exc)
        if exc.msg.startswith("too many nested parentheses"):
            raise _too_deep(column) from None
        hint = None
        at = column - 1 - source.prefix
        if exc.msg == "invalid syntax" and source.text[at : at + 1] == "=":
            hint = _("compare with '==', not '='")
        if hint is None and _NEWLINE.search(source.text):
            hint = _("write the expression on one line, or wrap it in parentheses")
        raise ExpressionError(
            _("invalid expression syntax: {reason}", reason=exc.msg), column=column, hint=hint
        ) from None
    except (RecursionError, MemoryError):
        raise _too_deep(1) from None
    except ValueError as exc:  # null bytes, on some Python versions
        raise ExpressionError(
            _("invalid expression syntax: {reason}", reason=exc), column=1
        ) from None


def _check_depth(source: _Source, tree: ast.Expression) -> None:
    # Iterative, so that the walkers below, which recurse, never see a deep tree.
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            assert isinstance(node, ast.expr)  # only expressions add a level
            raise _too_deep(source.column(node))
        # Reversed, so that the leftmost too-deep node is the one reported.
        for child in reversed(list(ast.iter_child_nodes(node))):
            stack.append((child, depth + isinstance(child, ast.expr)))


class _Checker:
    """Walks a parsed tree and refuses every node outside the grammar."""

    def __init__(self, source: _Source, namespaces: tuple[str, ...]) -> None:
        self.source = source
        self.namespaces = namespaces
        self.references: dict[str, None] = {}  # ordered set
        self.functions: set[str] = set()

    def fail(
        self, message: str, node: _Located, *, column: int | None = None, hint: str | None = None
    ) -> ExpressionError:
        return ExpressionError(
            message, column=self.source.column(node) if column is None else column, hint=hint
        )

    def check(self, node: ast.expr) -> None:
        if isinstance(node, ast.Constant):
            self.constant(node)
        elif isinstance(node, ast.Attribute):
            self.attribute(node)
        elif isinstance(node, ast.Name):
            self.bare_name(node)
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.Compare):
            self.compare(node)
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                self.check(value)
        elif isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Invert):
                raise self.fail(_("operator '{symbol}' is not allowed", symbol="~"), node)
            self.check(node.operand)
        elif isinstance(node, ast.BinOp):
            self.binop(node)
        elif isinstance(node, ast.IfExp):
            self.check(node.body)
            self.check(node.test)
            self.check(node.orelse)
        elif isinstance(node, (ast.List, ast.Tuple)):
            for element in node.elts:
                self.check(element)
        elif isinstance(node, ast.Subscript):
            self.subscript(node)
        else:
            what, hint = _REFUSED.get(type(node), (type(node).__name__, None))
            raise self.fail(
                _("{what} is not allowed: {text}", what=_(what), text=self.source.quoted(node)),
                node,
                hint=_(hint) if hint else None,
            )

    def constant(self, node: ast.Constant) -> None:
        value = node.value
        if value is None or isinstance(value, (bool, float)):
            return
        if isinstance(value, int):
            if abs(value) > MAX_INT:
                raise self.fail(
                    _(
                        "integer constant too large: {text} (the limit is 10**15)",
                        text=self.source.quoted(node),
                    ),
                    node,
                )
        elif isinstance(value, str):
            if len(value) > MAX_STRING:
                raise self.fail(
                    _(
                        "string constant too long: {n} characters (the limit is {limit})",
                        n=len(value),
                        limit=MAX_STRING,
                    ),
                    node,
                )
        else:
            what = {bytes: N_("bytes literal"), complex: N_("complex number")}.get(
                type(value), "'...'"
            )
            raise self.fail(
                _("{what} is not allowed: {text}", what=_(what), text=self.source.quoted(node)),
                node,
            )

    def namespace(self, node: ast.Name) -> None:
        if node.id not in self.namespaces:
            allowed = ", ".join(f"{ns}.*" for ns in self.namespaces)
            hint = None
            if node.id in FUNCTIONS:
                hint = _("'{name}' is a function: call it as {name}(...)", name=node.id)
            elif node.id.lower() in ("true", "false", "none", "null"):
                hint = _("write True, False or None")
            else:
                hint = did_you_mean(node.id, self.namespaces)
            raise self.fail(
                _(
                    "unknown name '{name}': expressions may read {allowed}",
                    name=node.id,
                    allowed=allowed,
                ),
                node,
                hint=hint,
            )

    def bare_name(self, node: ast.Name) -> None:
        self.namespace(node)
        raise self.fail(
            _(
                "namespace '{name}' must be followed by a field name, as in '{name}.<field>'",
                name=node.id,
            ),
            node,
        )

    def attribute(self, node: ast.Attribute) -> None:
        value = node.value
        if isinstance(value, ast.Name):
            self.namespace(value)
        else:
            self.check(value)
        attr = node.attr
        column = self.source.attr_column(node)
        quoted = self.source.quoted(node)
        if attr.startswith("_"):
            raise self.fail(
                _(
                    "dunder/private attribute '{attr}' is not allowed in {text}",
                    attr=attr,
                    text=quoted,
                ),
                node,
                column=column,
                hint=_("names starting with '_' can never be read"),
            )
        if not isinstance(value, ast.Name):
            hint = None
            if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name):
                nested = f"{self.source.segment(value)}['{attr}']"
                hint = _("read nested data with a subscript, as in {nested}", nested=nested)
            raise self.fail(
                _(
                    "attribute access {text} is not allowed: only namespace.field, one level deep",
                    text=quoted,
                ),
                node,
                column=column,
                hint=hint,
            )
        if not _FIELD.match(attr):
            raise self.fail(
                _(
                    "invalid field name '{attr}' in {text}: use lower-case letters, digits and '_'",
                    attr=attr,
                    text=quoted,
                ),
                node,
                column=column,
            )
        self.references[f"{value.id}.{attr}"] = None

    def call(self, node: ast.Call) -> None:
        func = node.func
        quoted = self.source.quoted(node)
        if isinstance(func, ast.Attribute):
            if isinstance(func.value, ast.Name):
                self.namespace(func.value)
            else:
                self.check(func.value)
            hint = None
            if func.attr in FUNCTIONS:
                call = f"{func.attr}({self.source.segment(func.value)})"
                hint = _("call it as a function, as in {call}", call=call)
            raise self.fail(
                _("method calls are not allowed: {text}", text=quoted),
                node,
                column=self.source.attr_column(func),
                hint=hint,
            )
        if not isinstance(func, ast.Name):
            self.check(func)
            raise self.fail(_("only named functions can be called, not {text}", text=quoted), node)
        name = func.id
        if name not in FUNCTIONS:
            raise self.fail(
                _(
                    "unknown function '{name}': allowed functions are {allowed}",
                    name=name,
                    allowed=", ".join(sorted(FUNCTIONS)),
                ),
                node,
                hint=did_you_mean(name, FUNCTIONS),
            )
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail(
                    _("argument unpacking is not allowed: {text}", text=self.source.quoted(arg)),
                    arg,
                )
            self.check(arg)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.fail(
                    _(
                        "argument unpacking is not allowed: {text}",
                        text=self.source.quoted(keyword),
                    ),
                    keyword,
                )
            raise self.fail(
                _(
                    "keyword arguments are not allowed: {argument} in {text}",
                    argument=self.source.quoted(keyword),
                    text=quoted,
                ),
                keyword,
                hint=_("pass arguments by position"),
            )
        fewest, most = _ARITY[name]
        count = len(node.args)
        if count < fewest or (most is not None and count > most):
            if most is None:
                wanted = ngettext("at least {n} argument", "at least {n} arguments", fewest)
            elif fewest == most:
                wanted = ngettext("exactly {n} argument", "exactly {n} arguments", fewest)
            else:
                wanted = _("{fewest} or {most} arguments", fewest=fewest, most=most)
            raise self.fail(
                _("{name}() takes {wanted}, got {count}", name=name, wanted=wanted, count=count),
                node,
            )
        self.functions.add(name)

    def compare(self, node: ast.Compare) -> None:
        self.check(node.left)
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            if type(op) not in _COMPARE:
                symbol = "is not" if isinstance(op, ast.IsNot) else "is"
                raise self.fail(
                    _("operator '{symbol}' is not allowed", symbol=symbol),
                    node,
                    column=self.source.between_column(left, right, "is"),
                    hint=_("compare with '==' or '!=', as in case.x == None"),
                )
            self.check(right)
            left = right

    def binop(self, node: ast.BinOp) -> None:
        self.check(node.left)
        if type(node.op) in _REFUSED_BINARY:
            symbol = _REFUSED_BINARY[type(node.op)]
            raise self.fail(
                _("operator '{symbol}' is not allowed", symbol=symbol),
                node,
                column=self.source.between_column(node.left, node.right, symbol),
            )
        self.check(node.right)
        if isinstance(node.op, ast.Pow):
            exponent = _constant_number(node.right)
            quoted = self.source.quoted(node)
            if exponent is None:
                raise self.fail(
                    _(
                        "the exponent in {text} must be a constant number (at most {limit})",
                        text=quoted,
                        limit=MAX_EXPONENT,
                    ),
                    node.right,
                )
            if abs(exponent) > MAX_EXPONENT:
                raise self.fail(
                    _(
                        "exponent too large in {text}: the limit is {limit}",
                        text=quoted,
                        limit=MAX_EXPONENT,
                    ),
                    node.right,
                )

    def subscript(self, node: ast.Subscript) -> None:
        self.check(node.value)
        index = node.slice
        if isinstance(index, ast.Slice):
            what, hint = _REFUSED[ast.Slice]
            raise self.fail(
                _("{what} is not allowed: {text}", what=_(what), text=self.source.quoted(node)),
                index,
                hint=_(hint) if hint else None,
            )
        if _constant_index(index) is None:
            raise self.fail(
                _(
                    "subscript index must be an integer or string constant, not {text}",
                    text=self.source.quoted(index),
                ),
                index,
            )
        self.check(index)


# -- the static cost bound ------------------------------------------------------------


@dataclass(frozen=True)
class _Bound:
    """What is known of a sub-expression's value before any data is read.

    `known` says whether `value` is its exact value (no data read); otherwise `kind` is
    "str", "list" or "tuple" when it can only be that sequence, and `size` the fewest
    characters and items it can hold (as `_size` counts them).
    """

    known: bool = False
    value: Any = None
    kind: str | None = None
    size: int = 0


_UNKNOWN = _Bound()


def _exact(value: Any) -> _Bound:
    if isinstance(value, str):
        return _Bound(True, value, "str", len(value))
    if isinstance(value, (list, tuple)):
        return _Bound(True, value, type(value).__name__, _size(value))
    return _Bound(True, value)


def _exact_int(bound: _Bound) -> int | None:
    value = bound.value
    if bound.known and isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


class _Bounds:
    """Refuses, before any case is seen, what must exceed the evaluator's limits.

    Constant parts are folded (by the evaluator itself, after the sizes are checked here),
    and sequences built from data keep their least size, so ``'a' * 10**10`` and
    ``[case.x] * 100000`` are refused when the guard is compiled instead of failing on
    every case. What depends on data alone (``case.name * 20000``) is left to the run-time
    limits.
    """

    def __init__(self, source: _Source) -> None:
        self.source = source

    def refuse(self, node: ast.expr, kind: str, size: int) -> ExpressionError:
        said = {
            "str": N_("{text} can build a string of {size} characters; the limit is {limit}"),
            "list": N_(
                "{text} can build a list of {size} items (nested ones included); "
                "the limit is {limit}"
            ),
            "tuple": N_(
                "{text} can build a tuple of {size} items (nested ones included); "
                "the limit is {limit}"
            ),
        }[kind]
        return ExpressionError(
            _(
                said,
                text=self.source.quoted(node),
                size=format(size, ","),
                limit=format(MAX_ITEMS, ","),
            ),
            column=self.source.column(node),
        )

    def refuse_int(self, node: ast.expr, bits: int) -> ExpressionError:
        return ExpressionError(
            _(
                "{text} can build an integer of {bits} bits; the limit is {limit} bits",
                text=self.source.quoted(node),
                bits=format(bits, ","),
                limit=MAX_INT_BITS,
            ),
            column=self.source.column(node),
        )

    def fold(self, node: ast.expr) -> _Bound:
        """The exact value of a data-free `node` whose parts are within the limits."""
        try:
            return _exact(_Evaluator(self.source, {}).eval(node))
        except ExpressionError:
            return _UNKNOWN  # a type error or the like: the run-time reason says which

    def bound(self, node: ast.expr) -> _Bound:
        if isinstance(node, ast.Constant):
            return _exact(node.value)
        if isinstance(node, (ast.List, ast.Tuple)):
            parts = [self.bound(element) for element in node.elts]
            kind = "list" if isinstance(node, ast.List) else "tuple"
            size = len(parts) + sum(part.size for part in parts)
            if size > MAX_ITEMS:
                raise self.refuse(node, kind, size)
            if all(part.known for part in parts):
                return self.fold(node)
            return _Bound(kind=kind, size=size)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.IfExp):
            test = self.bound(node.test)
            body = self.bound(node.body)
            orelse = self.bound(node.orelse)
            if test.known:
                return body if test.value else orelse
            if body.kind is not None and body.kind == orelse.kind:
                return _Bound(kind=body.kind, size=min(body.size, orelse.size))
            return _UNKNOWN
        children = node.args if isinstance(node, ast.Call) else ast.iter_child_nodes(node)
        parts = [self.bound(child) for child in children if isinstance(child, ast.expr)]
        foldable = (ast.UnaryOp, ast.Call, ast.Subscript, ast.Compare, ast.BoolOp)
        if isinstance(node, foldable) and all(part.known for part in parts):
            return self.fold(node)
        return _UNKNOWN

    def binop(self, node: ast.BinOp) -> _Bound:
        left = self.bound(node.left)
        right = self.bound(node.right)
        a, b = _exact_int(left), _exact_int(right)
        if a is not None and b is not None:
            # the same tests the evaluator makes before it multiplies or raises to a power
            if isinstance(node.op, ast.Pow) and b > 0 and a.bit_length() * b > MAX_INT_BITS:
                raise self.refuse_int(node, a.bit_length() * b)
            bits = a.bit_length() + b.bit_length()
            if isinstance(node.op, ast.Mult) and bits > MAX_INT_BITS + 1:
                raise self.refuse_int(node, bits)
        if isinstance(node.op, ast.Mult):
            for sequence, count in ((left, b), (right, a)):
                if sequence.kind is not None and count is not None:
                    size = sequence.size * max(count, 0)
                    if size > MAX_ITEMS:
                        raise self.refuse(node, sequence.kind, size)
                    if not (left.known and right.known):
                        return _Bound(kind=sequence.kind, size=size)
        if isinstance(node.op, ast.Add) and left.kind is not None and left.kind == right.kind:
            size = left.size + right.size
            if size > MAX_ITEMS:
                raise self.refuse(node, left.kind, size)
            if not (left.known and right.known):
                return _Bound(kind=left.kind, size=size)
        if left.known and right.known and isinstance(node.op, ast.Pow):
            # a constant power that overflows or is not real would fail on every case
            return _exact(_Evaluator(self.source, {}).eval(node))
        if left.known and right.known:
            return self.fold(node)
        if isinstance(node.op, ast.Add) and (left.kind or right.kind):
            kind = left.kind or right.kind
            return _Bound(kind=kind, size=left.size + right.size)
        return _UNKNOWN


def _constant_number(node: ast.AST) -> int | float | None:
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -1 if isinstance(node.op, ast.USub) else 1
        node = node.operand
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        return sign * node.value
    return None


def _constant_index(node: ast.AST) -> int | str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    number = _constant_number(node)
    return number if isinstance(number, int) else None


# -- evaluating -------------------------------------------------------------------------


def _too_large() -> str:
    return _("integer result too large (the limit is 2**{bits})", bits=MAX_INT_BITS)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, complex)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (str, list, tuple))


def _size(value: Any) -> int:
    """Characters plus items of a str, list or tuple, counting nested ones, up to the limit.

    Nested values count every time they occur: ``[[1] * 10000] * 10000`` holds one inner
    list, but printing or comparing it costs 10**8 steps.
    """
    total = 0
    stack = [value]
    while stack and total <= MAX_ITEMS:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, (list, tuple)):
            total += len(item)
            if total <= MAX_ITEMS:
                stack.extend(item)
    return total


class _Evaluator:
    """Evaluates a tree that `_Checker` accepted; other node types cannot occur."""

    def __init__(self, source: _Source, scope: Mapping[str, Mapping[str, Any]]) -> None:
        self.source = source
        self.scope = scope

    def fail(self, node: ast.expr, reason: str) -> ExpressionError:
        return ExpressionError(
            _("cannot evaluate {text}: {reason}", text=self.source.quoted(node), reason=reason),
            column=self.source.column(node),
        )

    def eval(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Attribute):
            return self.read(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.BoolOp):
            result: Any = None
            for value in node.values:
                result = self.eval(value)
                if isinstance(node.op, ast.And) != bool(result):
                    return result
            return result
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.IfExp):
            return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)
        if isinstance(node, ast.List):
            return self.bounded(node, [self.eval(element) for element in node.elts])
        if isinstance(node, ast.Tuple):
            return self.bounded(node, tuple(self.eval(element) for element in node.elts))
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        raise AssertionError(  # pragma: no cover
            _("unchecked node {kind}", kind=type(node).__name__)
        )

    def read(self, node: ast.Attribute) -> Any:
        assert isinstance(node.value, ast.Name)
        namespace = node.value.id
        try:
            values = self.scope[namespace]
        except KeyError:
            return None
        if values is None:
            return None
        if not isinstance(values, Mapping):
            raise self.fail(
                node,
                _(
                    "'{namespace}' is a {kind}, not a mapping",
                    namespace=namespace,
                    kind=type(values).__name__,
                ),
            )
        try:
            return values[node.attr]
        except KeyError:
            return None

    def compare(self, node: ast.Compare) -> Any:
        left = self.eval(node.left)
        result: Any = True
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.eval(comparator)
            if isinstance(op, _ORDERING) and (left is None or right is None):
                return False
            if isinstance(op, _MEMBERSHIP) and right is None:
                return False
            try:
                result = _COMPARE[type(op)](left, right)
            except (TypeError, ValueError, ArithmeticError) as exc:
                raise self.fail(node, str(exc)) from None
            if not result:
                return result
            left = right
        return result

    def unary(self, node: ast.UnaryOp) -> Any:
        operand = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not operand
        if operand is None:
            return None
        symbol = "-" if isinstance(node.op, ast.USub) else "+"
        if not _is_number(operand):
            raise self.fail(
                node,
                _(
                    "bad operand type for unary {symbol}: '{kind}'",
                    symbol=symbol,
                    kind=type(operand).__name__,
                ),
            )
        return -operand if symbol == "-" else +operand

    def binop(self, node: ast.BinOp) -> Any:
        left = self.eval(node.left)
        right = self.eval(node.right)
        if left is None or right is None:
            return None
        op = type(node.op)
        symbol, function = _BINARY[op]
        if _is_number(left) and _is_number(right):
            if isinstance(left, int) and isinstance(right, int):
                if op is ast.Pow and right > 0 and left.bit_length() * right > MAX_INT_BITS:
                    raise self.fail(node, _too_large())
                if op is ast.Mult and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
                    raise self.fail(node, _too_large())
            try:
                result = function(left, right)
            except OverflowError:
                raise self.fail(node, _("result too large")) from None
            except (TypeError, ValueError, ArithmeticError) as exc:
                raise self.fail(node, str(exc)) from None
            if isinstance(result, complex):
                raise self.fail(node, _("the result is not a real number"))
            return self.bounded(node, result)
        if op is ast.Add and any(
            isinstance(left, t) and isinstance(right, t) for t in (str, list, tuple)
        ):
            self.check_size(node, _size(left) + _size(right))
            return left + right
        if op is ast.Mult:
            if _is_sequence(left) and isinstance(right, int):
                sequence, count = left, right
            elif isinstance(left, int) and _is_sequence(right):
                sequence, count = right, left
            else:
                sequence, count = None, 0
            if sequence is not None:
                self.check_size(node, _size(sequence) * max(count, 0))
                return sequence * count
        raise self.fail(
            node,
            _(
                "unsupported operand types for {symbol}: '{left}' and '{right}'",
                symbol=symbol,
                left=type(left).__name__,
                right=type(right).__name__,
            ),
        )

    def check_size(self, node: ast.expr, size: int) -> None:
        if size > MAX_ITEMS:
            raise self.fail(
                node,
                _("the result would have more than {limit} characters or items", limit=MAX_ITEMS),
            )

    def bounded(self, node: ast.expr, value: Any) -> Any:
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise self.fail(node, _too_large())
        if _is_sequence(value):
            self.check_size(node, _size(value))
        return value

    def call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)
        args = [self.eval(arg) for arg in node.args]
        if any(arg is None for arg in args):
            return None
        try:
            result = FUNCTIONS[node.func.id](*args)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise self.fail(node, str(exc)) from None
        return self.bounded(node, result)

    def subscript(self, node: ast.Subscript) -> Any:
        value = self.eval(node.value)
        if value is None:
            return None
        index = self.eval(node.slice)
        if isinstance(value, Mapping):
            try:
                return value[index]
            except KeyError:
                return None
        if isinstance(value, Sequence):
            if not isinstance(index, int):
                raise self.fail(
                    node,
                    _(
                        "a {kind} is indexed by integers, not {index}",
                        kind=type(value).__name__,
                        index=repr(index),
                    ),
                )
            try:
                return value[index]
            except IndexError:
                return None
        raise self.fail(node, _("a {kind} cannot be subscripted", kind=type(value).__name__))

    # -- explain ---------------------------------------------------------------------

    def failures(self, node: ast.expr) -> list[str]:
        """Why the falsy `node` is falsy, one entry per failing leaf."""
        if isinstance(node, ast.BoolOp):
            # In a falsy `and` the falsy operands are the reasons; in a falsy `or`, all are.
            out: list[str] = []
            for value in node.values:
                try:
                    result = self.eval(value)
                except ExpressionError as exc:
                    out.append(exc.message)
                    continue
                if not result:
                    out.extend(self.failures(value))
            return out
        if isinstance(node, ast.Compare):
            shown = [node.left, *node.comparators]
        elif isinstance(node, ast.UnaryOp):
            shown = [node.operand]
        elif isinstance(node, ast.Call):
            shown = list(node.args)
        else:
            shown = [node]
        details = [
            f"{self.source.segment(part)} = {_show(self.eval(part))}"
            for part in shown
            if _reads_data(part)
        ]
        text = f"{self.source.segment(node)} is false"
        return [f"{text} ({', '.join(details)})" if details else text]


def _reads_data(node: ast.AST) -> bool:
    return any(isinstance(n, (ast.Attribute, ast.Call)) for n in ast.walk(node))


# -- describing a failure in words -----------------------------------------------------

# How each comparison is said, of a value and of a count (len() of a list): the subject,
# what it must be, and what it is now.
_SAID: dict[type[ast.cmpop], tuple[str, str]] = {
    ast.GtE: (
        N_("{subject} must be at least {value} (now {now})"),
        N_("{subject} must number at least {value} (now {now})"),
    ),
    ast.Gt: (
        N_("{subject} must be more than {value} (now {now})"),
        N_("{subject} must number more than {value} (now {now})"),
    ),
    ast.LtE: (
        N_("{subject} must be at most {value} (now {now})"),
        N_("{subject} must number at most {value} (now {now})"),
    ),
    ast.Lt: (
        N_("{subject} must be less than {value} (now {now})"),
        N_("{subject} must number fewer than {value} (now {now})"),
    ),
    ast.Eq: (
        N_("{subject} must be {value} (now {now})"),
        N_("{subject} must number exactly {value} (now {now})"),
    ),
    ast.NotEq: (
        N_("{subject} must not be {value} (now {now})"),
        N_("{subject} must not number {value} (now {now})"),
    ),
    ast.In: (
        N_("{subject} must be one of {value} (now {now})"),
        N_("{subject} must number one of {value} (now {now})"),
    ),
    ast.NotIn: (
        N_("{subject} must not be one of {value} (now {now})"),
        N_("{subject} must not number any of {value} (now {now})"),
    ),
}
_MIRRORED: dict[type[ast.cmpop], ast.cmpop] = {
    ast.Lt: ast.Gt(),
    ast.LtE: ast.GtE(),
    ast.Gt: ast.Lt(),
    ast.GtE: ast.LtE(),
    ast.Eq: ast.Eq(),
    ast.NotEq: ast.NotEq(),
}
_SYMBOLS = {ast.Add: "+", ast.Sub: "−", ast.Mult: "×", ast.Div: "÷", ast.FloorDiv: "÷"}


class Conditional(str):
    """A requirement that holds only under a condition ("if x is c, y must be d"), keeping
    both parts so that several with the same condition can be said as one sentence."""

    condition: str
    requirement: str

    @classmethod
    def of(cls, condition: str, requirement: str) -> Conditional:
        said = cls(_("if {condition}, {requirement}", condition=condition, requirement=requirement))
        said.condition = condition
        said.requirement = requirement
        return said


def grouped(sentences: list[str]) -> list[str]:
    """`sentences` with those under the same condition said once: "if x is c, a, b and d"."""
    order: list[str | tuple[str]] = []
    under: dict[str, list[str]] = {}
    for sentence in sentences:
        if isinstance(sentence, Conditional):
            if sentence.condition not in under:
                under[sentence.condition] = []
                order.append((sentence.condition,))
            if sentence.requirement not in under[sentence.condition]:
                under[sentence.condition].append(sentence.requirement)
        else:
            order.append(sentence)
    said = N_("if {condition}, {requirement}")
    return [
        item
        if isinstance(item, str)
        else _(said, condition=item[0], requirement=_all_of(under[item[0]]))
        for item in order
    ]


def _all_of(parts: list[str]) -> str:
    """`a, b and c` in the reader's language."""
    if len(parts) == 1:
        return parts[0]
    return _("{items} and {last}", items=pick(", ", "，").join(parts[:-1]), last=parts[-1])


class _Words:
    """Says why a falsy tree is falsy in the reader's language, naming each field by its
    label (`labels`: ``ns.field`` -> label; ``ns.field=value`` -> the label of a choice)."""

    def __init__(self, evaluator: _Evaluator, labels: Mapping[str, str]) -> None:
        self.evaluator = evaluator
        self.source = evaluator.source
        self.labels = labels

    def value_of(self, node: ast.expr) -> Any:
        return self.evaluator.eval(node)

    # the failures ----------------------------------------------------------------------

    def reasons(self, node: ast.expr) -> list[str]:
        """One sentence per failing part of the falsy `node` (the parts of an `and`)."""
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            out: list[str] = []
            for value in node.values:
                try:
                    result = self.value_of(value)
                except ExpressionError as exc:
                    out.append(exc.message)
                    continue
                if not result:
                    out.extend(r for r in self.reasons(value) if r not in out)
            return out
        if isinstance(node, ast.BoolOp):
            return [self.either(node.values)]
        return [self.leaf(node)]

    def either(self, values: list[ast.expr]) -> str:
        """A falsy `or`: `x != c or rest` is said as "if x is c, rest"; else the
        alternatives."""
        first, rest = values[0], values[1:]
        condition = self.condition(first)
        if condition is not None and rest:
            return Conditional.of(condition, self.alternatives(rest))
        return self.alternatives(values)

    def alternatives(self, values: list[ast.expr]) -> str:
        parts = []
        for value in values:
            try:
                parts.append(_joined(self.reasons(value), pick(" and ", "，并且")))
            except ExpressionError as exc:
                parts.append(exc.message)
        return _joined(parts, pick(", or ", "；或者"))

    def condition(self, node: ast.expr) -> str | None:
        """`x != c` (false, so x is c) as "x is c"; None for anything else."""
        if not (
            isinstance(node, ast.Compare)
            and len(node.ops) == 1
            and isinstance(node.ops[0], ast.NotEq)
            and isinstance(node.comparators[0], ast.Constant)
            and _reads_data(node.left)
        ):
            return None
        return _(
            "{subject} is {value}",
            subject=self.term(node.left),
            value=self.constant(node.comparators[0].value, node.left),
        )

    def leaf(self, node: ast.expr) -> str:
        try:
            if isinstance(node, ast.Compare):
                return self.comparison(node)
            if isinstance(node, ast.Attribute):
                return _(
                    "{subject} must be yes (now {now})",
                    subject=self.term(node),
                    now=self.shown(self.value_of(node), node),
                )
            if (
                isinstance(node, ast.UnaryOp)
                and isinstance(node.op, ast.Not)
                and isinstance(node.operand, ast.Attribute)
            ):
                return _(
                    "{subject} must be no (now {now})",
                    subject=self.term(node.operand),
                    now=self.shown(self.value_of(node.operand), node.operand),
                )
        except ExpressionError as exc:
            return exc.message
        return self.generic(node)

    def generic(self, node: ast.expr) -> str:
        shown = [node]
        if isinstance(node, ast.Call):
            shown = list(node.args)
        elif isinstance(node, ast.UnaryOp):
            shown = [node.operand]
        details = []
        for part in shown:
            if _reads_data(part):
                try:
                    value = self.shown(self.value_of(part), part)
                except ExpressionError as exc:
                    value = exc.message
                details.append(_("{name} = {value}", name=self.term(part), value=value))
        text = self.source.segment(node)
        if details:
            return _(
                "the condition {condition} does not hold ({values})",
                condition=text,
                values=_joined(details, pick(", ", "，")),
            )
        return _("the condition {condition} does not hold", condition=text)

    def comparison(self, node: ast.Compare) -> str:
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            a, b = self.value_of(left), self.value_of(right)
            if (isinstance(op, _ORDERING) and (a is None or b is None)) or (
                isinstance(op, _MEMBERSHIP) and b is None
            ):
                held = False
            else:
                try:
                    held = bool(_COMPARE[type(op)](a, b))
                except (TypeError, ValueError, ArithmeticError):
                    held = False
            if not held:
                return self.pair(left, op, right, a, b)
            left = right
        return self.generic(node)  # pragma: no cover (a falsy comparison has a failing pair)

    def pair(self, left: ast.expr, op: ast.cmpop, right: ast.expr, a: Any, b: Any) -> str:
        """`left op right` said in words, `a` and `b` being their values now."""
        if isinstance(op, _MEMBERSHIP) and not _reads_data(left) and _reads_data(right):
            said = (
                N_("{subject} must include {value} (now {now})")
                if isinstance(op, ast.In)
                else N_("{subject} must not include {value} (now {now})")
            )
            return _(
                said,
                subject=self.term(right),
                value=self.constant(a, right),
                now=self.shown(b, right),
            )
        if not _reads_data(left) and _reads_data(right) and type(op) in _MIRRORED:
            left, right, a, b = right, left, b, a
            op = _MIRRORED[type(op)]
        if isinstance(right, ast.Constant) and right.value is None:
            if isinstance(op, ast.Eq):
                return _(
                    "{subject} must be empty (now {now})",
                    subject=self.term(left),
                    now=self.shown(a, left),
                )
            if isinstance(op, ast.NotEq):
                return _("{subject} must be filled in", subject=self.term(left))
        if isinstance(op, _ORDERING) and a is None and not _is_len(left):
            return _("{subject} must be filled in", subject=self.term(left))
        counted = None
        if _is_len(left):
            assert isinstance(left, ast.Call)
            counted = left.args[0]
        plain, count = _SAID[type(op)]
        said, subject = plain, self.term(left)
        if counted is not None:
            inner = self.value_of(counted)
            if inner is None:
                return _("{subject} must be filled in", subject=self.term(counted))
            if isinstance(inner, str):
                subject = _("the length of {name}", name=self.term(counted))
            else:
                said, subject = count, self.term(counted)
        return _(said, subject=subject, value=self.wanted(right, b, left), now=self.shown(a, left))

    def wanted(self, node: ast.expr, value: Any, subject: ast.expr) -> str:
        """What the other side of a comparison must be: a constant as it reads, or a
        computed value by its words and its value now."""
        if not _reads_data(node):
            return self.constant(value, subject)
        return _("{name} = {value}", name=self.term(node), value=self.shown(value, node))

    # the words for parts ----------------------------------------------------------------

    def reference(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return f"{node.value.id}.{node.attr}"
        return None

    def term(self, node: ast.expr) -> str:
        """A part of the expression by its name: a field by its label, len() of a field as
        the number of it, arithmetic with its signs; anything else as written."""
        ref = self.reference(node)
        if ref is not None:
            return self.labels.get(ref, ref)
        if isinstance(node, ast.Constant):
            return self.constant(node.value, None)
        if _is_len(node):
            assert isinstance(node, ast.Call)
            return _("the number of {name}", name=self.term(node.args[0]))
        if isinstance(node, ast.BinOp) and type(node.op) in _SYMBOLS:
            return f"{self.term(node.left)} {_SYMBOLS[type(node.op)]} {self.term(node.right)}"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return f"-{self.term(node.operand)}"
        return self.source.segment(node)

    def constant(self, value: Any, subject: ast.expr | None) -> str:
        """A value the expression names, as a reader says it: yes/no, a choice by its label."""
        if isinstance(value, (list, tuple)):
            return _joined([self.constant(v, subject) for v in value], pick(", ", "、"))
        return self.shown(value, subject)

    def shown(self, value: Any, subject: ast.expr | None) -> str:
        """A value as a caseworker reads it: 57, 1234.50, yes, not recorded, a label."""
        if value is None:
            return pick("not recorded", "未填写")
        if value is True:
            return pick("yes", "是")
        if value is False:
            return pick("no", "否")
        if isinstance(value, str):
            ref = self.reference(subject) if subject is not None else None
            label = self.labels.get(f"{ref}={value}") if ref is not None else None
            label = label or self.labels.get(f"={value}")
            if label is not None:
                return label
            text = value if len(value) <= 60 else value[:57] + "..."
            return pick(f"'{text}'", f"“{text}”")
        if isinstance(value, (list, tuple)):
            if not value:
                return pick("none", "无")
            return _joined([self.shown(v, subject) for v in value], pick(", ", "、"))
        return _show(value)


def _is_len(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "len"
        and len(node.args) == 1
    )


def _joined(parts: list[str], separator: str) -> str:
    return separator.join(parts)


# -- checking references against declared fields ---------------------------------------


def check_references(
    expr: Expression, known: Mapping[str, Iterable[str]]
) -> list[tuple[str, str | None]]:
    """(message, hint) for every ``namespace.field`` in `expr` that `known` does not declare.

    `known` maps each namespace to its field names; a namespace missing from it declares
    no fields. Hints suggest the closest declared field.
    """
    problems: list[tuple[str, str | None]] = []
    for reference in expr._ordered_references:
        namespace, name = reference.split(".", 1)
        fields = list(known.get(namespace, ()))
        if name in fields:
            continue
        if namespace not in known:
            hint: str | None = _("no fields are declared for '{namespace}'", namespace=namespace)
        else:
            hint = did_you_mean(name, fields, prefix=f"{namespace}.")
        problems.append((_("unknown field '{ref}'", ref=reference), hint))
    return problems
