"""Chinese mode speaks Chinese: the demo, a caseworker's day and every email, with no English.

Each command runs as a new user would run it: the installed `aidflow` script in a fresh
process, AIDFLOW_LANG=zh in the environment. Every line it prints (stdout and stderr) is
searched for English words. What may stay in Latin letters:
- what the user typed: every word of the command lines the test runs (logins, workflow and
  trigger codes, file names);
- commands the output suggests: a line that starts with `aidflow`, text between backticks,
  an option such as `--limit`;
- ID numbers (masked or not), numbers, dates, URLs and e-mail addresses, the product name.
Help texts are held to the same rule, command by command, in tests/test_help_zh.py.
Anything else of two or more Latin letters fails the test, naming the command and the line.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from aidflow.idnumber import _check_digit

AIDFLOW = str(Path(sys.executable).with_name("aidflow"))

_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z_]+")
_ALLOWED_SPANS = [
    re.compile(r"`[^`]*`"),  # a command quoted in a sentence
    re.compile(r"^\s*(?:\$ )?aidflow\b.*$"),  # a command on a line of its own
    re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*"),  # an option
    re.compile(r"https?://\S+"),
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    re.compile(r"\b\d{3}\*{11}\d{3}[\dX]\b"),  # a masked ID number
    re.compile(r"\b\d{17}[\dX]\b"),
    re.compile(r"\baidflow\b"),  # the product
    re.compile(r"\b[0-9a-f]{16,}\b"),  # a digest or signature
    re.compile(r"[\w.-]+\.(?:json|xlsx|xls|csv|pdf|txt|db|yaml)\b"),  # a file name
]


def english_words(text: str, typed: Iterable[str]) -> list[tuple[str, str]]:
    """(line, word) for every Latin word in `text` that is not allowed (see the module)."""
    allowed = {word.lower() for word in typed}
    found: list[tuple[str, str]] = []
    for line in text.splitlines():
        rest = line
        for span in _ALLOWED_SPANS:
            rest = span.sub(" ", rest)
        for word in _LATIN_WORD.findall(rest):
            if word.lower() not in allowed:
                found.append((line, word))
    return found


def id_number(body17: str) -> str:
    return body17 + _check_digit(body17 + "0")  # the last character is ignored


class Day:
    """A caseworker's terminal in Chinese mode, on the demo's database."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.typed: set[str] = {"aidflow"}
        self.problems: list[str] = []
        self.outputs: list[str] = []
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIDFLOW_")},
            "AIDFLOW_LANG": "zh",
            "AIDFLOW_DATABASE_URL": str(directory / "aidflow-demo.db"),
            "AIDFLOW_NOW": "2023-08-14T09:00",
        }

    def __call__(self, *args: str, user: str = "li", expect: int = 0) -> str:
        argv = [AIDFLOW, *args]
        for arg in args:
            self.typed.update(_LATIN_WORD.findall(arg))
        self.typed.update(_LATIN_WORD.findall(user))
        done = subprocess.run(
            argv,
            cwd=self.directory,
            env={**self.env, "AIDFLOW_USER": user},
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = done.stdout + done.stderr
        assert done.returncode == expect, (args, done.returncode, output)
        self.outputs.append(output)
        for line, word in english_words(output, self.typed):
            self.problems.append(f"aidflow {' '.join(args)}\n    {line}\n    -> {word!r}")
        return output


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Day:
    if shutil.which(AIDFLOW) is None:
        pytest.skip("the aidflow script is not installed in this environment")
    directory = tmp_path_factory.mktemp("zh-day")
    day = Day(directory)
    day("demo")
    return day


def test_the_demo_and_a_days_commands_speak_chinese(day: Day) -> None:
    newcomer = id_number("11010519520315004")
    day("person", "add", newcomer, "--name", "张桂兰", "--township", "城关镇",
        "--village", "东村", "--hukou", "农村", "--living-alone")  # fmt: skip
    day("person", "find", "王秀")
    day("person", "find", "张桂")
    day("person", "show", newcomer)
    day("case", "open", "张桂兰", "--workflow", "dibao", "--note", "邻居反映老人独居、无收入")
    day("case", "list")
    day("case", "list", "--state", "主动发现")
    day("case", "list", "--state", "不存在的状态", expect=3)
    day("case", "show", "2")
    day("case", "fire", "2", "受理")
    day("case", "fire", "2", "开始调查", "--field", "investigators=li", expect=6)
    day("case", "fire", "2", "开始调查", "--field", "investigators=li,zhao")
    day("case", "fire", "2", "提交调查结论", "--field", "monthly_income=两百", expect=3)
    day("case", "fire", "2", "提交调查结论", "--field", "monthly_income=200",
        "--field", "income_stable=否", "--note", "入户核实：独居，无其他收入")  # fmt: skip
    day("case", "fire", "2", "审核确认", expect=6)
    day("case", "show", "2")
    day("case", "history", "2")
    day("case", "note", "2", "--note", "已电话告知评议时间")
    day("case", "open", id_number("11010519520315005")[:-1] + "0", "--workflow", "dibao",
        expect=3)  # fmt: skip
    day("case", "show", "1", user="sun")
    day("escalation", "list", user="sun")
    day("visit", "due", user="sun")
    day("report", user="sun")
    day("audit", "verify", user="sun")
    assert not day.problems, "English in Chinese mode:\n" + "\n".join(day.problems)


def test_every_email_template_renders_in_chinese() -> None:
    from aidflow.notify.render import render
    from aidflow.notify.templates import TEMPLATES, sample_context

    problems: list[str] = []
    for name in sorted(TEMPLATES):
        msg = render(
            name,
            "zh",
            sample_context(name, "zh"),
            to=["supervisor@county.example"],
            message_id="<preview@aidflow.local>",
        )
        page = re.sub(r"<(style|head)\b.*?</\1>", "", msg.html, flags=re.S)
        page = re.sub(r"<pre[^>]*>\s*\{.*?\}\s*</pre>", "", page, flags=re.S)  # a file's text
        page = re.sub(r"<code>(.*?)</code>", r"`\1`", page, flags=re.S)
        html_text = html.unescape(re.sub(r"<[^>]+>", " ", page))
        for part, text in (("subject", msg.subject), ("text", msg.text), ("html", html_text)):
            # the audit checkpoint's own file (between the scissor lines) is data to save as is
            text = re.sub(r"-+8<-+.*?-+8<-+", "", text, flags=re.S)
            for line, word in english_words(text, ()):
                problems.append(f"{name} ({part}): {line.strip()} -> {word!r}")
    assert not problems, "English in Chinese emails:\n" + "\n".join(problems)


def test_the_detector_catches_english_and_lets_commands_ids_and_typed_codes_pass() -> None:
    assert english_words("案件 1 已受理", ()) == []
    assert english_words("case 1 opened", ()) == [
        ("case 1 opened", "case"),
        ("case 1 opened", "opened"),
    ]
    assert english_words("用 `aidflow case show 1` 查看", ()) == []
    assert english_words("  aidflow --as li case show 1", ()) == []
    assert english_words("对象 110***********002X，状态 已受理", ()) == []
    assert english_words("经办人 li", ("li",)) == []
    assert english_words("经办人 li", ()) == [("经办人 li", "li")]
    assert english_words("用 --limit N 查看更多", ()) == []
