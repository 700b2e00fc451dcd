"""The public notice rendered: a printable HTML page (Jinja2) and a PDF (WeasyPrint).

Both take the notice's JSON (aidflow.services.notice, format aidflow.notice/1), which holds
only what may be published; the page adds nothing from elsewhere. The template ships in the
package (`shipped/reports/notice.html`); the web page and `aidflow notice print` use it.
WeasyPrint is imported here only: it is the one adapter to the PDF library.
"""

from __future__ import annotations

import logging
from typing import Any

from aidflow.errors import UnavailableError
from aidflow.i18n import _

WORDS = {
    "title": {"zh": "公示", "en": "Public notice"},
    "lead": {
        "zh": "根据社会救助有关规定，经入户调查和审核，{area}拟对下列人员给予救助，现予公示。"
        "公示期内，任何单位和个人对公示对象有异议的，请通过下方渠道反映。",
        "en": "Under the social-assistance rules, after home visits and review, {area} "
        "proposes to assist the persons below. Anyone who objects to a person listed may say "
        "so during the notice period through the channel below.",
    },
    "no": {"zh": "序号", "en": "No."},
    "name": {"zh": "姓名", "en": "Name"},
    "id": {"zh": "身份证号", "en": "ID number"},
    "village": {"zh": "村（居）", "en": "Village"},
    "programme": {"zh": "救助类别", "en": "Programme"},
    "amount": {"zh": "拟救助金额（元/月）", "en": "Proposed amount (yuan)"},
    "pending": {"zh": "待定", "en": "to be set"},
    "period": {"zh": "公示期", "en": "Notice period"},
    "period_all": {"zh": "公示期", "en": "Notice period"},
    "to": {"zh": "至", "en": "to"},
    "inclusive": {"zh": "（含当日）", "en": " (both days included)"},
    "none": {"zh": "本村目前没有处于公示期的案件。", "en": "No case of this village is in notice."},
    "object": {"zh": "异议受理渠道", "en": "How to object"},
    "phone": {"zh": "电话", "en": "Telephone"},
    "address": {"zh": "地址", "en": "Address"},
    "printed": {"zh": "打印日期", "en": "Printed"},
}


def word(key: str, lang: str) -> str:
    return WORDS[key]["zh" if lang == "zh" else "en"]


def render_html(notice: dict[str, Any]) -> str:
    """The notice as one printable HTML page (autoescaped, StrictUndefined)."""
    from aidflow.files.report import environment

    lang = notice["lang"]
    return (
        environment()
        .get_template("notice.html")
        .render(notice=notice, lang=lang, w=lambda key: word(key, lang))
    )


def pdf_bytes(notice: dict[str, Any]) -> bytes:
    """The notice as an A4 PDF. No URL is fetched: the page has no external resource, and
    WeasyPrint is given no base URL, so the PDF holds exactly what the HTML says."""
    try:
        from weasyprint import HTML
    except OSError as exc:  # the Python package is there, the Pango library is not
        raise UnavailableError(
            _("WeasyPrint cannot load its system libraries: {error}", error=exc),
            hint=_(
                "install Pango (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0) "
                "and a Chinese font (fonts-noto-cjk)"
            ),
        ) from None

    # its step-by-step progress is not news for the server's log
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    pdf: bytes = HTML(string=render_html(notice)).write_pdf()
    return pdf
