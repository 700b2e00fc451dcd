"""Money that cannot go wrong: BIGINT amounts, one bad case never stops the run or the tick,
export batches, the bank's answer checked line by line, and files that leave the system
(SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aidflow.language.loader import load_workflow_text
from aidflow.services.cases import Service
from aidflow.store.models import CaseEvent, Payment

from .smtp import SMTPServer
from .test_payments import TEMPORARY, County, at, cli, county, id_number  # noqa: F401 - county is a fixture


def smtp_env(smtp: SMTPServer) -> dict[str, str | None]:
    return {
        "AIDFLOW_PAYMENT_DAY": "1",
        "AIDFLOW_SMTP_HOST": smtp.host,
        "AIDFLOW_SMTP_PORT": str(smtp.port),
        "AIDFLOW_SMTP_SECURITY": "none",
        "AIDFLOW_SMTP_FROM": "aidflow@county.example",
    }


def test_amounts_beyond_32_bits_are_paid_and_one_beyond_bigint_is_skipped_naming_the_case(
    county: County,  # noqa: F811
    db_url: str,
    smtp_server: SMTPServer,
) -> None:
    """The county's run and the tick go on past a case whose amount no row can hold; the
    digest (with a name holding an ID-like number) is still delivered; no SQL is printed."""

    def supervisor(svc: Service) -> None:
        text = TEMPORARY.replace("temporary_assistance", "supervised").replace(
            "roles:\n", "roles:\n  county_supervisor: {zh: 县督办, en: County supervisor}\n", 1
        )
        svc.deploy("admin", load_workflow_text(text, "supervised.yaml"))
        svc.add_user("admin", "csup", ["county_supervisor"], "*", "csup@county.example")

    county.run(supervisor)
    big = county.case("dibao", at(2023, 8, 1, 10), "approve", amount="30000000.00")
    huge = county.case("dibao", at(2023, 8, 1, 11), "approve", amount="500.00")
    fine = county.case("dibao", at(2023, 8, 1, 12), "approve", amount="650.00")
    # someone with SQL on the database (or a future field type) gives an amount no
    # BIGINT holds; the engine's own checks stop such a value at the CLI
    with Session(county.engine) as s, s.begin():
        s.execute(
            update(CaseEvent)
            .where(CaseEvent.case_id == huge, CaseEvent.trigger == "approve")
            .values(fields={"amount": "1e30"})
        )

    # a person from another department's list whose name holds an ID-like number
    def odd_name(svc: Service) -> None:
        svc.register_person(id_number(50), f"王{id_number(51)}", "城关镇", "东村", "rural")
        svc.open_case(svc.actor("sun"), id_number(50), "dibao")

    county.run(odd_name)
    result = cli(db_url, "scheduler", "tick", now="2023-09-01T09:00", env=smtp_env(smtp_server))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        "payment run 1 for 2023-09: 2 payment(s) created (0 arrears), 30000650.00 yuan; "
        "dibao 2" in lines
    )
    assert (
        f"skipped: case {huge} dibao 2023-09: amount '1e30' is more than a payment can hold "
        "(92233720368547758.07 yuan)" in lines
    )
    assert "digest: 1 email(s) queued" in lines
    assert "delivery: 1 sent, 0 failed, 0 pending" in lines
    assert "INSERT" not in result.output and "parameters" not in result.output
    (message,) = smtp_server.messages
    body = message.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert id_number(51) not in body and "王" + id_number(51)[:3] + "*" * 11 in body
    with Session(county.engine) as s:
        got = sorted((p.case_id, p.amount_fen) for p in s.scalars(select(Payment)))
    assert got == [(big, 3_000_000_000), (fine, 65_000)]
