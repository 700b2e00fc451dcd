"""Users by their display names: `user list` and `whoami` show them; in Chinese the list's
header and the roles are Chinese, and the audit check says so in Chinese."""

from __future__ import annotations

from .conftest import PERSON_ID, Cli, World


def test_user_list_and_whoami_show_display_names(world: World, db_url: str) -> None:
    cli = Cli(db_url)
    added = cli(
        "user", "add", "zhang", "--role", "township_caseworker", "--area", "城关镇",
        "--email", "zhang@county.example", "--display-name", "张建国", user="admin",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert added.output.startswith("user zhang (张建国) added: roles township_caseworker; ")
    listed = cli("user", "list", user="li")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split() == ["User", "Display", "name", "Roles", "Area", "Email"]
    zhang = next(line for line in lines if line.startswith("zhang"))
    assert zhang.split() == [
        "zhang",
        "张建国",
        "township_caseworker",
        "城关镇",
        "zhang@county.example",
    ]
    assert next(line for line in lines if line.startswith("li ")).split()[1] == "-"
    assert cli("whoami", user="zhang").output.startswith("zhang (张建国) (local mode, database ")
    assert cli("whoami", user="li").output.startswith("li (local mode, database ")

    zh = cli("--lang", "zh", "user", "list", user="li")
    lines = zh.output.splitlines()
    assert lines[0].split() == ["用户", "显示名称", "角色", "地区", "电子邮件"]
    assert next(line for line in lines if line.startswith("zhang")).split()[:3] == [
        "zhang",
        "张建国",
        "乡镇经办人",
    ]
    assert next(line for line in lines if line.startswith("admin")).split()[2] == "管理员"
    me = cli("--lang", "zh", "whoami", user="zhang")
    assert me.output.startswith("zhang（张建国）（本地模式，数据库 ")


def test_audit_verify_and_user_messages_in_chinese(world: World, db_url: str) -> None:
    cli = Cli(db_url)
    assert cli("case", "open", PERSON_ID, "-w", "dibao", user="li").exit_code == 0
    english = cli("audit", "verify")
    assert english.exit_code == 0, english.output
    assert english.output.startswith("audit ok: 1 case(s), ")
    zh = cli("--lang", "zh", "audit", "verify")
    assert zh.output.startswith("审计核验通过：已核验 1 件案件、")
    refused = cli("--lang", "zh", "user", "disable", "zhao", user="li")
    assert refused.exit_code == 5
    assert refused.stderr == (
        "错误：admin 不能以 li 的身份管理用户\n"
        "  提示：用户和地区命令请不带 --as / `AIDFLOW_USER` 运行\n"
    )
    unknown = cli("--lang", "zh", "person", "find", "王", user="ghost")
    assert unknown.exit_code == 4
    assert "错误：没有名为“ghost”的用户" in unknown.stderr
