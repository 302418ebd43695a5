"""The English console reads as English: each role's pages, rendered in English (language cookie or the browser's
Accept-Language), show no Chinese outside the data they list — names, stations, reasons stored in the database — and
the way back to Chinese. Documents stay Chinese whatever the console's language."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.core.files.base import ContentFile
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import translation

from invoicing.issuing import document_reverse, issue_segments
from piaogen.identifiers import (
    PLATE_PROVINCE_CHARS,
    PROVINCE_LABELS,
    PlateColor,
    Province,
    mask_name,
    province_label,
)
from piaogen.models import Role, User
from support.tickets import ticket_open
from tests.fixtures.invoicing import segment
from tests.fixtures.support import HOLDER, holder_card
from tolling.models import RejectedRow, UploadBatch, UploadStatus

pytestmark = pytest.mark.django_db

# CJK ideographs and punctuation, full-width forms (：，（） …)
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")

# What may stay Chinese on an English page: the switch back to Chinese names its language in Chinese, the brand
# mark in the top bar is the logo's character, and plates (京A12345: samples in help texts) are data.
ALLOWED = (
    re.compile(f"[{PLATE_PROVINCE_CHARS}][A-Z][A-Z0-9]{{4,6}}"),
    re.compile(r'<form class="lang-switch".*?</form>', re.S),
    re.compile(r'<span class="brand-mark" aria-hidden="true">票</span>'),
)

# role → the pages of that role that render without any data (the search finds nothing on an empty database)
PAGES: dict[str, list[str]] = {
    Role.AGENT: ["/", "/search/", "/search/?q=%E8%8B%8FA12345", "/search/?q=nothing+like+this", "/tickets/",
                 "/tickets/new/", "/audit/"],
    Role.PROVINCE: ["/", "/uploads/", "/reports/"],
    Role.MANAGER: ["/", "/reports/", "/reports/documents/", "/reports/uploads/", "/reports/tickets/",
                   "/reports/exports/", "/reports/schedules/"],
    Role.MAINTAINER: ["/", "/ops/jobs/", "/audit/"],
}  # fmt: skip


def strings_in(value: Any) -> list[str]:
    """The texts in a column's value: itself, or every string inside a JSON value (upload error reasons…)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return []


def stored_texts() -> list[str]:
    """Every text stored in the database that has Chinese in it (names, stations, reasons…), and its masked form:
    what a page may show as data. Longest first, so a name is taken out before a shorter name inside it."""
    texts: set[str] = set()
    for model in apps.get_models():
        if model._meta.app_label not in ("piaogen", "tolling", "invoicing", "support", "reports"):
            continue  # permission and content type names are model names, not data
        fields = [
            f
            for f in model._meta.concrete_fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField))
        ]
        for row in model._default_manager.values_list(*[f.attname for f in fields]) if fields else []:
            texts.update(text for value in row for text in strings_in(value) if CJK.search(text))
    texts |= {mask_name(text) for text in texts}
    return sorted(texts, key=len, reverse=True)


def chinese_left(page: str, data: list[str] = []) -> list[str]:  # noqa: B006 (never mutated)
    """Each place on the page with Chinese characters outside ``data``, with context to find it in the template.
    JSON escapes (``\\u6c5f``, as chart data is embedded) are read as the characters they stand for."""
    page = JSON_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), page)
    for allowed in ALLOWED:
        page = allowed.sub("", page)
    for text in data:
        page = page.replace(text, "")
    return [page[max(0, m.start() - 40) : m.end() + 40].replace("\n", " ") for m in CJK.finditer(page)]


@pytest.fixture
def english_client(make_staff: Callable[..., User], client_for: Callable[[User], Client]) -> Callable[[str], Client]:
    def make(role: str) -> Client:
        client = client_for(make_staff(role, "32" if role == Role.PROVINCE else ""))
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return make


@pytest.mark.parametrize(("role", "url"), [(role, url) for role, urls in PAGES.items() for url in urls])
def test_each_page_of_each_role_has_no_chinese_left_in_english(
    role: str, url: str, english_client: Callable[[str], Client]
) -> None:
    response = english_client(role).get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="en">' in page
    assert chinese_left(page) == []


def test_the_record_pages_of_a_customer_in_every_invoice_state_have_no_chinese_left_but_data(
    records: dict[str, Any], english_client: Callable[[str], Client]
) -> None:
    client = english_client(Role.AGENT)
    agent = User.objects.get(username="agent")
    customer, invoice = records["customer"], records["invoice"]
    ticket = ticket_open(
        by=agent,
        category="wrong_title",
        subject="抬头写错了",
        description="客户要求换票",
        customer=customer,
        links=[("document", str(invoice.pk))],
    )
    urls = [
        f"/customers/{customer.pk}/",
        f"/cards/{records['cards']['post'].pk}/",
        f"/cards/{records['cards']['prepaid'].pk}/",
        "/vehicles/%E8%8B%8FA12345/",  # its cards and back-charge
        *(f"/trips/{records[name].pk}/" for name in ("invoiced", "waiting", "zero", "released", "from_topup")),
        f"/documents/{invoice.pk}/",
        f"/documents/{records['receipt'].pk}/",
        f"/documents/{records['reversed_document'].pk}/",
        f"/actions/documents/{invoice.pk}/reverse/",
        f"/actions/documents/{invoice.pk}/reissue/",
        f"/actions/documents/{invoice.pk}/resend/",
        f"/actions/customers/{customer.pk}/invoices/",
        f"/actions/customers/{customer.pk}/sheet/",
        f"/actions/customers/{customer.pk}/bind/",
        f"/actions/customers/{customer.pk}/title/",
        f"/actions/customers/{customer.pk}/claim/",
        f"/actions/cards/{records['cards']['post'].pk}/unbind/",
        f"/customers/{customer.pk}/reveal/",
        f"/tickets/{ticket.pk}/",
        "/tickets/",
        f"/search/?q={invoice.number}",
        "/search/?q=%E8%8B%8FA12345",
        "/audit/",
    ]
    left: dict[str, list[str]] = {}
    for url in urls:
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        left[url] = chinese_left(response.content.decode(), stored_texts())
    # an action's preview, its result, and the form error of doing it again
    reverse, first, again = f"/actions/documents/{invoice.pk}/reverse/", str(uuid.uuid4()), str(uuid.uuid4())
    pages: dict[tuple[str, str], str] = {}
    for step, key in (("preview", first), ("confirm", first), ("preview", again)):
        data = {"reason": "The customer gave the wrong title", "key": key, "step": step}
        response = client.post(reverse, data, follow=True)
        assert response.status_code == 200
        pages[step, key] = response.content.decode()
        left[f"POST {reverse} {step}"] = chinese_left(pages[step, key], stored_texts())
    # a form error that names fields, joined in English
    holder_card("32010000000000000777")
    data = {
        **HOLDER,
        "holder_id_no": "110101199003079999",
        "holder_phone": "13900000000",
        "card_no": "32010000000000000777",
    }
    bind = f"/actions/customers/{customer.pk}/bind/"
    response = client.post(bind, {**data, "reason": "Card replaced", "key": str(uuid.uuid4()), "step": "confirm"})
    pages["bind", "refused"] = response.content.decode()
    left[f"POST {bind}"] = chinese_left(pages["bind", "refused"], [*stored_texts(), *HOLDER.values()])
    # a claim refused: an unknown number reads in English
    claim = f"/actions/customers/{customer.pk}/claim/"
    data = {"claim_kind": "paper_ticket", "number": "PT404", "plate": "SU", "title": str(records["title"].pk)}
    response = client.post(claim, {**data, "reason": "Caller", "key": str(uuid.uuid4()), "step": "preview"})
    pages["claim", "refused"] = response.content.decode()
    left[f"POST {claim}"] = chinese_left(pages["claim", "refused"], stored_texts())
    assert "PT404: no such number" in pages["claim", "refused"]
    assert "ID number, Mobile number" in pages["bind", "refused"]
    assert "Red-letter reversal · Done" in pages["confirm", first]
    assert "was already reversed" in pages["preview", again]
    assert {url: places for url, places in left.items() if places} == {}


def test_the_admin_index_and_every_models_list_have_no_chinese_left_but_data(
    records: dict[str, Any], english_client: Callable[[str], Client]
) -> None:
    client = english_client(Role.MAINTAINER)
    urls = ["/admin/"] + [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") for model in admin.site._registry
    ]
    data = stored_texts()
    left: dict[str, list[str]] = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        left[url] = chinese_left(response.content.decode(), data)
    assert len(urls) > 30
    assert {url: places for url, places in left.items() if places} == {}
    assert "Select Ticket to change" in client.get("/admin/support/ticket/").content.decode()  # singular
    assert ">Tickets</a>" in client.get("/admin/").content.decode()  # plural


def test_a_provinces_upload_pages_have_no_chinese_left_but_data_and_known_gaps(
    english_client: Callable[[str], Client],
) -> None:
    client = english_client(Role.PROVINCE)
    uploader = User.objects.get(username="province32")
    batches = []
    for status, message in (
        (UploadStatus.DONE, "已忽略未知列：备注"),
        (UploadStatus.REFUSED, "缺少必填列：车牌号（plate）"),
    ):
        batch = UploadBatch(
            kind="segments", province="32", uploaded_by=uploader, file_name="通行明细.csv", file_size=3,
            sha256=uuid.uuid4().hex * 2, status=status, message=message, encoding="gb18030", rows_total=3, rows_done=3,
            **({"rows_accepted": 1, "rows_duplicate": 1, "rows_rejected": 1} if status == UploadStatus.DONE else {}),
        )  # fmt: skip
        batch.file.save("segments.csv", ContentFile(b"x\n"), save=False)
        batch.save()
        batches.append(batch)
    RejectedRow.objects.create(
        batch=batches[0],
        line_no=3,
        cells={"fee": "-1"},
        reasons=["实收金额（fee）：金额不能为负数", "车牌号（plate）：不能为空"],
    )
    urls = ["/uploads/", *(f"/uploads/{b.pk}/" for b in batches), *(f"/uploads/{b.pk}/progress/" for b in batches)]
    left: set[str] = set()
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        left |= {
            m.group(0) for place in chinese_left(response.content.decode(), stored_texts()) for m in CJK.finditer(place)
        }
    assert left == set()


def test_the_province_users_top_bar_names_the_province_in_english(english_client: Callable[[str], Client]) -> None:
    page = english_client(Role.PROVINCE).get("/").content.decode()
    assert '<span class="pill pill-province">Jiangsu</span>' in page
    assert '<span class="pill pill-role">Provincial staff</span>' in page


def test_the_login_page_follows_the_browsers_accept_language(client: Client) -> None:
    english = client.get("/login/", headers={"accept-language": "en-GB,en;q=0.9"}).content.decode()
    chinese = client.get("/login/", headers={"accept-language": "zh-CN,zh;q=0.9"}).content.decode()
    assert '<html lang="en">' in english and chinese_left(english) == []
    assert '<html lang="zh-hans">' in chinese and "登录" in chinese


def test_the_404_and_403_pages_are_english_for_an_english_visitor(
    client: Client, client_for: Callable[[User], Client]
) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    missing = client.get("/no-such-page/")
    nobody = client_for(User.objects.create_user("nobody", password="x"))
    nobody.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    forbidden = nobody.get("/")
    assert (missing.status_code, forbidden.status_code) == (404, 403)
    assert chinese_left(missing.content.decode()) == [] and chinese_left(forbidden.content.decode()) == []


def test_every_province_has_an_english_name_and_keeps_its_chinese_one() -> None:
    assert list(PROVINCE_LABELS) == list(Province.values)
    with translation.override("en"):
        english = {code: province_label(code) for code in PROVINCE_LABELS}
        plate_colours = [str(label) for label in PlateColor.labels]
    with translation.override("zh-hans"):
        chinese = {code: str(Province(code).label) for code in PROVINCE_LABELS}
    assert english["32"] == "Jiangsu" and english["15"] == "Inner Mongolia" and chinese["32"] == "江苏"
    assert [code for code, name in english.items() if CJK.search(name)] == []
    assert len(set(english.values())) == len(english)  # 山西 and 陕西 do not both read "Shanxi"
    assert [label for label in plate_colours if CJK.search(label)] == []
    assert province_label("99") == "99"


def test_documents_issued_and_reversed_from_the_english_console_are_still_printed_in_chinese(
    world: dict[str, Any],
) -> None:
    with translation.override("en"):
        (document,) = issue_segments(segment_ids=[segment(world, fee=10000).pk])
        red = document_reverse(document=document, reason="Wrong title", by=None)
    assert [line.vehicle_type for line in document.lines.all()] == ["客车"]
    assert [line.vehicle_type for line in red.lines.all()] == ["客车"]
    assert red.remarks == f"对应正数发票：{document}"


def catalogue(language: str) -> list[str]:
    """The entries of a language's .po file, the header left out."""
    text = (Path(settings.BASE_DIR) / "locale" / language / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    return [entry for entry in text.split("\n\n") if "\nmsgid " in f"\n{entry}" and 'msgid ""\nmsgstr ""' not in entry]


EMPTY_MSGSTR = re.compile(r'^msgstr(\[\d\])? ""(\n(?!")|\Z)', re.M)  # no text, and no continuation line


def test_the_english_catalogue_is_complete_and_the_chinese_one_keeps_the_msgids() -> None:
    english, chinese = catalogue("en"), catalogue("zh_Hans")
    assert len(english) > 1000 and len(chinese) == len(english)
    assert [entry for entry in english if "#, fuzzy" in entry or EMPTY_MSGSTR.search(entry)] == []
    assert [entry for entry in chinese if "#, fuzzy" in entry or not EMPTY_MSGSTR.search(entry)] == []


def test_the_query_statistics_of_every_invoice_state_have_no_chinese_left_but_data(
    records: dict[str, Any], english_client: Callable[[str], Client]
) -> None:
    client = english_client(Role.AGENT)
    start = "start=2020-01-01&issued_start=2020-01-01"
    urls = [
        f"/stats/?{start}&group_by=state,vehicle_class",
        f"/stats/?{start}&group_by=month,document_kind&plate=%E8%8B%8FA12345",
        f"/stats/?{start}&group_by=province,operator&subject=documents",
        f"/stats/?{start}&group_by=business_line&subject=topups&vehicle_class=1",  # a filter that does not apply
        f"/stats/?{start}&customer=abc",  # a value that is not valid
        f"/stats/rows/?{start}&state=topup_invoiced",
        f"/stats/rows/?{start}&subject=documents",
        f"/stats/rows/?{start}&subject=audit_charges",
    ]
    left = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        left[url] = chinese_left(response.content.decode(), stored_texts())
    assert {url: texts for url, texts in left.items() if texts} == {}
