"""The ingest engine: every contract rule and reason, duplicates, scope, re-uploads, resume, cancel, refusals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from ingest_fixtures import (
    CARD,
    OTHER_UNIT,
    TAXI_TAX_ID,
    UNIT,
    UNIT_LOAN,
    VALID,
    batch_make,
    csv_bytes,
    ingest,
    row,
    units_create,
    xlsx_bytes,
)

from piaogen.models import Role, User
from tolling import importing
from tolling.contract import CONTRACT
from tolling.importing import batch_process
from tolling.models import (
    AuditCharge,
    Card,
    Operator,
    PaperTicket,
    RejectedRow,
    Segment,
    TaxiRide,
    TollUnit,
    TollUnitRate,
    TopUp,
    Trip,
    UploadBatch,
    UploadStatus,
    Vehicle,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user(make_staff: Callable[..., User]) -> User:
    units_create()
    return make_staff(Role.PROVINCE, "32", username="jiangsu")


def reasons_of(batch: UploadBatch) -> dict[int, list[str]]:
    return dict(RejectedRow.objects.filter(batch=batch).values_list("line_no", "reasons"))


def counts(batch: UploadBatch) -> tuple[str, int, int, int, int]:
    return batch.status, batch.rows_total, batch.rows_accepted, batch.rows_duplicate, batch.rows_rejected


# --- accepted rows -------------------------------------------------------------------------------------------------


def test_a_valid_segment_lands_with_its_trip_card_and_vehicle(user: User) -> None:
    batch = ingest(user, "segments", csv_bytes([row("segments")]))

    assert counts(batch) == ("done", 1, 1, 0, 0) and batch.message == "" and batch.finished_at
    segment = Segment.objects.get()
    assert (segment.pay_fee, segment.discount_fee, segment.fee) == (3550, 178, 3372)
    assert segment.service_date == dt.date(2026, 1, 1) and segment.province == "32" and segment.batch_id == batch.pk
    assert segment.exit_time == dt.datetime(2026, 1, 1, 1, 10, tzinfo=dt.UTC)  # Beijing time without an offset
    assert segment.toll_unit.code == UNIT and segment.exit_station == "无锡收费站"
    trip = Trip.objects.get()
    assert (trip.pass_id, trip.card_no, trip.plate, trip.service_date) == (
        "G3201012026112508000123",
        CARD,
        "苏A12345",
        dt.date(2026, 1, 1),
    )
    card = Card.objects.get()
    assert (card.card_no, card.card_type, card.province) == (CARD, 23, "32")
    assert card.vehicle == Vehicle.objects.get(plate="苏A12345", plate_color=0)
    assert not batch.error_file


def test_segments_of_a_trip_widen_its_span_across_batches(user: User) -> None:
    ingest(user, "segments", csv_bytes([row("segments")]))
    later = row("segments", segment_no="2", entry_time="2026-01-01 09:10:00", exit_time="2026-01-01 10:00:00+08:00")
    ingest(user, "segments", csv_bytes([later]))

    trip = Trip.objects.get()
    assert trip.entry_time == dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC)
    assert trip.exit_time == dt.datetime(2026, 1, 1, 2, 0, tzinfo=dt.UTC)
    assert Segment.objects.count() == 2 and Card.objects.count() == 1 and Vehicle.objects.count() == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01 09:10:00", dt.datetime(2026, 1, 1, 1, 10, tzinfo=dt.UTC)),
        ("2026-01-01T09:10:00", dt.datetime(2026, 1, 1, 1, 10, tzinfo=dt.UTC)),
        ("2026-01-01T09:10", dt.datetime(2026, 1, 1, 1, 10, tzinfo=dt.UTC)),
        ("2026-01-01T01:10:00Z", dt.datetime(2026, 1, 1, 1, 10, tzinfo=dt.UTC)),
        ("2026-01-01T09:10:00+08:00", dt.datetime(2026, 1, 1, 1, 10, tzinfo=dt.UTC)),
        ("2026-01-01T03:10:00+0200", dt.datetime(2026, 1, 1, 1, 10, tzinfo=dt.UTC)),
        ("2026-01-01 09:10:00.5", dt.datetime(2026, 1, 1, 1, 10, 0, 500000, tzinfo=dt.UTC)),
    ],
)
def test_times_are_read_as_iso_8601_or_beijing_time(user: User, text: str, expected: dt.datetime) -> None:
    batch = ingest(user, "segments", csv_bytes([row("segments", exit_time=text)]))

    assert batch.rows_accepted == 1, reasons_of(batch)
    assert Segment.objects.get().exit_time == expected


@pytest.mark.parametrize(("text", "fen"), [("35", 3500), ("35.5", 3550), ("35.50", 3550), ("¥35.50", 3550), ("0", 0)])
def test_money_is_yuan_with_at_most_two_decimals_stored_as_fen(user: User, text: str, fen: int) -> None:
    batch = ingest(user, "segments", csv_bytes([row("segments", pay_fee=text, discount_fee="0", fee=text)]))

    assert batch.rows_accepted == 1, reasons_of(batch)
    assert Segment.objects.get().fee == fen


def test_a_valid_topup_creates_its_issuer_in_the_uploaders_province(user: User) -> None:
    batch = ingest(user, "topups", csv_bytes([row("topups")], kind="topups"))

    assert counts(batch) == ("done", 1, 1, 0, 0)
    topup = TopUp.objects.get()
    assert (topup.amount, topup.card_no, topup.province, topup.channel) == (50000, "32011901220000123456", "32", "APP")
    assert (topup.issuer.kind, topup.issuer.tax_id, topup.issuer.name) == ("issuer", "91320000134767000D", "江苏通行宝")
    assert topup.service_date == dt.date(2026, 1, 1)


def test_a_valid_audit_charge_paper_ticket_and_taxi_ride_land(user: User) -> None:
    audit = ingest(user, "audit_charges", csv_bytes([row("audit_charges", reason="车型不符")], kind="audit_charges"))
    paper = ingest(user, "paper_tickets", csv_bytes([row("paper_tickets")], kind="paper_tickets"))
    taxi = ingest(user, "taxi_rides", csv_bytes([row("taxi_rides")], kind="taxi_rides"))

    assert [b.rows_accepted for b in (audit, paper, taxi)] == [1, 1, 1]
    charge = AuditCharge.objects.get()
    assert (charge.reason, charge.amount, charge.toll_unit.code, charge.province) == ("CLASS", 2000, UNIT, "32")
    ticket = PaperTicket.objects.get()
    assert (ticket.amount, ticket.pay_method, ticket.vehicle_class, ticket.plate_color) == (3500, "CASH", 11, 1)
    ride = TaxiRide.objects.get()
    assert (ride.distance_m, ride.amount, ride.service_date) == (12345, 4550, dt.date(2026, 1, 1))
    assert (ride.company.kind, ride.company.tax_id, ride.company.province) == ("taxi", TAXI_TAX_ID, "32")


def test_toll_units_are_created_updated_and_unchanged_rows_count_as_duplicates(user: User) -> None:
    first = ingest(user, "toll_units", csv_bytes([row("toll_units")], kind="toll_units"))
    again = ingest(user, "toll_units", csv_bytes([row("toll_units")], kind="toll_units"))
    renamed = ingest(user, "toll_units", csv_bytes([row("toll_units", name="改名")], kind="toll_units"))
    loan = ingest(
        user, "toll_units", csv_bytes([row("toll_units", name="改名", road_nature="2", tax_rate="")], kind="toll_units")
    )

    assert counts(first) == ("done", 1, 1, 0, 0)
    assert counts(again)[2:] == (0, 1, 0)
    assert counts(renamed)[2:] == (1, 0, 0)
    assert counts(loan)[2:] == (1, 0, 0)
    unit = TollUnit.objects.get(code="G001532001009999")
    assert (unit.name, unit.province, unit.road_nature, unit.operator.tax_id) == ("改名", "32", 2, "91320000134767000D")
    assert list(TollUnitRate.objects.filter(toll_unit=unit).values_list("tax_rate", "valid_from")) == [
        (Decimal("0.090"), dt.date(2026, 1, 1))
    ]


def test_a_toll_unit_rate_without_valid_from_starts_today(user: User) -> None:
    ingest(user, "toll_units", csv_bytes([row("toll_units", valid_from="")], kind="toll_units"))

    assert TollUnitRate.objects.get(toll_unit__code="G001532001009999").valid_from == timezone.localdate()


# --- every rule, every reason --------------------------------------------------------------------------------------

FUTURE = (timezone.now() + dt.timedelta(days=2)).astimezone(dt.timezone(dt.timedelta(hours=8)))
FUTURE_TEXT = FUTURE.strftime("%Y-%m-%d %H:%M:%S")

RULES: list[tuple[str, dict[str, str], str]] = [
    ("segments", {"pass_id": ""}, "通行标识（pass_id）：不能为空"),
    ("segments", {"pass_id": "G32#1"}, "通行标识（pass_id）：通行标识必须是1–40位字母、数字、下划线或连字符"),
    ("segments", {"pass_id": "G" * 41}, "通行标识（pass_id）：通行标识必须是1–40位"),
    ("segments", {"segment_no": "0"}, "拆分序号（segment_no）：必须是1到32767之间的整数"),
    ("segments", {"segment_no": "1.5"}, "拆分序号（segment_no）：必须是1到32767之间的整数"),
    ("segments", {"card_no": "3201190123000012345"}, "ETC卡号（card_no）：卡号必须是20位数字"),
    ("segments", {"card_no": "99011901230000123456"}, "ETC卡号（card_no）：卡号的前两位不是有效的省份代码"),
    ("segments", {"card_type": "24"}, "卡类型（card_type）：卡类型必须是22（储值卡）或23（记账卡）"),
    ("segments", {"plate": ""}, "车牌号（plate）：不能为空"),
    ("segments", {"plate": "苏A1234567890"}, "车牌号（plate）：车牌号不能超过10个字符"),
    ("segments", {"plate": "苏A 12345"}, "车牌号（plate）：车牌号不能包含空格"),
    ("segments", {"plate": "苏A#2345"}, "车牌号（plate）：车牌号只能包含"),
    ("segments", {"plate_color": "8"}, "车牌颜色（plate_color）：车牌颜色必须是0、1、2、3、4、5、6、7、9、11或12"),
    ("segments", {"vehicle_class": "5"}, "收费车型（vehicle_class）：收费车型必须是1–4、11–16或21–26"),
    ("segments", {"toll_unit": "G0015"}, "收费单元编号（toll_unit）：收费单元编号必须是16位大写字母或数字"),
    ("segments", {"toll_unit": "G001532009999999"}, "收费单元编号（toll_unit）：收费单元不存在或不属于本省"),
    ("segments", {"toll_unit": OTHER_UNIT}, "收费单元编号（toll_unit）：收费单元不存在或不属于本省"),
    ("segments", {"entry_time": "2026-02-30 08:00:00"}, "入口时间（entry_time）：时间格式不正确"),
    ("segments", {"entry_time": "2026/01/01 08:00:00"}, "入口时间（entry_time）：时间格式不正确"),
    ("segments", {"exit_time": "2026-01-01 25:00:00"}, "出口时间（exit_time）：时间格式不正确"),
    ("segments", {"exit_time": "2026-01-01 0::00:00"}, "出口时间（exit_time）：时间格式不正确"),
    ("segments", {"exit_time": "2026-13-01 09:00:00"}, "出口时间（exit_time）：时间格式不正确"),
    ("segments", {"exit_time": "2025-02-29T09:00:00+08:00"}, "出口时间（exit_time）：时间格式不正确"),
    ("segments", {"exit_time": "2026-01-01 07:00:00"}, "出口时间（exit_time）：出口时间早于入口时间"),
    ("segments", {"exit_time": FUTURE_TEXT}, "出口时间（exit_time）：不能晚于当前时间"),
    ("segments", {"entry_station": ""}, "入口站（entry_station）：不能为空"),
    ("segments", {"entry_station": "站" * 101}, "入口站（entry_station）：不能超过100个字符"),
    ("segments", {"exit_station": "站" * 101}, "出口站（exit_station）：不能超过100个字符"),
    ("segments", {"pay_fee": ""}, "应收金额（pay_fee）：不能为空"),
    ("segments", {"pay_fee": "-35.50"}, "应收金额（pay_fee）：金额不能为负数"),
    ("segments", {"discount_fee": "1.785"}, "优惠金额（discount_fee）：金额格式不正确：最多两位小数"),
    ("segments", {"fee": "33,72"}, "实收金额（fee）：金额格式不正确：应为以元为单位的数字"),
    ("segments", {"pay_fee": "1" * 16}, "应收金额（pay_fee）：金额过大"),
    ("segments", {"fee": "33.70"}, "实收金额（fee）：实收金额必须等于应收金额减优惠金额"),
    ("topups", {"topup_id": "TU 1"}, "充值流水号（topup_id）：最多64个字符，且不能包含空格"),
    ("topups", {"topup_id": "T" * 65}, "充值流水号（topup_id）：最多64个字符"),
    ("topups", {"card_no": "33011901220000123456"}, "ETC卡号（card_no）：卡号的发行省份（前两位）必须是本省（32）"),
    ("topups", {"amount": "0"}, "充值金额（amount）：金额必须大于零"),
    ("topups", {"topped_up_at": FUTURE_TEXT}, "充值时间（topped_up_at）：不能晚于当前时间"),
    (
        "topups",
        {"issuer_tax_id": "91320000134767000A"},
        "发行方纳税人识别号（issuer_tax_id）：统一社会信用代码校验位错误",
    ),
    ("topups", {"issuer_tax_id": "1234"}, "发行方纳税人识别号（issuer_tax_id）：纳税人识别号必须是15、17、18或20位"),
    ("topups", {"issuer_name": ""}, "发行方名称（issuer_name）：不能为空"),
    ("topups", {"channel": "C" * 33}, "渠道（channel）：不能超过32个字符"),
    ("audit_charges", {"reason": "WRONG"}, "补费原因（reason）：必须是CLASS（车型不符）"),
    ("audit_charges", {"pass_id": "bad pass"}, "原通行标识（pass_id）：通行标识必须是"),
    ("audit_charges", {"card_no": "123"}, "ETC卡号（card_no）：卡号必须是20位数字"),
    ("audit_charges", {"toll_unit": OTHER_UNIT}, "收费单元编号（toll_unit）：收费单元不存在或不属于本省"),
    ("audit_charges", {"amount": "0.00"}, "补费金额（amount）：金额必须大于零"),
    ("audit_charges", {"paid_at": "tomorrow"}, "补费时间（paid_at）：时间格式不正确"),
    ("audit_charges", {"plate_color": ""}, "车牌颜色（plate_color）：不能为空"),
    ("paper_tickets", {"pay_method": "CARD"}, "支付方式（pay_method）：必须是CASH（现金）、MOBILE（移动支付）之一"),
    ("paper_tickets", {"vehicle_class": "99"}, "收费车型（vehicle_class）：收费车型必须是"),
    ("paper_tickets", {"exit_time": FUTURE_TEXT}, "出口时间（exit_time）：不能晚于当前时间"),
    ("paper_tickets", {"amount": "-1"}, "金额（amount）：金额不能为负数"),
    ("paper_tickets", {"toll_unit": "G001532009999999"}, "收费单元编号（toll_unit）：收费单元不存在或不属于本省"),
    ("taxi_rides", {"end_time": "2026-01-01 07:59:59"}, "下车时间（end_time）：下车时间早于上车时间"),
    ("taxi_rides", {"end_time": FUTURE_TEXT}, "下车时间（end_time）：不能晚于当前时间"),
    ("taxi_rides", {"distance_km": "1.2345"}, "里程（distance_km）：必须是不小于0的数字，最多三位小数"),
    ("taxi_rides", {"distance_km": "-1"}, "里程（distance_km）：必须是不小于0的数字"),
    (
        "taxi_rides",
        {"company_tax_id": "91320100134767001A"},
        "出租车公司纳税人识别号（company_tax_id）：统一社会信用代码校验位错误",
    ),
    ("taxi_rides", {"company_name": ""}, "出租车公司名称（company_name）：不能为空"),
    ("taxi_rides", {"taxi_plate": "苏A-T1234"}, "出租车车牌（taxi_plate）：车牌号只能包含"),
    ("taxi_rides", {"amount": "45.505"}, "金额（amount）：金额格式不正确：最多两位小数"),
    ("toll_units", {"toll_unit": "g0015320010099"}, "收费单元编号（toll_unit）：收费单元编号必须是16位大写字母或数字"),
    (
        "toll_units",
        {"toll_unit": OTHER_UNIT},
        "收费单元编号（toll_unit）：编号第6–7位须为本省代码（32），即本省的收费单元",
    ),
    ("toll_units", {"province": "33"}, "省份代码（province）：必须是上传者所在省份（32）"),
    ("toll_units", {"province": "99"}, "省份代码（province）：省份代码无效"),
    ("toll_units", {"road_nature": "3"}, "路段性质（road_nature）：必须是1（经营性）或2（还贷）"),
    ("toll_units", {"tax_rate": "0.06"}, "税率（tax_rate）：必须是0.03、0.05或0.09"),
    ("toll_units", {"tax_rate": ""}, "税率（tax_rate）：经营性路段必须填写税率"),
    ("toll_units", {"road_nature": "2"}, "税率（tax_rate）：还贷路段不填税率"),
    (
        "toll_units",
        {"operator_tax_id": "91320000134767000A"},
        "业主纳税人识别号（operator_tax_id）：统一社会信用代码校验位错误",
    ),
    ("toll_units", {"operator_name": ""}, "业主名称（operator_name）：不能为空"),
    ("toll_units", {"name": "名" * 201}, "名称（name）：不能超过200个字符"),
    ("toll_units", {"valid_from": "2026-02-30"}, "生效日期（valid_from）：日期格式不正确：应为YYYY-MM-DD"),
]


@pytest.mark.parametrize(("kind", "changes", "reason"), RULES, ids=[f"{k}-{r[:20]}" for k, _c, r in RULES])
def test_a_row_breaking_a_rule_is_rejected_with_a_reason_naming_the_column(
    user: User, kind: str, changes: dict[str, str], reason: str
) -> None:
    batch = ingest(user, kind, csv_bytes([row(kind, **changes)], kind=kind))

    assert counts(batch)[2:] == (0, 0, 1)
    [[line, reasons]] = reasons_of(batch).items()
    assert line == 2
    assert any(r.startswith(reason) for r in reasons), reasons


def test_every_reason_of_a_row_is_reported(user: User) -> None:
    bad = row("segments", segment_no="x", card_no="1", plate="苏A 1", pay_fee="-1", exit_time="", toll_unit=OTHER_UNIT)
    batch = ingest(user, "segments", csv_bytes([bad]))

    [reasons] = reasons_of(batch).values()
    assert [r.split("：")[0] for r in reasons] == [
        "拆分序号（segment_no）",
        "ETC卡号（card_no）",
        "车牌号（plate）",
        "出口时间（exit_time）",
        "应收金额（pay_fee）",
        "收费单元编号（toll_unit）",
    ]


def test_a_row_with_more_cells_than_the_header_is_rejected(user: User) -> None:
    values = list(row("segments").values())
    batch = ingest(user, "segments", csv_bytes([[*values, "surplus"]]))

    assert reasons_of(batch) == {2: ["该行有16列，多于表头的15列"]}


def test_a_row_with_fewer_cells_reads_the_missing_ones_as_empty(user: User) -> None:
    values = list(row("segments").values())[:11]  # without exit_station and the money
    batch = ingest(user, "segments", csv_bytes([values]))

    [reasons] = reasons_of(batch).values()
    assert [r.split("：")[0] for r in reasons] == ["应收金额（pay_fee）", "优惠金额（discount_fee）", "实收金额（fee）"]


# --- reading: encodings, XLSX, blank lines, full-width, headers ---------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_with_chinese_headers_loads_in_every_encoding(user: User, encoding: str) -> None:
    header = [c.alias for c in CONTRACT["segments"]]
    content = csv_bytes([list(row("segments").values())], header=header, encoding=encoding)

    batch = ingest(user, "segments", content)

    assert counts(batch) == ("done", 1, 1, 0, 0)
    assert batch.encoding == encoding
    assert Segment.objects.get().plate == "苏A12345"


def test_an_xlsx_file_loads_with_line_numbers_as_excel_shows_them(user: User) -> None:
    header = [c.name for c in CONTRACT["segments"]]
    good = list(row("segments").values())
    bad = list(row("segments", segment_no="2", plate_color="8").values())
    typed = [*good[:1], 3, *good[2:12], 35.5, 1.78, 33.72]  # numbers as Excel stores them
    content = xlsx_bytes([header, good, [], bad, typed])

    batch = ingest(user, "segments", content, name="upload.xlsx")

    assert counts(batch) == ("done", 3, 2, 0, 1) and batch.encoding == "xlsx"
    assert list(reasons_of(batch)) == [4]
    assert Segment.objects.get(segment_no=3).fee == 3372


def test_blank_lines_are_skipped_but_counted_in_line_numbers(user: User) -> None:
    text = csv_bytes([row("segments"), ["", "", ""], [], row("segments", segment_no="2", card_type="9")])
    text = text.replace(b"\r\n\r\n", b"\r\n\r\n\r\n")

    batch = ingest(user, "segments", text)

    assert counts(batch) == ("done", 2, 1, 0, 1)
    assert list(reasons_of(batch)) == [6]


def test_cells_are_trimmed_and_full_width_letters_and_digits_folded(user: User) -> None:
    wide = row(
        "segments",
        pass_id=" Ｇ３２０１ ",
        card_no="３２０１１９０１２３００００１２３４５６",
        plate="苏Ａ１２３４５",
        fee=" 33．72 ",
    )

    batch = ingest(user, "segments", csv_bytes([wide]))

    assert batch.rows_accepted == 1, reasons_of(batch)
    segment = Segment.objects.get()
    assert (segment.pass_id, segment.card_no, segment.plate, segment.fee) == ("G3201", CARD, "苏A12345", 3372)


def test_unknown_columns_are_ignored_with_a_warning(user: User) -> None:
    header = [*(c.name for c in CONTRACT["segments"]), "备注", "Remark 2"]
    batch = ingest(user, "segments", csv_bytes([[*row("segments").values(), "x", "y"]], header=header))

    assert batch.rows_accepted == 1 and batch.message == "已忽略未知列：备注、Remark 2"


def test_optional_columns_may_be_left_out(user: User) -> None:
    header = [c.name for c in CONTRACT["segments"] if c.name != "exit_station"]
    values = {k: v for k, v in row("segments").items() if k != "exit_station"}

    batch = ingest(user, "segments", csv_bytes([values], header=header))

    assert batch.rows_accepted == 1 and Segment.objects.get().exit_station == ""


# --- duplicates, same file, corrected error file -----------------------------------------------------------------


def test_identical_rows_within_the_file_and_against_the_database_are_counted_as_duplicates(user: User) -> None:
    ingest(user, "segments", csv_bytes([row("segments")]))
    rows = [row("segments"), row("segments", segment_no="2"), row("segments", segment_no="2")]

    batch = ingest(user, "segments", csv_bytes(rows))

    assert counts(batch) == ("done", 3, 1, 2, 0) and batch.rows_conflict == 0


def test_a_stored_key_whose_pass_id_is_not_registered_is_still_a_duplicate_never_an_error(user: User) -> None:
    # rows of new pass ids go in without the ON CONFLICT arbiter (loads.segments_load); a stored segment that lost its
    # trip (the registry is what says a pass id is new) must still make its row a duplicate, not fail the batch
    ingest(user, "segments", csv_bytes([row("segments")]))
    Trip.objects.all().delete()
    rows = [row("segments"), row("segments", pass_id="G3201012026112508000999")]

    batch = ingest(user, "segments", csv_bytes(rows))

    assert counts(batch) == ("done", 2, 1, 1, 0) and batch.rows_conflict == 0
    assert Segment.objects.count() == 2
    assert list(Trip.objects.values_list("pass_id", flat=True)) == ["G3201012026112508000999"]


def test_a_changed_row_under_a_taken_key_is_a_conflict_naming_both_values_never_dropped(user: User) -> None:
    ingest(user, "segments", csv_bytes([row("segments")]))
    changed = row("segments", pay_fee="35.00", discount_fee="0", fee="35.00")
    rows = [changed, row("segments", segment_no="2"), row("segments", segment_no="2", fee="0.01")]
    rows[2]["pay_fee"], rows[2]["discount_fee"] = "0.01", "0"

    batch = ingest(user, "segments", csv_bytes(rows))

    assert counts(batch) == ("done", 3, 1, 0, 2) and batch.rows_conflict == 2
    assert Segment.objects.get(segment_no=2).fee == 3372  # the first occurrence in the file wins
    reasons = dict(RejectedRow.objects.filter(batch=batch).values_list("line_no", "reasons"))
    assert reasons[2] == [
        "冲突（该主键已有不同的数据，未覆盖）：应收金额（pay_fee） 35.00 ≠ 已有 35.50；"
        "优惠金额（discount_fee） 0.00 ≠ 已有 1.78；实收金额（fee） 35.00 ≠ 已有 33.72"
    ]
    assert reasons[4] == [
        "冲突（该主键已有不同的数据，未覆盖）：应收金额（pay_fee） 0.01 ≠ 已有 35.50；"
        "优惠金额（discount_fee） 0.00 ≠ 已有 1.78；实收金额（fee） 0.01 ≠ 已有 33.72"
    ]


def test_the_same_file_twice_adds_nothing_and_says_so(user: User) -> None:
    content = csv_bytes([row("segments"), row("segments", segment_no="2")])
    first = ingest(user, "segments", content)

    second = ingest(user, "segments", content)

    assert counts(second) == ("done", 2, 0, 2, 0)
    assert second.message == f"与批次 #{first.pk} 文件相同，未新增数据"
    assert Segment.objects.count() == 2


def test_a_corrected_error_file_processes_only_those_rows_and_doubles_nothing(user: User) -> None:
    rows = [
        row("segments"),
        row("segments", segment_no="2", plate_color="8"),
        row("segments", segment_no="3", fee="-1"),
    ]
    first = ingest(user, "segments", csv_bytes(rows))
    assert counts(first) == ("done", 3, 1, 0, 2)
    error_file = first.error_file.read().decode("utf-8-sig")
    fixed = error_file.replace(",8,", ",0,", 1)  # plate colour corrected, fee left wrong

    second = ingest(user, "segments", fixed.encode("utf-8-sig"), name="errors.csv")

    assert counts(second) == ("done", 2, 1, 0, 1) and second.message == ""
    assert sorted(Segment.objects.values_list("segment_no", flat=True)) == [1, 2]
    assert reasons_of(second) == {3: ["实收金额（fee）：金额不能为负数"]}


# --- province scope ------------------------------------------------------------------------------------------------


def test_a_province_cannot_load_rows_for_another_provinces_toll_units(
    user: User, make_staff: Callable[..., User]
) -> None:
    zhejiang = make_staff(Role.PROVINCE, "33", username="zhejiang")
    content = csv_bytes([row("segments"), row("segments", segment_no="2", toll_unit=OTHER_UNIT)])

    js = ingest(user, "segments", content)
    zj = ingest(zhejiang, "segments", content, province="33")

    assert counts(js)[2:] == (1, 0, 1) and counts(zj)[2:] == (1, 0, 1)
    assert set(Segment.objects.values_list("province", "toll_unit__code")) == {("32", UNIT), ("33", OTHER_UNIT)}


def test_loan_units_of_the_province_are_accepted(user: User) -> None:
    batch = ingest(user, "segments", csv_bytes([row("segments", toll_unit=UNIT_LOAN)]))

    assert batch.rows_accepted == 1


# --- claiming, resume, cancel, failure ----------------------------------------------------------------------------


class Killed(BaseException):
    """Stands in for SIGKILL: nothing in the engine catches it."""


def _kill_at(monkeypatch: pytest.MonkeyPatch, index: int, effect: Callable[[], Any] | None = None) -> None:
    """When chunk ``index`` gets its turn (the chunks before it committed): raise Killed, or run ``effect``."""
    real = importing.Loader.chunk_load

    def chunk_load(self: importing.Loader, chunk: importing.Chunk, turns: importing.Turns) -> None:
        if chunk.index == index:
            turns.wait(index)
            if effect is None:
                raise Killed
            effect()
        real(self, chunk, turns)

    monkeypatch.setattr(importing.Loader, "chunk_load", chunk_load)


def test_a_killed_worker_resumes_from_the_committed_chunks_with_nothing_lost_or_doubled(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [row("segments", segment_no=str(n)) for n in range(1, 8)]
    rows[3]["card_type"] = "99"
    rows.insert(5, row("segments", segment_no="1"))  # a duplicate of the first row, after the kill point
    batch = batch_make(user, "segments", csv_bytes(rows))
    _kill_at(monkeypatch, 2)

    with pytest.raises(Killed):
        batch_process(batch_id=batch.pk, chunk_rows=2)

    batch.refresh_from_db()
    assert (batch.status, batch.rows_done, batch.rows_accepted, batch.rows_rejected) == ("running", 4, 3, 1)
    batch_process(batch_id=batch.pk, chunk_rows=2)  # heartbeat still fresh: another worker must not take it
    batch.refresh_from_db()
    assert batch.status == "running"

    monkeypatch.undo()
    stale = timezone.now() - dt.timedelta(hours=1)
    UploadBatch.objects.filter(pk=batch.pk).update(heartbeat_at=stale)
    batch_process(batch_id=batch.pk, chunk_rows=2)

    batch.refresh_from_db()
    assert counts(batch) == ("done", 8, 6, 1, 1)
    assert sorted(Segment.objects.values_list("segment_no", flat=True)) == [1, 2, 3, 5, 6, 7]
    assert list(reasons_of(batch)) == [5]


def test_a_worker_that_was_taken_over_stops_without_touching_the_batch(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = batch_make(user, "segments", csv_bytes([row("segments", segment_no=str(n)) for n in range(1, 6)]))
    # another worker claimed the stale batch and committed a chunk of its own meanwhile
    _kill_at(monkeypatch, 1, lambda: UploadBatch.objects.filter(pk=batch.pk).update(rows_done=3))

    batch_process(batch_id=batch.pk, chunk_rows=2)

    batch.refresh_from_db()
    assert (batch.status, batch.rows_done, batch.rows_accepted) == ("running", 3, 2)
    assert Segment.objects.count() == 2


def test_cancel_is_honoured_between_chunks(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = batch_make(user, "segments", csv_bytes([row("segments", segment_no=str(n)) for n in range(1, 6)]))
    _kill_at(monkeypatch, 2, lambda: UploadBatch.objects.filter(pk=batch.pk).update(cancel_requested=True))

    batch_process(batch_id=batch.pk, chunk_rows=2)

    batch.refresh_from_db()
    assert (batch.status, batch.rows_done, batch.rows_accepted) == ("cancelled", 4, 4)
    assert batch.message == "已取消：取消前已处理4行，其中接收4行" and batch.finished_at
    assert Segment.objects.count() == 4


@pytest.mark.parametrize("status", ["done", "refused", "failed", "cancelled"])
def test_a_finished_batch_is_left_alone(user: User, status: str) -> None:
    batch = batch_make(user, "segments", csv_bytes([row("segments")]))
    UploadBatch.objects.filter(pk=batch.pk).update(status=status)

    batch_process(batch_id=batch.pk)

    batch.refresh_from_db()
    assert batch.status == status and batch.rows_done == 0 and not Segment.objects.exists()


def test_an_unexpected_error_fails_the_batch_and_keeps_committed_chunks(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = batch_make(user, "segments", csv_bytes([row("segments", segment_no=str(n)) for n in range(1, 6)]))

    def boom() -> None:
        raise RuntimeError("disk on fire")

    _kill_at(monkeypatch, 1, boom)
    batch_process(batch_id=batch.pk, chunk_rows=2)

    batch.refresh_from_db()
    assert (batch.status, batch.rows_done, batch.rows_accepted) == ("failed", 2, 2)
    assert batch.message == "处理失败：RuntimeError: disk on fire"

    monkeypatch.undo()
    UploadBatch.objects.filter(pk=batch.pk).update(status=UploadStatus.QUEUED)  # a maintainer's retry
    batch_process(batch_id=batch.pk, chunk_rows=2)
    batch.refresh_from_db()
    assert counts(batch) == ("done", 5, 5, 0, 0)


# --- refused files -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "文件为空"),
        (b"\r\n\r\n", "文件为空：没有表头和数据"),
        (",".join(c.name for c in CONTRACT["segments"]).encode() + b"\r\n", "文件只有表头，没有数据行"),
        (",".join(c.name for c in CONTRACT["segments"]).encode() + b"\r\n,,,\r\n", "文件只有表头，没有数据行"),
        (bytes(range(256)) * 4, "不是CSV或XLSX文件"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "不支持旧版Excel文件（.xls），请另存为XLSX或CSV后上传"),
        (b"PK\x03\x04broken zip", "无法读取XLSX文件，请确认文件未损坏且为Excel工作簿（.xlsx）"),
        (b"pass_id\r\n\x81\x30\xff\xfe\r\n", "无法识别文件编码：CSV文件须为UTF-8（可带BOM）或GB18030/GBK编码"),
        (
            b"pass_id,segment_no,card_no,plate,extra\r\nx,1,2,3,4\r\n",
            "缺少必填列：卡类型（card_type）、车牌颜色（plate_color）、收费车型（vehicle_class）、收费单元编号（toll_unit）、"
            "入口时间（entry_time）、出口时间（exit_time）、入口站（entry_station）、应收金额（pay_fee）、"
            "优惠金额（discount_fee）、实收金额（fee）",
        ),
        (b"pass_id,PASS_ID\r\n", "表头有重复的列：PASS_ID"),
    ],
    ids=[
        "empty",
        "blank",
        "header-only",
        "header-and-blank",
        "binary",
        "xls",
        "bad-zip",
        "undecodable",
        "missing",
        "dup",
    ],
)
def test_a_file_that_cannot_load_is_refused_with_a_clear_message(user: User, content: bytes, message: str) -> None:
    batch = ingest(user, "segments", content)

    assert (batch.status, batch.message) == ("refused", message)
    assert batch.rows_done == 0 and not Segment.objects.exists() and not RejectedRow.objects.exists()


def test_a_file_over_the_size_limit_is_refused(user: User, settings: Any) -> None:
    settings.PIAOGEN = {**settings.PIAOGEN, "UPLOAD_MAX_BYTES": 100}

    batch = ingest(user, "segments", csv_bytes([row("segments")]))

    assert batch.status == "refused" and batch.message.startswith("文件过大")
    assert not Segment.objects.exists()


def test_a_bad_byte_deep_in_the_file_refuses_it_before_anything_loads(user: User, monkeypatch: Any) -> None:
    monkeypatch.setattr("tolling.reading.PREFIX_SIZE", 64)
    rows = [row("segments", segment_no=str(n)) for n in range(1, 50)]
    content = csv_bytes(rows, encoding="utf-8") + b"\xff\xfe\xfd,\r\n"

    batch = ingest(user, "segments", content, chunk_rows=5)

    assert batch.status == "refused" and not Segment.objects.exists()


def test_an_issuer_is_reused_and_the_operator_table_is_not_filled_twice(user: User) -> None:
    rows = [row("topups"), row("topups", topup_id="TU0002", issuer_name="另一个名字")]
    batch = ingest(user, "topups", csv_bytes(rows, kind="topups"))

    assert batch.rows_accepted == 2
    assert list(Operator.objects.filter(kind="issuer").values_list("name", flat=True)) == ["江苏通行宝"]


def test_large_files_are_processed_in_chunks_with_exact_counts(user: User) -> None:
    rows = [row("segments", pass_id=f"P{n // 3}", segment_no=str(n % 3 + 1)) for n in range(250)]
    rows[100]["fee"] = "x"

    batch = ingest(user, "segments", csv_bytes(rows), chunk_rows=16)

    assert counts(batch) == ("done", 250, 249, 0, 1)
    assert Trip.objects.count() == 84 and Segment.objects.count() == 249


def test_every_kind_has_a_valid_sample_in_the_fixtures() -> None:
    assert set(VALID) == set(CONTRACT)
