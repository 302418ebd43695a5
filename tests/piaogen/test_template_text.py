"""Every Chinese character a template shows goes through translation: none in the markup around {% translate %} and
{% blocktranslate %} (a "：" or "（" outside them stays Chinese on English pages), none as a bare literal in a tag or
filter argument (``join:"、"``, ``default:"无"``): those are written ``_("、")`` so they are translated too. The same
for Python that glues translated text with a Chinese separator (``"、".join``, ``f"{a}（{b}）"``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template.base import Lexer, TokenType

TEMPLATES = Path(settings.BASE_DIR) / "templates"

# CJK ideographs and punctuation, full-width forms (：，（） …)
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
# a translated literal inside a tag or a variable: _("…") or _('…')
TRANSLATED_LITERAL = re.compile(r"""_\((?:"[^"]*"|'[^']*')\)""")

# Legal documents are printed in Chinese whatever the reader's language (invoicing/pdf.py renders them under
# translation.override("zh-hans")): their templates are Chinese by design.
CHINESE_BY_DESIGN = ("invoicing/pdf/",)

# (template, text) pairs that are data, not wording: the brand mark is the logo's character.
ALLOWED = {
    ("base.html", '<span class="brand-mark" aria-hidden="true">票</span>'),
    ("500.html", '<span class="brand-mark" aria-hidden="true">票</span>'),
}


def untranslated(source: str) -> list[tuple[int, str]]:
    """(line, text) of each Chinese text in a template that no translation tag covers."""
    found: list[tuple[int, str]] = []
    in_comment = in_blocktranslate = False
    for token in Lexer(source).tokenize():
        contents, lineno = token.contents, token.lineno or 0
        if token.token_type == TokenType.BLOCK:
            name = contents.split(" ", 1)[0]
            if name == "comment":
                in_comment = True
            elif name == "endcomment":
                in_comment = False
            elif name in ("blocktranslate", "blocktrans"):
                in_blocktranslate = True
            elif name in ("endblocktranslate", "endblocktrans"):
                in_blocktranslate = False
            if in_comment or name in ("translate", "trans", "comment", "endcomment"):
                continue
            if CJK.search(TRANSLATED_LITERAL.sub("", contents)):  # a literal in a tag's arguments
                found.append((lineno, "{% " + contents + " %}"))
        elif token.token_type == TokenType.VAR:
            if not in_comment and CJK.search(TRANSLATED_LITERAL.sub("", contents)):
                found.append((lineno, "{{ " + contents + " }}"))
        elif token.token_type == TokenType.TEXT and not in_comment and not in_blocktranslate:
            found.extend(
                (lineno + offset, line.strip()) for offset, line in enumerate(contents.split("\n")) if CJK.search(line)
            )
    return found


def checked_templates() -> list[Path]:
    return sorted(
        path
        for path in TEMPLATES.rglob("*")
        if path.suffix in (".html", ".txt") and not str(path.relative_to(TEMPLATES)).startswith(CHINESE_BY_DESIGN)
    )


def findings() -> set[tuple[str, str, int]]:
    return {
        (str(path.relative_to(TEMPLATES)), text, line)
        for path in checked_templates()
        for line, text in untranslated(path.read_text(encoding="utf-8"))
    }


def test_no_template_shows_chinese_outside_translation() -> None:
    assert len(checked_templates()) > 40
    left = sorted(
        f"{template}:{line}: {text}" for template, text, line in findings() if (template, text) not in ALLOWED
    )
    assert left == []


def test_every_allowance_is_still_needed() -> None:
    seen = {(template, text) for template, text, _line in findings()}
    assert sorted(ALLOWED - seen) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{% translate "金额" %}：{{ amount }}', [(1, "：")]),
        ("{{ name }}（{{ tax_id }}）", [(1, "（"), (1, "）")]),
        ('{{ reasons|join:"；" }}', [(1, '{{ reasons|join:"；" }}')]),
        ('{% firstof a "无" %}', [(1, '{% firstof a "无" %}')]),
        ('{% blocktranslate with trips=ids|join:"、" %}通行：{{ trips }}{% endblocktranslate %}',
         [(1, '{% blocktranslate with trips=ids|join:"、" %}')]),
    ],
)  # fmt: skip
def test_it_finds_chinese_around_and_inside_tags(source: str, expected: list[tuple[int, str]]) -> None:
    assert untranslated(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        '{% translate "金额：" %}{{ amount }}',
        "{% blocktranslate with name=a detail=b %}{{ name }}（{{ detail }}）{% endblocktranslate %}",
        '{{ reasons|join:_("；") }}',
        '{% blocktranslate with label=_("原因") value=r %}{{ label }}：{{ value }}{% endblocktranslate %}',
        '{% translate "红冲" context "button" %}',
        "{# 注释：不显示 #}{% comment %}说明（不显示）{% endcomment %}",
        "<p>ASCII only, 100%</p>",
    ],
)
def test_it_lets_translated_text_and_comments_pass(source: str) -> None:
    assert untranslated(source) == []


# --- Python: Chinese separators joined around translated text ------------------------------------------------------

SOURCES = [
    path
    for app in ("piaogen", "tolling", "invoicing", "support", "reports")
    for path in sorted((Path(settings.BASE_DIR) / app).rglob("*.py"))
    if "migrations" not in path.parts
]
# "、".join(…) or an f-string with Chinese punctuation: the separator stays Chinese on English pages unless it is
# translated itself (``_("、").join(…)``) or inside a translated format string.
CHINESE_GLUE = re.compile(r"""["'][\u3000-\u303f\uff00-\uffef]["']\.join|\bf["'][^"'\n]*[\u3000-\u303f\uff00-\uffef]""")

# Modules that write Chinese whatever the reader's language, by design: documents and the PDF report are printed in
# Chinese, upload messages and error files are Chinese by the upload contract, and demo data is data.
CHINESE_BY_DESIGN_MODULES = {
    "invoicing/issuing/lifecycle.py",  # the red-letter document's printed remarks
    "invoicing/pdf.py",
    "reports/scheduling.py",  # the e-mailed PDF report
    "tolling/contract.py",
    "tolling/reading.py",
    "tolling/importing/batches.py",
    "tolling/importing/validation.py",
    "tolling/demo.py",
}


def test_no_python_glues_translated_text_with_chinese_separators() -> None:
    found = {
        str(path.relative_to(settings.BASE_DIR)): [
            line.strip() for line in path.read_text(encoding="utf-8").splitlines() if CHINESE_GLUE.search(line)
        ]
        for path in SOURCES
    }
    glued = {module: lines for module, lines in found.items() if lines}
    assert len(SOURCES) > 50
    assert sorted(set(glued) - CHINESE_BY_DESIGN_MODULES) == []
