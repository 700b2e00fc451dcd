"""Notifications: templates, rendering, template checks, and delivery over real SMTP (aiosmtpd)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from aidflow.clock import FrozenClock
from aidflow.errors import InvalidInputError, UnavailableError
from aidflow.notify.email import SMTPMailer, build_email
from aidflow.notify.mailer import DeliveryError, Message
from aidflow.notify.memory import MemoryMailer
from aidflow.notify.messageid import make_message_id
from aidflow.notify.render import check_templates, format_duration, render
from aidflow.notify.templates import TEMPLATE_VARIABLES, sample_context

from .smtp import SMTPServer

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "src" / "aidflow" / "shipped" / "notifications"
FULL_ID = "11010519491231002X"
MASKED_ID = "110***********002X"
MID = "<outbox-7f3a.aidflow@county.example>"
SENT_AT = datetime(2023, 8, 4, 1, 30, tzinfo=UTC)
TEMPLATES = sorted(TEMPLATE_VARIABLES)


def mailer_for(server: SMTPServer, **kwargs: Any) -> SMTPMailer:
    options: dict[str, Any] = {
        "security": "none",
        "sender": "aidflow <aidflow@county.example>",
        "timeout": 2.0,
        "local_hostname": "aidflow.test",
        "clock": FrozenClock(SENT_AT),
    }
    options.update(kwargs)
    return SMTPMailer(server.host, server.port, **options)


def escalation(lang: str = "zh", **changes: Any) -> Message:
    context = sample_context("escalation", lang) | changes
    return render("escalation", lang, context, to=["zhang@county.example"], message_id=MID)


# --- templates -------------------------------------------------------------------------------

ESCALATION_SUBJECT = "【超期督办】城关镇东村 案件 #42「入户调查」已超期3天4小时（经办人 李明）"
SUBJECTS = {
    ("deadline_reminder", "zh"): "【到期提醒】案件 #42「入户调查」将在5小时30分钟后到期",
    ("deadline_reminder", "en"): "[Due soon] Case #42: Investigation is due in 5 hours 30 minutes",
    ("escalation", "zh"): ESCALATION_SUBJECT,
    (
        "escalation",
        "en",
    ): "[Overdue] 城关镇东村 case #42: Investigation overdue by 3 days 4 hours (caseworker 李明)",
    (
        "emergency_escalation",
        "zh",
    ): "【紧急】急难救助超时未发放：城关镇东村 案件 #42 应在24小时内先行救助，已超时6小时40分钟",
    ("emergency_escalation", "en"): "[URGENT] Emergency assistance not given: 城关镇东村 case #42 "
    "is 6 hours 40 minutes past the limit of 24 hours",
    (
        "visit_missing",
        "zh",
    ): "【照料服务不足】城关镇东村 案件 #42：2023年7月上门服务未达到每月最低次数",
    (
        "visit_missing",
        "en",
    ): "[Care visits missing] 城关镇东村 case #42: below the monthly minimum in July 2023",
    ("daily_digest", "zh"): "【每日汇总】城关镇 2023年8月4日：超期 2 件，在办未超期 1 件",
    ("daily_digest", "en"): "[Daily digest] 城关镇 2023-08-04: 2 overdue, 1 open on time",
    ("escalation_summary", "zh"): "【督办汇总】3143 件案件需要您督办",
    ("escalation_summary", "en"): "[Escalations] 3143 cases need your follow-up",
    ("audit_checkpoint", "zh"): "【审计检查点】2023年8月4日：已签名 1234 条审计日志",
    ("audit_checkpoint", "en"): "[Audit checkpoint] 2023-08-04: 1234 log entries signed",
}

# What each message must show, in both parts (besides the masked ID number).
MUST_SHOW: dict[tuple[str, str], list[str]] = {
    ("deadline_reminder", "zh"): [
        "#42",
        "王秀英",
        "入户调查",
        "5小时30分钟",
        "2023年8月3日 17:30",
        "完成入户调查",
        "aidflow --as li case show 42",
        "aidflow --as li case fire 42 investigate",
    ],
    ("deadline_reminder", "en"): [
        "#42",
        "王秀英",
        "Investigation",
        "5 hours 30 minutes",
        "2023-08-03 17:30",
        "finish the home visit",
        "aidflow --as li case show 42",
        "aidflow --as li case fire 42 investigate",
    ],
}
for _lang, _overdue, _step in (
    ("zh", "3天4小时", "入户调查"),
    ("en", "3 days 4 hours", "Investigation"),
):
    MUST_SHOW[("escalation", _lang)] = [
        "#42",
        "王秀英",
        "李明",
        _step,
        _overdue,
        "2 investigators" if _lang == "en" else "2名调查人员",
        "aidflow --as zhang case show 42",
        'aidflow --as zhang escalation ack 17 --note "..."',
    ]
MUST_SHOW[("escalation_summary", "zh")] = [
    "#42",
    "已超期 3 个工作日",
    "#57",
    "剩余 4 小时",
    "另有 3093 件未列出",
    "aidflow --as zhang escalation list",
]
MUST_SHOW[("escalation_summary", "en")] = [
    "#42",
    "overdue by 3 working days",
    "4 hours left",
    "and 3093 more",
    "aidflow --as zhang escalation list",
]
for _lang, _overdue, _step, _limit in (
    ("zh", "6小时40分钟", "先行救助", "24小时"),
    ("en", "6 hours 40 minutes", "Assist first", "24 hours"),
):
    MUST_SHOW[("emergency_escalation", _lang)] = [
        "#42",
        "王秀英",
        "李明",
        _step,
        _overdue,
        _limit,
        "5 working days" if _lang == "en" else "5个工作日",
        "aidflow --as zhang case show 42",
        'aidflow --as zhang escalation ack 17 --note "..."',
    ]
for _lang, _overdue, _step, _gap in (
    ("zh", "2天9小时", "供养中", "还差 1 次"),
    ("en", "2 days 9 hours", "Receiving support", "1 missing"),
):
    MUST_SHOW[("visit_missing", _lang)] = [
        "#42",
        "王秀英",
        "李明",
        _step,
        _overdue,
        _gap,
        "haircut" if _lang == "en" else "理发",
        "aidflow --as zhang case show 42",
        'aidflow --as zhang escalation ack 17 --note "..."',
    ]
for _lang, _overdue, _left in (
    ("zh", "2天15小时", "3天8小时"),
    ("en", "2 days 15 hours", "3 days 8 hours"),
):
    MUST_SHOW[("daily_digest", _lang)] = [
        "#42",
        "#57",
        "#61",
        "王秀英",
        "赵德福",
        "刘桂兰",
        "110***********0017",
        _overdue,
        _left,
        "aidflow --as zhang case show 57",
        "aidflow --as zhang case list --overdue",
    ]
for _lang in ("zh", "en"):
    MUST_SHOW[("audit_checkpoint", _lang)] = [
        "checkpoint-0000001234-20230804T010000000000.json",
        "aidflow audit checkpoint v1",
        "c0de" * 32,
        "aidflow --as qian audit verify --checkpoints ",
    ]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_what_the_reader_needs(template: str, lang: str) -> None:
    context = sample_context(template, lang)
    assert set(context) == TEMPLATE_VARIABLES[template]
    msg = render(template, lang, context, to=["li@county.example"], message_id=MID)

    assert msg.subject == SUBJECTS[(template, lang)]
    assert msg.to == ("li@county.example",)
    assert msg.headers == {"Message-ID": MID, "X-Aidflow-Template": f"{template}/{lang}"}
    if template == "escalation_summary":
        line = "#42 城关镇/东村「入户调查」：超期督办，已超期 3 个工作日（督办编号 17）"
        assert lang == "en" or line in msg.text
    for part in (msg.text, msg.html):
        if template not in ("audit_checkpoint", "escalation_summary"):  # about no one person
            assert MASKED_ID in part
        assert FULL_ID not in part
        for shown in MUST_SHOW[(template, lang)]:
            assert shown in part, f"{shown!r} missing from {template}/{lang}"
    assert msg.html.startswith("<!DOCTYPE html>")
    assert "{{" not in msg.text + msg.html
    footer = (
        "请在能访问 aidflow 的终端中执行。\n"
        if lang == "zh"
        else "--as is your aidflow user name.\n"
    )
    assert msg.text.endswith(footer)


def test_escalation_text_in_full() -> None:
    assert (
        escalation("zh").text
        == """\
张建国，您好：

城关镇东村的最低生活保障（单人户）案件 #42 在「入户调查」环节已超过办理期限3天4小时，\
经办人 李明 尚未办结。请督促办理，并在系统中确认督办。

案件编号：#42
救助对象：王秀英（身份证号 110***********002X）
所在地区：城关镇东村
经办人：李明
当前环节：入户调查
办理期限：2023年8月1日 17:30
已超期：3天4小时
应办事项：完成入户调查（至少2名调查人员），录入调查人员和月人均收入

查看案件详情：
  在网页上打开: https://aidflow.county.example/cases/42
  aidflow --as zhang case show 42
确认已督办（把 ... 换成督办情况）：
  aidflow --as zhang escalation ack 17 --note "..."

--\x20
本邮件由 aidflow 社会救助业务系统自动发送，请勿直接回复。
命令中 --as 后面是您的系统用户名，请在能访问 aidflow 的终端中执行。
"""
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_without_a_public_url_the_escalation_has_no_link(lang: str) -> None:
    msg = escalation(lang, case_url=None)
    for part in (msg.text, msg.html):
        assert "/cases/42" not in part and "case show 42" in part


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_html_part_escapes_data_and_text_part_keeps_it(lang: str) -> None:
    msg = escalation(
        lang,
        person_name="王<script>alert(1)</script>",
        caseworker="李 & 赵",
        recipient_user="o'brien",
    )
    assert "王&lt;script&gt;alert(1)&lt;/script&gt;" in msg.html
    assert "<script>" not in msg.html
    assert "李 &amp; 赵" in msg.html
    assert "王<script>alert(1)</script>" in msg.text
    # the login is shell-quoted in the command, then HTML-escaped in the HTML part
    assert """aidflow --as 'o'"'"'brien' case show 42""" in msg.text
    assert "aidflow --as &#39;o&#39;&#34;&#39;&#34;&#39;brien&#39; case show 42" in msg.html


def test_subject_never_spans_lines() -> None:
    msg = escalation(
        "zh",
        caseworker="李明\nBcc: evil@x.example",
        area="城关镇\r\nX-Injected: 1",
        person_name="x\nBcc: evil@x",
        step="入户\t调查\u2028",
    )
    assert msg.subject == (
        "【超期督办】城关镇 X-Injected: 1 案件 #42「入户 调查 」已超期3天4小时"
        "（经办人 李明 Bcc: evil@x.example）"
    )


def test_header_injection_reaches_no_header(smtp_server: SMTPServer) -> None:
    msg = escalation(
        "zh",
        caseworker="李明\nBcc: evil@x.example",
        area="城关镇\r\nX-Injected: 1",
        person_name="x\nBcc: evil@x",
    )
    mailer_for(smtp_server).send(msg)
    [received] = smtp_server.messages
    assert received.rcpt_tos == ("zhang@county.example",)
    assert received.message["Bcc"] is None
    assert received.message["X-Injected"] is None
    assert received.message["Subject"] == msg.subject


def test_datetimes_are_shown_in_county_time() -> None:
    msg = escalation("en", due_at=datetime(2023, 8, 1, 9, 30, tzinfo=UTC))
    assert "Was due:     2023-08-01 17:30\n" in msg.text


def test_timezone_can_be_chosen() -> None:
    context = sample_context("escalation", "en") | {
        "due_at": datetime(2023, 8, 1, 9, 30, tzinfo=UTC)
    }
    msg = render("escalation", "en", context, to=["zhang@county.example"], message_id=MID, tz=UTC)
    assert "Was due:     2023-08-01 09:30\n" in msg.text


@pytest.mark.parametrize(
    ("delta", "zh", "en"),
    [
        (timedelta(seconds=59), "不到1分钟", "less than a minute"),
        (timedelta(minutes=1), "1分钟", "1 minute"),
        (timedelta(minutes=25, seconds=59), "25分钟", "25 minutes"),
        (timedelta(hours=1), "1小时", "1 hour"),
        (timedelta(hours=5, minutes=30), "5小时30分钟", "5 hours 30 minutes"),
        (timedelta(hours=24), "24小时", "24 hours"),
        (timedelta(hours=47, minutes=59), "47小时59分钟", "47 hours 59 minutes"),
        (timedelta(days=2), "2天", "2 days"),
        (timedelta(days=3, hours=4, minutes=59), "3天4小时", "3 days 4 hours"),
        (timedelta(days=31, hours=1), "31天1小时", "31 days 1 hour"),
    ],
)
def test_durations_read_like_speech(delta: timedelta, zh: str, en: str) -> None:
    assert format_duration(delta, "zh") == zh
    assert format_duration(delta, "en") == en


# --- what render refuses ---------------------------------------------------------------------


def test_missing_variable_names_template_part_and_variable() -> None:
    context = sample_context("escalation")
    del context["person_id_masked"]
    with pytest.raises(InvalidInputError) as info:
        render("escalation", "zh", context, to=["zhang@county.example"], message_id=MID)
    assert str(info.value) == (
        "template escalation/zh/body.txt uses 'person_id_masked', which was not provided"
    )


def test_missing_variables_are_all_reported() -> None:
    context = sample_context("escalation")
    del context["case_id"], context["step"], context["person_id_masked"]
    with pytest.raises(InvalidInputError) as info:
        render("escalation", "zh", context, to=["zhang@county.example"], message_id=MID)
    assert str(info.value) == (
        "template escalation/zh/subject.txt uses 'case_id' and 'step', which were not provided; "
        "template escalation/zh/body.txt uses 'person_id_masked', which was not provided"
    )


def test_list_items_need_their_keys() -> None:
    context = sample_context("daily_digest")
    context["overdue_cases"] = [
        {k: v for k, v in context["overdue_cases"][0].items() if k not in ("step", "overdue")}
    ]
    with pytest.raises(InvalidInputError) as info:
        render("daily_digest", "zh", context, to=["zhang@county.example"], message_id=MID)
    assert str(info.value) == "overdue_cases[0] lacks 'overdue', 'step'"


def test_a_full_id_number_is_never_rendered() -> None:
    with pytest.raises(InvalidInputError) as info:
        escalation("zh", person_id_masked=FULL_ID)
    assert str(info.value) == (
        "context value 'person_id_masked' holds what looks like a full ID number "
        "(110***********002X); notifications may only show masked numbers\n"
        "  hint: pass idnumber.mask(number)"
    )
    context = sample_context("daily_digest")
    context["open_cases"][0]["person_name"] = f"刘桂兰 {FULL_ID[:-1]}x"
    with pytest.raises(
        InvalidInputError, match=r"context value 'open_cases'\[0\]\['person_name'\]"
    ):
        render("daily_digest", "zh", context, to=["zhang@county.example"], message_id=MID)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("escalaton", "zh"),
            (
                "unknown notification template 'escalaton'; known: audit_checkpoint, daily_digest, "
                "deadline_reminder, emergency_escalation, escalation, escalation_summary, "
                "visit_missing\n"
                "  hint: did you mean 'escalation'?"
            ),
        ),
        (("escalation", "fr"), "language 'fr' is not supported; use one of: zh, en"),
    ],
)
def test_unknown_template_or_language(args: tuple[str, str], message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        render(*args, sample_context("escalation"), to=["a@b.example"], message_id=MID)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("to", "message_id", "message"),
    [
        ([], MID, "a message needs at least one recipient"),
        (
            "zhang@county.example",
            MID,
            "recipients must be a list of addresses, not the string 'zhang@county.example'",
        ),
        (
            ["zhang@county.example\nBcc: evil@x"],
            MID,
            (
                "recipient 'zhang@county.example\\nBcc: evil@x' is not a plain address such as "
                "li@county.example"
            ),
        ),
        (
            ["zhang@county.example"],
            "outbox-17",
            "Message-ID 'outbox-17' must look like <token@domain> (printable ASCII, no spaces)",
        ),
    ],
)
def test_bad_recipients_and_message_ids(to: Any, message_id: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        render("escalation", "zh", sample_context("escalation"), to=to, message_id=message_id)
    assert str(info.value) == message


def test_make_message_id() -> None:
    assert make_message_id("outbox-17-9f2c", "county.example") == "<outbox-17-9f2c@county.example>"
    with pytest.raises(InvalidInputError):
        make_message_id("has space", "county.example")


def tiny_templates(root: Path, body: str) -> Path:
    """A copy of the shipped templates whose escalation/zh/body.txt is `body`."""
    shutil.copytree(SHIPPED, root)
    (root / "escalation/zh/body.txt").write_text(body, encoding="utf-8")
    return root


def test_render_errors_name_file_and_line(tmp_path: Path) -> None:
    root = tiny_templates(
        tmp_path / "n", "案件 #{{ case_id }}\n期限：{{ due_at|datetime('zh') }}\n"
    )
    context = sample_context("escalation") | {"due_at": datetime(2023, 8, 1, 17, 30)}
    with pytest.raises(InvalidInputError) as info:
        render("escalation", "zh", context, to=["a@b.example"], message_id=MID, directory=root)
    assert str(info.value) == (
        "template escalation/zh/body.txt:2: datetime 2023-08-01T17:30:00 "
        "has no time zone; pass an aware datetime (the store keeps UTC)"
    )

    (root / "escalation/zh/body.txt").write_text(
        "{% for a in [1] %}\n{{ a.nope }}\n{% endfor %}\n", encoding="utf-8"
    )
    with pytest.raises(InvalidInputError) as info:
        render(
            "escalation",
            "zh",
            sample_context("escalation"),
            to=["a@b.example"],
            message_id=MID,
            directory=root,
        )
    assert str(info.value) == (
        "template escalation/zh/body.txt:2: 'int object' has no attribute 'nope'"
    )


def test_directory_comes_from_the_environment(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from aidflow.cli.main import cli

    root = tiny_templates(tmp_path / "n", "只有编号 #{{ case_id }}\n")
    result = CliRunner().invoke(
        cli,
        ["--lang", "zh", "notify", "preview", "escalation"],
        env={"AIDFLOW_NOTIFICATIONS": str(root)},
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("\n\n只有编号 #42\n\n")


# --- check_templates -------------------------------------------------------------------------


def test_shipped_templates_are_clean() -> None:
    assert check_templates(SHIPPED) == []


def test_check_templates_lists_every_problem(tmp_path: Path) -> None:
    root = tmp_path / "notifications"
    shutil.copytree(SHIPPED, root)
    (root / "escalation/zh/body.txt").write_text(
        '{% extends "_layouts/zh.txt" %}\n{% block content %}\n案件 #{{ case_id }}\n'
        "经办人：{{ case_worker }}\n{% endblock %}\n",
        encoding="utf-8",
    )
    (root / "deadline_reminder/en/subject.txt").write_text(
        "[Due soon] Case #{{ case_id }\n", encoding="utf-8"
    )
    (root / "visit_missing/en/body.html").unlink()
    (root / "daily_digest/en/subject.txt").write_text(
        "[Daily digest] {{ area }} {{ day|date('en') }}\n", encoding="utf-8"
    )
    (root / "daily_digest/en/body.txt").write_text(
        "{{ recipient_name }} {{ recipient_user }}\n"
        "{% for c in overdue_cases %}{{ c.case_id }}{% endfor %}\n",
        encoding="utf-8",
    )
    (root / "daily_digest/en/body.html").write_text(
        '{% extends "_layouts/en.htm" %}\n{% block content %}\n'
        "<p>{{ recipient_name|safe }}</p>\n{% endblock %}\n",
        encoding="utf-8",
    )
    (root / "_layouts/en.txt").write_text(
        "{% block content %}{% endblock %}\n-- \n{{ area }}\n", encoding="utf-8"
    )
    (root / "escalations/zh").mkdir(parents=True)
    (root / "escalation/fr").mkdir()

    assert check_templates(root) == [
        "_layouts/en.txt:3: uses 'area'; shared layouts get no variables, only blocks",
        (
            "daily_digest/en: 'open_cases' is provided but used in none of subject.txt, body.txt, "
            "body.html"
        ),
        "daily_digest/en/body.html:1: refers to '_layouts/en.htm', which does not exist",
        "daily_digest/en/body.html:3: the 'safe' filter turns off escaping; data could inject HTML",
        "deadline_reminder/en/subject.txt:1: syntax error: unexpected '}'",
        "escalation/fr: not a supported language (supported: zh, en)",
        (
            "escalation/zh/body.txt:4: uses 'case_worker', which the code does not provide; did "
            "you mean 'caseworker'?"
        ),
        (
            "escalations: not a known template (known: audit_checkpoint, daily_digest, "
            "deadline_reminder, emergency_escalation, escalation, escalation_summary, "
            "visit_missing); "
            "did you mean 'escalation'?"
        ),
        (
            "visit_missing/en/body.html: missing (each template needs subject.txt, body.txt, "
            "body.html in each of: zh, en)"
        ),
    ]


def test_check_templates_reports_unknown_filters_and_missing_directory(tmp_path: Path) -> None:
    root = tmp_path / "notifications"
    shutil.copytree(SHIPPED, root)
    (root / "escalation/en/subject.txt").write_text("{{ case_id|upper_case }}\n", encoding="utf-8")
    assert check_templates(root) == [
        "escalation/en/subject.txt:1: syntax error: No filter named 'upper_case'."
    ]
    assert check_templates(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere'}: not a directory"]


# --- mailers ---------------------------------------------------------------------------------


def test_memory_mailer_keeps_messages_and_can_fail() -> None:
    mailer = MemoryMailer()
    msg = escalation()
    mailer.send(msg)
    assert mailer.sent == [msg]

    def refuse(m: Message) -> None:
        raise DeliveryError("refused", permanent=True, code=550)

    failing = MemoryMailer(refuse)
    with pytest.raises(DeliveryError):
        failing.send(msg)
    assert failing.sent == []


def test_smtp_delivers_both_parts(smtp_server: SMTPServer) -> None:
    msg = render(
        "escalation",
        "zh",
        sample_context("escalation"),
        to=["zhang@county.example", "wang@county.example"],
        message_id=MID,
    )
    mailer_for(smtp_server).send(msg)

    [received] = smtp_server.messages
    assert received.mail_from == "aidflow@county.example"
    assert received.rcpt_tos == ("zhang@county.example", "wang@county.example")
    email = received.message
    assert email["Subject"] == ESCALATION_SUBJECT
    assert email["Message-ID"] == MID
    assert email["From"] == "aidflow <aidflow@county.example>"
    assert email["To"] == "zhang@county.example, wang@county.example"
    assert email["Date"] == "Fri, 04 Aug 2023 01:30:00 +0000"
    assert email["X-Aidflow-Template"] == "escalation/zh"
    assert email.get_content_type() == "multipart/alternative"
    text, html = email.iter_parts()
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert text.get_content_charset() == "utf-8"
    # text parts travel in canonical form, with CRLF line ends
    assert text.get_content() == msg.text.replace("\n", "\r\n")
    assert html.get_content() == msg.html.replace("\n", "\r\n")
    # on the wire: 7-bit clean, the subject RFC 2047-encoded
    assert received.raw.isascii()
    assert b"Subject: =?utf-8?" in received.raw


def test_resending_keeps_the_message_id(smtp_server: SMTPServer) -> None:
    msg = escalation()
    mailer = mailer_for(smtp_server)
    mailer.send(msg)
    mailer.send(msg)
    assert [r.message["Message-ID"] for r in smtp_server.messages] == [MID, MID]


@pytest.mark.parametrize(
    ("command", "reply", "permanent"),
    [
        ("RCPT", "550 5.1.1 No such user", True),
        ("RCPT", "451 4.3.0 Try again later", False),
        ("DATA", "550 5.7.1 Message rejected", True),
        ("DATA", "451 4.3.0 Try again later", False),
        ("MAIL", "553 5.7.1 Sender not allowed", True),
    ],
)
def test_smtp_refusals_are_classified(
    smtp_server: SMTPServer, command: Any, reply: str, permanent: bool
) -> None:
    smtp_server.refuse(command, reply)
    with pytest.raises(DeliveryError) as info:
        mailer_for(smtp_server).send(escalation())
    error = info.value
    code, text = int(reply[:3]), reply[4:]
    assert (error.permanent, error.code, error.reply) == (permanent, code, text)
    assert isinstance(error, UnavailableError)
    where = f"SMTP server 127.0.0.1:{smtp_server.port}"
    if command == "RCPT":
        assert error.refused == {"zhang@county.example": (code, text)}
        assert str(error) == (
            f"{where} refused 1 of 1 recipient(s) (zhang@county.example: {reply}); nothing was sent"
        )
    else:
        stage = "MAIL FROM" if command == "MAIL" else "DATA"
        kind = "permanent" if permanent else "temporary"
        assert str(error) == f"{where} answered {stage} with {reply} ({kind})"
    assert smtp_server.messages == []


def test_one_refused_recipient_stops_the_whole_message(smtp_server: SMTPServer) -> None:
    smtp_server.refuse("RCPT", "550 5.1.1 No such user", only={"gone@county.example"})
    msg = render(
        "escalation",
        "zh",
        sample_context("escalation"),
        to=["zhang@county.example", "gone@county.example"],
        message_id=MID,
    )
    with pytest.raises(DeliveryError) as info:
        mailer_for(smtp_server).send(msg)
    assert info.value.permanent is True
    assert info.value.refused == {"gone@county.example": (550, "5.1.1 No such user")}
    assert smtp_server.messages == []


def test_server_down_is_temporary_and_recovers(smtp_server: SMTPServer) -> None:
    mailer = mailer_for(smtp_server)
    smtp_server.stop()
    with pytest.raises(DeliveryError) as info:
        mailer.send(escalation())
    assert info.value.permanent is False
    assert str(info.value) == (
        f"SMTP server 127.0.0.1:{smtp_server.port} refused the connection"
        "\n  hint: is the mail server running and the port right?"
    )
    smtp_server.start()
    mailer.send(escalation())
    assert len(smtp_server.messages) == 1


def test_slow_server_times_out_as_temporary(smtp_server: SMTPServer) -> None:
    smtp_server.delay("DATA", 3.0)
    started = time.monotonic()
    with pytest.raises(DeliveryError) as info:
        mailer_for(smtp_server, timeout=0.5).send(escalation())
    assert time.monotonic() - started < 2.0
    assert info.value.permanent is False
    assert str(info.value) == (
        f"SMTP server 127.0.0.1:{smtp_server.port} did not answer within 0.5 s during DATA"
    )


def test_mailer_settings_are_checked() -> None:
    with pytest.raises(InvalidInputError) as info:
        SMTPMailer(
            "mail.county.example",
            25,
            security="none",
            username="aidflow",
            password="secret",
            sender="aidflow@county.example",
        )
    assert str(info.value) == (
        "SMTP login with security='none' would send the password in "
        "clear text\n  hint: use security='starttls' or 'ssl'"
    )
    with pytest.raises(InvalidInputError):
        SMTPMailer(
            "mail.county.example",
            587,
            security="tls",  # type: ignore[arg-type]
            sender="aidflow@county.example",
        )
    mailer = SMTPMailer(
        "mail.county.example",
        587,
        security="starttls",
        username="aidflow",
        password="secret",
        sender="aidflow@county.example",
    )
    assert "secret" not in repr(mailer)


def test_build_email_keeps_its_own_headers() -> None:
    msg = Message(
        to=("a@b.example",),
        subject="s",
        text="t",
        html="<p>h</p>",
        headers={"Message-ID": MID, "Bcc": "evil@x.example"},
    )
    with pytest.raises(InvalidInputError, match="header 'Bcc' is set by the mailer"):
        build_email(msg, sender="aidflow@county.example", date=SENT_AT)


# --- TLS and login ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_and_login(tls_files: tuple[Path, Path], security: Any) -> None:
    cert, key = tls_files
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    with SMTPServer(
        tls_context=server_context, implicit_tls=security == "ssl", logins={"aidflow": "s3cret"}
    ) as server:
        mailer_for(
            server,
            security=security,
            username="aidflow",
            password="s3cret",
            ssl_context=client_context,
        ).send(escalation())
        assert len(server.messages) == 1

        with pytest.raises(DeliveryError) as info:
            mailer_for(
                server,
                security=security,
                username="aidflow",
                password="wrong",
                ssl_context=client_context,
            ).send(escalation())
        assert (info.value.permanent, info.value.code) == (False, 535)
        assert info.value.hint == (
            "check the SMTP host, port, security, user name and password settings"
        )

        with pytest.raises(DeliveryError) as info:  # the system CAs do not know our certificate
            mailer_for(server, security=security, username="aidflow", password="s3cret").send(
                escalation()
            )
        assert info.value.permanent is False
        assert "certificate verify failed" in str(info.value)
    assert len(server.messages) == 1


def test_sample_context_covers_every_template() -> None:
    for template in TEMPLATES:
        for lang in ("zh", "en"):
            assert set(sample_context(template, lang)) == TEMPLATE_VARIABLES[template]
    assert sample_context("visit_missing")["month"] == date(2023, 7, 1)


def test_cli_notify_preview_and_check() -> None:
    from click.testing import CliRunner

    from aidflow.cli.main import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["--lang", "zh", "notify", "preview", "emergency_escalation"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("主题：")  # the preview's frame speaks the reader's language
    assert "110***********002X" in result.stdout
    assert "escalation ack" in result.stdout
    html = runner.invoke(cli, ["--lang", "en", "notify", "preview", "escalation", "--part", "html"])
    assert html.exit_code == 0 and "<html" in html.stdout.lower()
    assert html.stdout.startswith("Subject: ")
    check = runner.invoke(cli, ["notify", "check"])
    assert check.exit_code == 0 and check.stdout.startswith("templates ok: ")
    bad = runner.invoke(cli, ["notify", "preview", "escalaton"])
    assert bad.exit_code == 3
    assert (
        bad.stderr
        == "error: no email template named 'escalaton'\n  hint: did you mean 'escalation'?\n"
    )
