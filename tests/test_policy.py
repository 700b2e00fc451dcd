"""Policy standards: the shipped file, values by date, and strict loading with exact messages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from aidflow.errors import NotFoundError, WorkflowInvalidError
from aidflow.policy.standards import load_policy

from .conftest import WORKFLOWS


def test_shipped_standards_and_their_values_by_date() -> None:
    policy = load_policy(WORKFLOWS / "policy")
    assert policy.names() == {
        "urban_dibao_standard",
        "rural_dibao_standard",
        "basic_living_allowance",
        "care_allowance_full",
        "care_allowance_partial",
        "care_allowance_none",
        "temporary_assistance_multiplier_min",
        "temporary_assistance_multiplier_max",
        "temporary_assistance_township_ceiling_multiple",
        "tekun_spot_check_min_ratio",
        "dibao_household_ceiling",
    }
    assert policy.value("urban_dibao_standard", date(2023, 1, 1)) == Decimal("780.00")
    assert policy.value("urban_dibao_standard", date(2023, 12, 31)) == Decimal("780.00")
    assert policy.value("urban_dibao_standard", date(2024, 1, 1)) == Decimal("820.00")
    assert policy.value("urban_dibao_standard", date(2030, 6, 1)) == Decimal("820.00")
    assert str(policy.value("care_allowance_none", date(2024, 2, 1))) == "840.00"
    assert policy.value("temporary_assistance_multiplier_max", date(2023, 9, 1)) == 12
    assert policy.source("basic_living_allowance").startswith("SJ §18, T21 §17")
    assert sorted(policy.payments) == [
        "basic_living_allowance",
        "care_allowance",
        "dibao",
        "temporary_assistance",
    ]
    care = policy.payments["care_allowance"]
    assert (care.workflow, care.paid_states, care.tier_standard("partial")) == (
        "tekun",
        (
            "supported",
            "reassessment",
            "periodic_review",
            "termination_notice",
            "termination_objection",
        ),
        "care_allowance_partial",
    )
    with pytest.raises(NotFoundError) as exc:
        policy.value("urban_dibao_standard", date(2022, 12, 1))
    assert str(exc.value) == (
        "no value of urban_dibao_standard in force on 2022-12-01 (the first is from 2023-01-01)\n"
        "  hint: add a value with an earlier `from` date to "
        f"{WORKFLOWS / 'policy' / 'standards.yaml'}"
    )
    with pytest.raises(NotFoundError) as exc:
        policy.value("urban_dibao_standrd", date(2023, 12, 1))
    assert str(exc.value) == (
        f"no standard named 'urban_dibao_standrd' in {WORKFLOWS / 'policy' / 'standards.yaml'}"
        "\n  hint: did you mean 'urban_dibao_standard'?"
    )
    assert load_policy(WORKFLOWS / "policy" / "standards.yaml").names() == policy.names()


BAD = """standards:
  urban_dibao_standard:
    unit: yuan_per_month
    source: "county notice"
    values:
      - {from: 2023-01-01, value: 780.00}
      - {from: 2024-01-01, value: "82O.00"}
      - {from: 2023-06-01, value: "800.00"}
      - {from: 2023-06-01, value: "800.00", until: 2024-01-01}
  rural_dibao_standard:
    unit: yuan_per_year
    source: ""
    values:
      - {from: 2023-02-30, value: "560.00"}
  basic_living_allowance:
    unit: yuan_per_month
    source: "T21"
    sorce: "typo"
    values:
      - {from: 2023-01-01, value: "1020.00"}
      - {from: 2023-01-01, value: "1030.00"}
payments:
  dibao:
    workflow: dibao
    paid_states: [active]
    amount_field: amount
    standard: basic_living_allowanse
"""


def test_a_bad_policy_file_lists_every_problem_with_file_line_column(tmp_path: Path) -> None:
    (tmp_path / "standards.yaml").write_text(BAD, encoding="utf-8")
    f = tmp_path / "standards.yaml"
    with pytest.raises(WorkflowInvalidError) as exc:
        load_policy(tmp_path)
    assert str(exc.value) == "\n".join(
        [
            "12 problems found:",
            (
                f"{f}:6:35: standards.urban_dibao_standard.values[0].value: unquoted number 780.0 "
                "would be read as a "
                'floating-point number; quote it, e.g. value: "780.00" (money is an exact decimal)'
            ),
            (
                f"{f}:7:35: standards.urban_dibao_standard.values[1].value: '82O.00' is not a "
                "decimal number; "
                'write it like "780.00"'
            ),
            (
                f"{f}:8:16: standards.urban_dibao_standard.values[2].from: date 2023-06-01 comes "
                "before the previous "
                "date 2024-01-01; list the values once each, oldest first"
            ),
            f"{f}:9:45: standards.urban_dibao_standard.values[3].until: unknown key 'until'; "
            "allowed: from, value",
            (
                f"{f}:9:16: standards.urban_dibao_standard.values[3].from: date 2023-06-01 repeats "
                "the previous date "
                "2023-06-01; list the values once each, oldest first"
            ),
            (
                f"{f}:11:11: standards.rural_dibao_standard.unit: unit 'yuan_per_year' is not one "
                "of yuan_per_month, "
                "yuan, multiple"
            ),
            (
                f"{f}:12:13: standards.rural_dibao_standard.source: every standard needs its legal "
                "or plan source; "
                'write source: "the county notice or regulation that sets it"'
            ),
            (
                f"{f}:14:16: standards.rural_dibao_standard.values[0].from: '2023-02-30' is not a "
                "date; "
                "write it like 2024-01-01"
            ),
            f"{f}:18:5: standards.basic_living_allowance.sorce: unknown key 'sorce'; did you mean "
            "'source'?",
            (
                f"{f}:21:16: standards.basic_living_allowance.values[1].from: date 2023-01-01 "
                "repeats the previous "
                "date 2023-01-01; list the values once each, oldest first"
            ),
            (
                f"{f}:23:3: payments.dibao: give exactly one of amount_field, standard or "
                "tier_field (found "
                "amount_field, standard)"
            ),
            (
                f"{f}:27:15: payments.dibao.standard: unknown standard 'basic_living_allowanse'; "
                "did you mean 'basic_living_allowance'?"
            ),
        ]
    )


def test_empty_missing_and_non_mapping_policy_files(tmp_path: Path) -> None:
    with pytest.raises(WorkflowInvalidError) as exc:
        load_policy(tmp_path)
    assert (
        str(exc.value)
        == f"1 problem found:\n{tmp_path / 'standards.yaml'}:0:0: file not found; check the path"
    )
    f = tmp_path / "standards.yaml"
    f.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(WorkflowInvalidError) as exc:
        load_policy(f)
    assert str(exc.value) == (
        f"1 problem found:\n{f}:1:1: a policy file is a mapping with keys standards and payments"
    )
    f.write_text("standards: {}\nextra: 1\n", encoding="utf-8")
    with pytest.raises(WorkflowInvalidError) as exc:
        load_policy(f)
    assert str(exc.value) == (
        f"2 problems found:\n{f}:2:1: extra: unknown key 'extra'; allowed: standards, payments, "
        "amounts, exclusivity\n"
        f"{f}:1:12: standards: standards must be a mapping of names to standards; "
        "see workflows/policy/standards.yaml"
    )
