"""PDF documents: each kind renders with its printed fields, the CJK font embedded as a subset, small files,
red-letter markings, summary sheets from saved trips, and render-once caching."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from django.template.loader import render_to_string
from weasyprint.urls import FatalURLFetchingError

from invoicing import pdf as pdf_module
from invoicing.models import (
    BusinessLine,
    Document,
    DocumentEvent,
    DocumentItem,
    DocumentKind,
    DocumentLine,
    DocumentStatus,
    ItemKind,
    SummarySheet,
)
from invoicing.pdf import (
    SheetDocument,
    SheetTrip,
    document_pdf_bytes,
    document_pdf_ensure,
    document_qr_payload,
    summary_sheet_pdf_bytes,
    summary_sheet_pdf_ensure,
)
from invoicing.tax import split_gross
from tolling.models import Operator, OperatorKind, RoadNature, Segment, TollUnit, Trip

pytestmark = pytest.mark.django_db

TZ = dt.timezone(dt.timedelta(hours=8))
R3 = Decimal("0.03")
CARD = "32011234567890123456"
MAX_BYTES = 150 * 1024


class PdfText(str):
    """``pdftotext`` output compared without whitespace: letter spacing and line wrapping split words apart."""

    __slots__ = ()

    def __contains__(self, expected: object) -> bool:
        return isinstance(expected, str) and "".join(expected.split()) in "".join(self.split())


def pdf_text(pdf: bytes, tmp_path: Path) -> PdfText:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    run = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True)
    return PdfText(run.stdout)


def pdf_fonts(pdf: bytes, tmp_path: Path) -> list[list[str]]:
    """Rows of ``pdffonts``: name, type…, emb, sub, uni, object, generation."""
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout
    return [line.split() for line in out.splitlines()[2:] if line.strip()]


def pdf_pages(pdf: bytes, tmp_path: Path) -> int:
    path = tmp_path / "info.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in out.splitlines() if line.startswith("Pages:")))


@pytest.fixture
def road_operator() -> Operator:
    return Operator.objects.create(
        kind=OperatorKind.ROAD_OPERATOR, tax_id="91320000134755563X", name="江苏测试高速公路股份有限公司", province="32"
    )


@pytest.fixture
def loan_operator() -> Operator:
    return Operator.objects.create(
        kind=OperatorKind.ROAD_OPERATOR, tax_id="12320000466000000A", name="测试市公路管理处", province="32"
    )


def document_create(seller: Operator, grosses: list[int], *, rate: Decimal | None = R3, **fields: Any) -> Document:
    """A saved document with one line per gross amount (fen), split at ``rate``."""
    splits = [split_gross(gross, rate) for gross in grosses]
    values: dict[str, Any] = {
        "kind": DocumentKind.DIGITAL_INVOICE,
        "business_line": BusinessLine.ETC_TRIP,
        "number": "26321000000000000042",
        "issued_at": dt.datetime(2026, 11, 16, 10, 30, tzinfo=TZ),
        "service_date": dt.date(2026, 11, 16),
        "province": "32",
        "seller": seller,
        "seller_name": seller.name,
        "seller_tax_id": seller.tax_id,
        "buyer_name": "南京测试物流有限公司",
        "buyer_tax_id": "91320100MA1XYZ1234",
        "card_no": CARD,
        "tax_rate": rate,
        "amount_net": sum(net for net, _ in splits),
        "amount_tax": sum(tax for _, tax in splits),
        "amount_gross": sum(grosses),
    }
    values.update(fields)
    document = Document.objects.create(**values)
    for line_no, (gross, (net, tax)) in enumerate(zip(grosses, splits, strict=True), start=1):
        DocumentLine.objects.create(
            document=document,
            line_no=line_no,
            item_name="*经营租赁*通行费" if rate is not None else "*预付卡销售*通行费",
            plate="苏A12345",
            vehicle_type="客车",
            date_from=dt.date(2026, 11, line_no),
            date_to=dt.date(2026, 11, line_no + 1),
            tax_rate=rate,
            amount_net=net,
            amount_tax=tax,
            amount_gross=gross,
        )
    return document


@pytest.fixture
def invoice(road_operator: Operator) -> Document:
    return document_create(road_operator, [23276, 4560, 35])


def test_it_renders_a_toll_invoice_with_its_printed_fields(invoice: Document, tmp_path: Path) -> None:
    text = pdf_text(document_pdf_bytes(invoice), tmp_path)

    for expected in [
        "电子发票",
        "通行费",
        "26321000000000000042",
        "2026年11月16日",
        "南京测试物流有限公司",
        "91320100MA1XYZ1234",
        "江苏测试高速公路股份有限公司",
        "91320000134755563X",
        "*经营租赁*通行费",
        "苏A12345",
        "客车",
        "20261101",
        "225.98",
        "6.78",
        "3%",
        "¥270.59",
        "¥8.12",
        "价税合计",
        "贰佰柒拾捌元柒角壹分",
        "¥278.71",
        CARD,
        "开票人",
    ]:
        assert expected in text, expected


def test_it_embeds_the_cjk_font_as_a_subset_and_no_other_font(invoice: Document, tmp_path: Path) -> None:
    fonts = pdf_fonts(document_pdf_bytes(invoice), tmp_path)

    assert fonts
    for row in fonts:
        name, emb, sub = row[0], row[-5], row[-4]
        assert "+" in name and name.split("+", 1)[1].startswith("WenQuanYi"), row
        assert (emb, sub) == ("yes", "yes"), row


def test_a_non_taxable_invoice_prints_不征税_and_stars_for_the_tax(road_operator: Operator, tmp_path: Path) -> None:
    topup = document_create(road_operator, [50000], rate=None, business_line=BusinessLine.ETC_TOPUP)

    text = pdf_text(document_pdf_bytes(topup), tmp_path)

    assert "不征税" in text
    assert "***" in text
    assert "伍佰元整" in text
    assert "¥500.00" in text


def test_it_renders_a_legacy_invoice_with_its_code(road_operator: Operator, tmp_path: Path) -> None:
    legacy = document_create(
        road_operator, [10000], kind=DocumentKind.LEGACY_INVOICE, code="032001900112", number="00001234"
    )

    text = pdf_text(document_pdf_bytes(legacy), tmp_path)

    assert "江苏增值税电子普通发票" in text
    assert "032001900112" in text and "00001234" in text


def test_it_renders_a_fiscal_receipt(loan_operator: Operator, tmp_path: Path) -> None:
    receipt = document_create(
        loan_operator, [1500], rate=None, kind=DocumentKind.FISCAL_RECEIPT, code="32029926", number="0000001234"
    )

    pdf = document_pdf_bytes(receipt)
    text = pdf_text(pdf, tmp_path)

    for expected in [
        "通行费财政电子票据",
        "32029926",
        "0000001234",
        "交款人",
        "南京测试物流有限公司",
        "测试市公路管理处",
    ]:
        assert expected in text, expected
    for expected in ["收款单位", "复核人", "收款人", "壹拾伍元整", "¥15.00", "15.00"]:
        assert expected in text, expected
    assert len(pdf) <= MAX_BYTES
    assert all(row[-5:-3] == ["yes", "yes"] and "+" in row[0] for row in pdf_fonts(pdf, tmp_path))


def test_a_red_letter_invoice_shows_the_negative_marking_and_the_original(invoice: Document, tmp_path: Path) -> None:
    invoice.status = DocumentStatus.REVERSED
    invoice.save(update_fields=["status"])
    red = document_create(
        invoice.seller,
        [-23276, -4560, -35],
        number="26321000000000000043",
        status=DocumentStatus.RED,
        original=invoice,
        remarks="红冲原因：抬头有误",
    )

    text = pdf_text(document_pdf_bytes(red), tmp_path)

    assert "销项负数" in text and "红字" in text
    assert "被红冲蓝字发票号码：26321000000000000042" in text
    assert "-225.98" in text
    assert "负贰佰柒拾捌元柒角壹分" in text
    assert "-¥278.71" in text
    assert "红冲原因：抬头有误" in text


def test_a_blue_invoice_has_no_negative_marking(invoice: Document, tmp_path: Path) -> None:
    assert "销项负数" not in pdf_text(document_pdf_bytes(invoice), tmp_path)


def test_a_long_merged_invoice_runs_onto_numbered_pages(road_operator: Operator, tmp_path: Path) -> None:
    merged = document_create(road_operator, [1000 + day for day in range(1, 25)], is_merged=True)

    pdf = document_pdf_bytes(merged)
    text = pdf_text(pdf, tmp_path)

    pages = pdf_pages(pdf, tmp_path)
    assert pages >= 2
    assert f"第 1 页 / 共 {pages} 页" in text
    assert "20261124" in text  # the last line is printed
    assert all(row[0].split("+", 1)[1].startswith("WenQuanYi") for row in pdf_fonts(pdf, tmp_path))


@pytest.mark.parametrize("img", ['<img src="file:///etc/hostname"/>', '<img src="file:///etc/hostname">'])
def test_a_template_cannot_load_an_external_resource(img: str) -> None:
    """Both parsers: well-formed XHTML (the C XML parser) and markup only the HTML5 parser takes."""
    with pytest.raises(FatalURLFetchingError):
        pdf_module._html_to_pdf(f"<html><body>{img}</body></html>")


def test_the_qr_code_carries_the_key_fields(invoice: Document) -> None:
    payload = document_qr_payload(invoice)

    fields = payload.split(",")
    assert fields[:6] == ["01", "32", "", "26321000000000000042", "270.59", "20261116"]
    assert len(fields) == 8 and len(fields[7]) == 4
    assert '<img src="data:image/png;base64,' in pdf_module.document_context(invoice)["qr_img"]


def test_it_renders_unsaved_documents_when_given_their_lines(road_operator: Operator, tmp_path: Path) -> None:
    document = Document(
        kind=DocumentKind.DIGITAL_INVOICE,
        business_line=BusinessLine.ETC_TRIP,
        number="26321000000000000099",
        issued_at=dt.datetime(2026, 11, 16, 10, 30, tzinfo=TZ),
        service_date=dt.date(2026, 11, 16),
        province="32",
        seller=road_operator,
        seller_name=road_operator.name,
        seller_tax_id=road_operator.tax_id,
        buyer_name="张三",
        tax_rate=Decimal("0.09"),
        amount_net=9174,
        amount_tax=826,
        amount_gross=10000,
    )
    line = DocumentLine(
        line_no=1, item_name="*经营租赁*通行费", plate="苏B54321", vehicle_type="货车", tax_rate=Decimal("0.09"),
        amount_net=9174, amount_tax=826, amount_gross=10000,
    )  # fmt: skip

    text = pdf_text(document_pdf_bytes(document, lines=[line]), tmp_path)

    assert "苏B54321" in text and "9%" in text and "91.74" in text and "8.26" in text and "壹佰元整" in text
    assert not Document.objects.filter(number="26321000000000000099").exists()


def segment_create(unit: TollUnit, pass_id: str, segment_no: int, fee: int, entry: str, exit_: str) -> Segment:
    entry_time = dt.datetime(2026, 11, 2, 8, 5, tzinfo=TZ)
    return Segment.objects.create(
        pass_id=pass_id,
        segment_no=segment_no,
        service_date=dt.date(2026, 11, 2),
        card_no=CARD,
        card_type=23,
        plate="苏A12345",
        plate_color=0,
        vehicle_class=1,
        toll_unit=unit,
        province="32",
        entry_time=entry_time,
        exit_time=entry_time + dt.timedelta(hours=1),
        entry_station=entry,
        exit_station=exit_,
        pay_fee=fee,
        discount_fee=0,
        fee=fee,
    )


def test_it_renders_a_summary_sheet_from_saved_trips(
    road_operator: Operator, loan_operator: Operator, tmp_path: Path
) -> None:
    commercial = TollUnit.objects.create(
        code="G0001320010010A0",
        name="测试高速",
        province="32",
        operator=road_operator,
        road_nature=RoadNature.COMMERCIAL,
    )
    loan = TollUnit.objects.create(
        code="S0001320020020B0", name="测试一级公路", province="32", operator=loan_operator, road_nature=RoadNature.LOAN
    )
    passes = ["013201261102080500000001", "013201261102080500000002"]
    for pass_id in passes:
        Trip.objects.create(
            pass_id=pass_id, card_no=CARD, card_type=23, plate="苏A12345", plate_color=0, vehicle_class=1,
            entry_time=dt.datetime(2026, 11, 2, 8, 5, tzinfo=TZ), exit_time=dt.datetime(2026, 11, 2, 9, 47, tzinfo=TZ),
            service_date=dt.date(2026, 11, 2),
        )  # fmt: skip
    seg_a1 = segment_create(commercial, passes[0], 1, 4560, "南京东站", "镇江站")
    seg_a2 = segment_create(loan, passes[0], 2, 1500, "镇江站", "无锡东站")
    seg_b1 = segment_create(commercial, passes[1], 1, 2000, "无锡东站", "苏州站")
    invoice = document_create(road_operator, [6560])
    receipt = document_create(
        loan_operator, [1500], rate=None, kind=DocumentKind.FISCAL_RECEIPT, code="32029926", number="0000000007"
    )
    invoice_line = invoice.lines.get()
    for segment in (seg_a1, seg_b1):
        DocumentItem.objects.create(
            document=invoice, line=invoice_line, item_kind=ItemKind.SEGMENT, item_id=segment.pk,
            service_date=segment.service_date, card_no=CARD, amount=segment.fee,
        )  # fmt: skip
    DocumentItem.objects.create(
        document=receipt, line=receipt.lines.get(), item_kind=ItemKind.SEGMENT, item_id=seg_a2.pk,
        service_date=seg_a2.service_date, card_no=CARD, amount=seg_a2.fee,
    )  # fmt: skip
    sheet = SummarySheet.objects.create(
        number="3220261100000001",
        province="32",
        card_no=CARD,
        pass_ids=passes,
        amount_gross=8060,
        service_date=dt.date(2026, 11, 25),
        issued_at=dt.datetime(2026, 11, 25, 9, 0, tzinfo=TZ),
    )
    sheet.documents.set([invoice, receipt])

    trips = pdf_module.summary_sheet_trips(sheet)
    pdf = summary_sheet_pdf_bytes(sheet)
    text = pdf_text(pdf, tmp_path)

    assert [trip.pass_id for trip in trips] == passes
    assert [(doc.number, doc.amount) for doc in trips[0].documents] == [
        ("26321000000000000042", 4560),
        ("0000000007", 1500),
    ]
    assert [(doc.number, doc.amount) for doc in trips[1].documents] == [("26321000000000000042", 2000)]
    assert (trips[0].entry_station, trips[0].exit_station) == ("南京东站", "无锡东站")
    for expected in ["电子汇总单", "3220261100000001", CARD, *passes, "26321000000000000042", "0000000007"]:
        assert expected in text, expected
    for expected in ["45.60", "15.00", "60.60", "20.00", "¥80.60", "捌拾元陆角", "不是发票"]:
        assert expected in text, expected
    assert len(pdf) <= MAX_BYTES


def test_a_summary_sheet_of_ten_trips_fits_the_size_budget_and_embeds_a_subset(tmp_path: Path) -> None:
    trips = [
        SheetTrip(
            pass_id=f"0132012611020805000000{index:02d}",
            plate="苏A12345",
            documents=[SheetDocument("数电发票", "", f"263210000000000000{index:02d}", "江苏测试高速", "3%", 4560)],
        )
        for index in range(10)
    ]
    sheet = SummarySheet(
        number="3220261100000002", province="32", card_no=CARD, pass_ids=[trip.pass_id for trip in trips],
        amount_gross=45600, issued_at=dt.datetime(2026, 11, 25, 9, 0, tzinfo=TZ), service_date=dt.date(2026, 11, 25),
        status="void",
    )  # fmt: skip

    pdf = summary_sheet_pdf_bytes(sheet, trips=trips)

    assert len(pdf) <= MAX_BYTES
    assert "已作废" in pdf_text(pdf, tmp_path)
    assert all(row[-5:-3] == ["yes", "yes"] and "+" in row[0] for row in pdf_fonts(pdf, tmp_path))


def sheet_trips(count: int) -> list[SheetTrip]:
    """``count`` unsaved trips of one invoice each, the last one with a fiscal receipt too."""
    trips = []
    for index in range(count):
        documents = [SheetDocument("数电发票", "", f"2632100000000000{index:04d}", "江苏测试高速", "3%", 4560)]
        if index == count - 1:
            documents.append(SheetDocument("财政电子票据", "32029926", "0000000099", "测试市公路管理处", "—", 1500))
        trips.append(
            SheetTrip(
                pass_id=f"01320126110208050000{index:04d}", plate="苏A12345", entry_station="南京东站",
                exit_station="无锡东站", entry_time=dt.datetime(2026, 11, 2, 8, 5, tzinfo=TZ),
                exit_time=dt.datetime(2026, 11, 2, 9, 47, tzinfo=TZ), documents=documents,
            )
        )  # fmt: skip
    return trips


def unsaved_sheet(trips: list[SheetTrip], **fields: Any) -> SummarySheet:
    values: dict[str, Any] = {
        "number": "3220261100000004", "province": "32", "card_no": CARD, "pass_ids": [trip.pass_id for trip in trips],
        "amount_gross": sum(trip.amount for trip in trips), "issued_at": dt.datetime(2026, 11, 25, 9, 0, tzinfo=TZ),
        "service_date": dt.date(2026, 11, 25),
    }  # fmt: skip
    values.update(fields)
    return SummarySheet(**values)


def test_a_one_page_summary_sheet_has_no_page_numbers(tmp_path: Path) -> None:
    trips = sheet_trips(10)

    pdf = summary_sheet_pdf_bytes(unsaved_sheet(trips), trips=trips)
    text = pdf_text(pdf, tmp_path)

    assert pdf_pages(pdf, tmp_path) == 1
    assert "0000000099" in text and "测试市公路管理处" in text
    assert "第 1 页" not in text


def test_a_long_summary_sheet_runs_onto_numbered_pages_and_prints_every_trip(tmp_path: Path) -> None:
    trips = sheet_trips(40)
    sheet = unsaved_sheet(trips)

    pdf = summary_sheet_pdf_bytes(sheet, trips=trips)
    text = pdf_text(pdf, tmp_path)

    pages = pdf_pages(pdf, tmp_path)
    assert pages >= 2
    assert f"第 1 页 / 共 {pages} 页" in text and f"第 {pages} 页 / 共 {pages} 页" in text
    assert all(trip.pass_id in text for trip in trips)
    assert "0000000099" in text  # the last trip's second document, on the last page
    assert "¥1,839.00" in text


def test_a_sheet_just_too_long_for_one_page_is_rendered_again_with_page_numbers(
    tmp_path: Path, count_renders: Callable[[], int]
) -> None:
    trips = sheet_trips(20)  # 41 lines: not certainly too long, so laid out once without page numbers first
    assert sum(1 + len(trip.documents) for trip in trips) <= pdf_module.SHEET_ONE_PAGE_MAX_LINES

    pdf = summary_sheet_pdf_bytes(unsaved_sheet(trips), trips=trips)
    text = pdf_text(pdf, tmp_path)

    assert pdf_pages(pdf, tmp_path) == 2
    assert "第 1 页 / 共 2 页" in text and "第 2 页 / 共 2 页" in text
    assert count_renders() == 1  # one PDF written, from the second layout


def test_more_lines_than_the_one_page_limit_never_fit_on_one_page(tmp_path: Path) -> None:
    """What lets a long sheet skip the layout without page numbers (``SHEET_ONE_PAGE_MAX_LINES``)."""
    trips = sheet_trips(pdf_module.SHEET_ONE_PAGE_MAX_LINES // 2 + 1)
    context = pdf_module.summary_sheet_context(unsaved_sheet(trips), trips)

    pdf = pdf_module._render(pdf_module.SHEET_TEMPLATE, context)

    assert context["is_paged"] is False
    assert pdf_pages(pdf, tmp_path) >= 2


def test_every_template_renders_to_well_formed_xhtml_even_with_hostile_names(
    invoice: Document, road_operator: Operator
) -> None:
    """The fast path of ``piaogen.pdf`` (``PDF_STYLE``): the C XML parser takes every document; names are escaped,
    never markup."""
    hostile = "<script>alert(1)</script> & 'x' \"y\""
    invoice.buyer_name = hostile
    receipt = document_create(
        road_operator, [1500], rate=None, kind=DocumentKind.FISCAL_RECEIPT, code="32029926", number="0000000008",
        buyer_name=hostile,
    )  # fmt: skip
    trips = sheet_trips(2)
    sheet = unsaved_sheet(trips)
    rendered = [
        render_to_string(pdf_module.INVOICE_TEMPLATE, pdf_module.document_context(invoice)),
        render_to_string(pdf_module.RECEIPT_TEMPLATE, pdf_module.document_context(receipt)),
        render_to_string(pdf_module.SHEET_TEMPLATE, pdf_module.summary_sheet_context(sheet, trips)),
    ]

    roots = [ElementTree.fromstring(html) for html in rendered]  # noqa: S314 (our own templates)

    assert [root.tag for root in roots] == ["html", "html", "html"]
    assert hostile in "".join(roots[0].itertext()) and hostile in "".join(roots[1].itertext())
    assert not [element for root in roots for element in root.iter("script")]


def test_a_name_the_xml_parser_refuses_still_renders_through_the_html_parser(invoice: Document, tmp_path: Path) -> None:
    invoice.buyer_name = "南京\x01测试物流有限公司"  # a control character: not well-formed XML

    text = pdf_text(document_pdf_bytes(invoice), tmp_path)

    assert "南京" in text and "测试物流有限公司" in text and "26321000000000000042" in text


def test_every_document_kind_stays_under_150_kb(invoice: Document, road_operator: Operator) -> None:
    merged = document_create(road_operator, [1000 + day for day in range(1, 25)], number="26321000000000000050")

    assert len(document_pdf_bytes(invoice)) <= MAX_BYTES
    assert len(document_pdf_bytes(merged)) <= MAX_BYTES


@pytest.fixture
def count_renders(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    calls: list[str] = []
    original = pdf_module._html_to_pdf

    def counting(html: str, **options: Any) -> bytes:
        calls.append(html)
        return original(html, **options)

    monkeypatch.setattr(pdf_module, "_html_to_pdf", counting)
    return lambda: len(calls)


def test_document_pdf_ensure_renders_once_and_caches_the_file(
    invoice: Document, count_renders: Callable[[], int]
) -> None:
    first = document_pdf_ensure(document=invoice)
    name = first.pdf.name
    content = Path(first.pdf.path).read_bytes()

    again = document_pdf_ensure(document=Document.objects.get(pk=invoice.pk))

    assert count_renders() == 1
    assert name == "documents/32/2026/11/26321000000000000042.pdf"
    assert again.pdf.name == name
    assert Path(again.pdf.path).read_bytes() == content
    assert content.startswith(b"%PDF")
    assert Document.objects.get(pk=invoice.pk).pdf.name == name
    assert DocumentEvent.objects.filter(document=invoice, kind="pdf_rendered").count() == 1


def test_document_pdf_ensure_rerenders_when_the_cached_file_is_gone(
    invoice: Document, count_renders: Callable[[], int]
) -> None:
    document_pdf_ensure(document=invoice)
    Path(invoice.pdf.path).unlink()

    document_pdf_ensure(document=invoice)

    assert count_renders() == 2
    assert Path(invoice.pdf.path).exists()


def test_document_pdf_ensure_keeps_the_file_a_concurrent_worker_recorded_first(
    invoice: Document, count_renders: Callable[[], int]
) -> None:
    stale = Document.objects.get(pk=invoice.pk)  # loaded before the other worker finished
    winner = document_pdf_ensure(document=invoice)

    stale.pdf.name = ""  # what the slow worker still believes
    result = document_pdf_ensure(document=stale)

    assert result.pdf.name == winner.pdf.name
    storage_dir = Path(winner.pdf.path).parent
    assert [path.name for path in storage_dir.iterdir()] == ["26321000000000000042.pdf"]


def test_summary_sheet_pdf_ensure_renders_once_and_caches_the_file(count_renders: Callable[[], int]) -> None:
    sheet = SummarySheet.objects.create(
        number="3220261100000003", province="32", card_no=CARD, pass_ids=[], amount_gross=0,
        service_date=dt.date(2026, 11, 25),
    )  # fmt: skip

    summary_sheet_pdf_ensure(sheet=sheet)
    summary_sheet_pdf_ensure(sheet=SummarySheet.objects.get(pk=sheet.pk))

    assert count_renders() == 1
    assert SummarySheet.objects.get(pk=sheet.pk).pdf.name == "sheets/32/2026/11/3220261100000003.pdf"
    assert Path(sheet.pdf.path).read_bytes().startswith(b"%PDF")
