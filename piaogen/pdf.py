"""The one WeasyPrint setup, for every PDF: invoices, receipts and summary sheets (``invoicing.pdf``) and the
management reports (``reports.pdf``).

- **Nothing is fetched**: ``url_fetcher`` allows inline ``data:`` URIs only and stops the render on any other URL,
  so a PDF never depends on the network or the file system.
- **Fonts and stylesheet once per process**: ``PdfStyle`` names a stylesheet template; its parsed ``CSS`` and the
  ``FontConfiguration`` holding its ``@font-face`` rules are built on first use and reused (one per stylesheet,
  so each template's font rules stay its own).
- **Our own user-agent stylesheet, XHTML templates** (``PdfStyle.ua_css_template``, the invoicing forms): two
  WeasyPrint internals are overridden in ``_XhtmlHTML``, for speed (docs/benchmarks.md § PDF rendering). Why each
  stays, and what guards it:

  1. ``HTML._ua_stylesheets`` (a private hook): WeasyPrint's full user-agent stylesheet has ≈ 250 rules, matched
     against every element (≈ 15 % of an invoice's render); our trimmed one holds what the forms use.
  2. ``HTML.__init__``: our templates are well-formed XHTML, parsed by the C XML parser (< 1 ms) instead of
     WeasyPrint's pure-Python HTML5 parser (≈ 7 ms of a summary sheet) into the same ElementTree; the override
     sets what ``HTML.__init__`` sets. Markup the XML parser refuses takes WeasyPrint's own path.

  Both are tied to ``weasyprint==70.0`` (pinned in pyproject.toml); ``tests/piaogen/test_pdf_setup.py`` fails if
  the version or the source of either internal changes, and checks that the fast path builds the same object.
  Reports use WeasyPrint's own parser and user-agent stylesheet (no override).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from xml.etree import ElementTree

import cssselect2
from django.template.loader import render_to_string
from weasyprint import CSS, HTML
from weasyprint.document import Document as RenderedDocument
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

WEASYPRINT_VERSION = "70.0"
"""The version ``_XhtmlHTML``'s overrides are written for (pinned in pyproject.toml)."""


@dataclass(frozen=True)
class PdfStyle:
    """How a family of PDFs is rendered: its stylesheet template and, for XHTML templates, the trimmed user-agent
    stylesheet that replaces WeasyPrint's (None: WeasyPrint's own parser and user-agent stylesheet)."""

    css_template: str
    ua_css_template: str | None = None


@cache
def url_fetcher() -> URLFetcher:
    """Fetches inline ``data:`` URIs only, and stops the render on any other URL."""
    return URLFetcher(allowed_protocols=("data",), fail_on_errors=True)


@cache
def _setup(css_template: str) -> tuple[FontConfiguration, CSS]:
    """The font configuration and the parsed stylesheet of ``css_template``, reused by every render in this process."""
    fonts = FontConfiguration()
    return fonts, CSS(string=render_to_string(css_template), font_config=fonts, url_fetcher=url_fetcher())


@cache
def _ua_stylesheet(ua_css_template: str) -> CSS:
    return CSS(string=render_to_string(ua_css_template))


class _XhtmlHTML(HTML):
    """``HTML`` for our own XHTML templates, with our user-agent stylesheet (see the module docstring)."""

    def __init__(self, *, string: str, ua_stylesheet: CSS) -> None:
        self.ua_stylesheet = ua_stylesheet
        try:
            # Our own template's output, every value autoescaped: no DTD, no entity declarations to expand.
            root = ElementTree.fromstring(string)  # noqa: S314
        except ElementTree.ParseError:
            super().__init__(string=string, url_fetcher=url_fetcher())
            return
        # what HTML.__init__ sets (weasyprint 70.0): no <base> element, so no base URL
        self.base_url = None
        self.url_fetcher = url_fetcher()
        self.media_type = "print"
        self.wrapper_element = cssselect2.ElementWrapper.from_html_root(root, content_language=None)
        self.etree_element = self.wrapper_element.etree_element

    def _ua_stylesheets(self, forms: bool = False) -> list[CSS]:
        return [self.ua_stylesheet]


def pdf_layout(html: str, style: PdfStyle) -> RenderedDocument:
    """Lay ``html`` out in pages (``len(document.pages)``); ``pdf_write`` turns it into bytes."""
    fonts, stylesheet = _setup(style.css_template)
    if style.ua_css_template is not None:
        parsed: HTML = _XhtmlHTML(string=html, ua_stylesheet=_ua_stylesheet(style.ua_css_template))
    else:
        parsed = HTML(string=html, url_fetcher=url_fetcher())
    return parsed.render(stylesheets=[stylesheet], font_config=fonts)


def pdf_write(document: RenderedDocument) -> bytes:
    pdf = document.write_pdf()
    if pdf is None:  # only when given a target to write to
        raise RuntimeError("WeasyPrint returned no bytes")
    return pdf


def pdf_bytes(html: str, style: PdfStyle) -> bytes:
    """The PDF of ``html`` rendered with ``style``."""
    return pdf_write(pdf_layout(html, style))
