"""The one WeasyPrint setup (``piaogen.pdf``): the two internals it overrides are guarded here, so a WeasyPrint
upgrade fails these tests before it can change a printed form silently."""

from __future__ import annotations

import hashlib
import inspect
import tomllib
from pathlib import Path

import pytest
import weasyprint
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError

from invoicing.pdf import PDF_STYLE, UA_CSS_TEMPLATE
from piaogen import pdf
from reports.pdf import PDF_STYLE as REPORT_STYLE

ROOT = Path(__file__).resolve().parents[2]

# sha256 of the source of the WeasyPrint internals ``piaogen.pdf._XhtmlHTML`` overrides, in weasyprint 70.0. When a
# test below fails after an upgrade: read the new source, bring ``_XhtmlHTML`` in line, then update the hash.
OVERRIDDEN = {
    "__init__": "5f19f40b81837f87ae7af8e5c53d5f11e7c98ba245094a86d45f5f14d001b943",
    "_ua_stylesheets": "4fadfde9d15075b22dcfa409ec8a03af0aa1097d695be59b680017cf1bf94fe2",
}

PAGE = "<html><head><title>t</title></head><body><p class='a'>票根 <b>¥1.00</b></p></body></html>"


def test_weasyprint_is_the_pinned_version_the_overrides_are_written_for() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]

    assert f"weasyprint=={pdf.WEASYPRINT_VERSION}" in dependencies
    assert weasyprint.__version__ == pdf.WEASYPRINT_VERSION


def test_the_overridden_weasyprint_internals_are_unchanged() -> None:
    sources = {name: inspect.getsource(getattr(HTML, name)) for name in OVERRIDDEN}

    assert {name: hashlib.sha256(src.encode()).hexdigest() for name, src in sources.items()} == OVERRIDDEN


def test_the_xml_fast_path_builds_what_weasyprints_own_init_builds() -> None:
    ua = pdf._ua_stylesheet(UA_CSS_TEMPLATE)
    fast = pdf._XhtmlHTML(string=PAGE, ua_stylesheet=ua)
    stock = HTML(string=PAGE, url_fetcher=pdf.url_fetcher())

    assert set(vars(stock)) <= set(vars(fast))
    assert (fast.base_url, fast.media_type, fast.url_fetcher) == (stock.base_url, stock.media_type, stock.url_fetcher)
    assert [e.tag for e in fast.etree_element.iter()] == [e.tag for e in stock.etree_element.iter()]
    assert fast._ua_stylesheets() == [ua]


def test_invoices_use_our_user_agent_stylesheet_and_reports_weasyprints() -> None:
    assert PDF_STYLE.ua_css_template == UA_CSS_TEMPLATE
    assert REPORT_STYLE.ua_css_template is None
    assert "html" in render_to_string(UA_CSS_TEMPLATE)


def test_the_stylesheet_and_fonts_are_parsed_once_per_process() -> None:
    assert pdf._setup(PDF_STYLE.css_template) is pdf._setup(PDF_STYLE.css_template)
    assert pdf._setup(PDF_STYLE.css_template) is not pdf._setup(REPORT_STYLE.css_template)


@pytest.mark.parametrize("style", [PDF_STYLE, REPORT_STYLE], ids=["invoicing", "reports"])
def test_both_styles_render_and_fetch_nothing_but_data_uris(style: pdf.PdfStyle) -> None:
    assert pdf.pdf_bytes(PAGE, style).startswith(b"%PDF")
    with pytest.raises(FatalURLFetchingError):
        pdf.pdf_bytes('<html><body><img src="file:///etc/hostname"/></body></html>', style)
