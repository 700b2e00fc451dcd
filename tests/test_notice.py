"""`aidflow notice print`: the public notice as HTML and as a PDF whose text is read back
(pypdf): masked ID numbers only, the notice period with its last day, the objection
channel; and a county whose notice policy lacks the channel gets an error naming the fix."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from aidflow.errors import InvalidInputError, WorkflowInvalidError
from aidflow.policy.notice import load_notice_policy

from .conftest import PERSON_ID, WORKFLOWS, Cli, World
from .test_web import MASKED, build_site

CHANNEL = ("0000-12345678", "县民政局社会救助股")


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def test_the_pdf_holds_masked_ids_the_period_and_the_objection_channel(
    world: World, db_url: str, tmp_path: Path
) -> None:
    build_site(world)  # case 2 enters its 7-day notice now
    start = world.clock.now().date()
    cli = Cli(db_url, now=world.clock.now().strftime("%Y-%m-%dT%H:%M"))
    target = tmp_path / "notice.pdf"
    for lang in ("zh", "en"):
        out = cli("--lang", lang, "notice", "print", "--village", "城关镇/东村", "--format", "pdf",
                  "--output", str(target), user="li")  # fmt: skip
        said = f"公示已写入 {target}\n" if lang == "zh" else f"notice written to {target}\n"
        assert (out.exit_code, out.stdout) == (0, said), out.stderr
        raw = target.read_bytes()
        assert raw.startswith(b"%PDF-")
        text = pdf_text(target)
        assert MASKED in text
        assert PERSON_ID not in text and PERSON_ID.encode() not in raw
        assert "1949" not in text  # never the birth date beside a masked number
        assert start.isoformat() in text and (start + timedelta(days=7)).isoformat() in text
        assert "王秀英" in text
        assert CHANNEL[0] in text
        if lang == "zh":
            assert "公示" in text and CHANNEL[1] in text and "异议受理渠道" in text
        else:
            assert "How to object" in text
    html = cli("notice", "print", "--village", "城关镇/东村", user="li")
    assert html.exit_code == 0 and MASKED in html.stdout and PERSON_ID not in html.stdout
    refused = cli("notice", "print", "--village", "城关镇/东村", user="wu")
    assert refused.exit_code == 5
    assert "village 城关镇/东村 is outside wu's area (河西镇)" in refused.stderr
    bad = cli("notice", "print", "--village", "城关镇", user="li")
    assert bad.exit_code == 3 and "--village '城关镇' is not TOWNSHIP/VILLAGE" in bad.stderr


def test_a_notice_policy_without_an_objection_channel_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as missing:
        load_notice_policy(tmp_path / "notice.yaml")
    assert (
        missing.value.message
        == f"{tmp_path / 'notice.yaml'}: the public-notice policy file is missing"
    )
    assert "objection telephone and address" in (missing.value.hint or "")
    policy = tmp_path / "notice.yaml"
    shutil.copy(WORKFLOWS / "policy" / "notice.yaml", policy)
    text = policy.read_text(encoding="utf-8")
    policy.write_text(
        text.replace('  phone: "0000-12345678"\n', '  phone: ""\n').replace(
            "  address: ", "  adress: "
        ),
        encoding="utf-8",
    )
    with pytest.raises(WorkflowInvalidError) as wrong:
        load_notice_policy(policy)
    found = [str(p) for p in wrong.value.problems]
    assert any("objection.phone" in p or "expected the objection phone as text" in p for p in found)
    assert any("unknown key 'adress'" in p for p in found)
    assert any("missing required key 'address'" in p for p in found)


def test_the_shipped_policy_reads() -> None:
    policy = load_notice_policy(WORKFLOWS / "policy" / "notice.yaml")
    assert (policy.phone, policy.states["dibao"]) == (CHANNEL[0], ("public_notice",))
    assert policy.address.startswith(CHANNEL[1])
