"""The upload contract (product.md §4) as data: per upload kind, its columns, and the template files.

Every column has its English name (the canonical header), its Chinese alias(es) (accepted as headers too; the
first is the one templates show), whether it is required, a Chinese description and a sample value.

Templates: the header row holds the **Chinese aliases** (what province staff read in Excel), followed by one
sample row. Both map back to the fields on upload (headers are matched by English name or any alias), so a
template filled in Excel uploads cleanly; users delete or overwrite the sample row. The XLSX template adds a
second sheet 说明 describing every column, and formats every cell as text so Excel keeps 20-digit card numbers
and leading zeros intact.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from piaogen.identifiers import fold_fullwidth
from tolling.models import UploadKind


@dataclass(frozen=True)
class Column:
    name: str
    aliases: tuple[str, ...]
    required: bool
    description: str
    sample: str

    @property
    def alias(self) -> str:
        """The Chinese alias templates show."""
        return self.aliases[0]

    @property
    def label(self) -> str:
        """How error reasons name the column: ``ETC卡号（card_no）``."""
        return f"{self.alias}（{self.name}）"


def _col(name: str, aliases: str, description: str, sample: str, *, required: bool = True) -> Column:
    return Column(name, tuple(aliases.split("|")), required, description, sample)


TOLL_UNIT_SAMPLE = "G001532001001001"
TIME_HELP = "YYYY-MM-DD HH:MM:SS（北京时间）或ISO 8601"
MONEY_HELP = "单位元，最多两位小数"

_PASS_ID = _col("pass_id", "通行标识", "1–40位字母、数字、下划线或连字符", "G3201012026112508000123")
_CARD_NO = _col("card_no", "ETC卡号|卡号", "20位数字，前两位为发行省份代码", "32011901230000123456")
_PLATE = _col("plate", "车牌号|车牌", "车牌号，如苏A12345", "苏A12345")
_PLATE_COLOR = _col(
    "plate_color", "车牌颜色", "0蓝 1黄 2黑 3白 4渐变绿 5黄绿双拼 6蓝白渐变 7临时 9未确定 11绿 12红", "0"
)
_VEHICLE_CLASS = _col("vehicle_class", "收费车型|车型", "1–4客车，11–16货车，21–26专项作业车", "1")
_TOLL_UNIT = _col(
    "toll_unit", "收费单元编号|收费单元", "16位大写字母或数字，须为本省已登记的收费单元", TOLL_UNIT_SAMPLE
)

CONTRACT: dict[str, tuple[Column, ...]] = {
    UploadKind.TOLL_UNITS: (
        _col("toll_unit", "收费单元编号|收费单元", "16位大写字母或数字", TOLL_UNIT_SAMPLE),
        _col("name", "名称|收费单元名称", "收费单元名称", "沪宁高速无锡段"),
        _col("province", "省份代码|省份", "2位省份代码（GB/T 2260），须为上传者所在省份", "32"),
        _col("operator_tax_id", "业主纳税人识别号", "路段业主的纳税人识别号（15、17、18或20位）", "91320000134767000D"),
        _col("operator_name", "业主名称", "路段业主名称", "江苏宁沪高速公路股份有限公司"),
        _col("road_nature", "路段性质", "1经营性，2还贷", "1"),
        _col("tax_rate", "税率", "0.03、0.05或0.09；还贷路段（2）留空", "0.03", required=False),
        _col("valid_from", "生效日期", "税率生效日期YYYY-MM-DD，留空为上传当日", "", required=False),
    ),
    UploadKind.SEGMENTS: (
        _PASS_ID,
        _col("segment_no", "拆分序号", "整数，从1开始", "1"),
        _CARD_NO,
        _col("card_type", "卡类型", "22储值卡，23记账卡", "23"),
        _PLATE,
        _PLATE_COLOR,
        _VEHICLE_CLASS,
        _TOLL_UNIT,
        _col("entry_time", "入口时间", TIME_HELP, "2026-11-25 08:00:00"),
        _col("exit_time", "出口时间", TIME_HELP + "，不早于入口时间，不晚于当前时间", "2026-11-25 09:10:00"),
        _col("entry_station", "入口站", "入口收费站名称", "南京收费站"),
        _col("exit_station", "出口站", "出口收费站名称", "无锡收费站", required=False),
        _col("pay_fee", "应收金额", MONEY_HELP, "35.50"),
        _col("discount_fee", "优惠金额", MONEY_HELP, "1.78"),
        _col("fee", "实收金额", MONEY_HELP + "，须等于应收金额减优惠金额", "33.72"),
    ),
    UploadKind.TOPUPS: (
        _col("topup_id", "充值流水号", "唯一，最多64个字符", "TU2026112500000001"),
        _col(
            "card_no",
            "ETC卡号|卡号",
            "20位数字，前两位须为上传者所在省份代码；须为储值卡（22），记账卡没有充值",
            "32011901220000123456",
        ),
        _col("amount", "充值金额", MONEY_HELP + "，大于0", "500"),
        _col("topped_up_at", "充值时间", TIME_HELP, "2026-11-25 10:00:00"),
        _col("issuer_tax_id", "发行方纳税人识别号", "发行方的纳税人识别号", "91320000134767000D"),
        _col("issuer_name", "发行方名称", "发行方名称", "江苏通行宝智慧交通科技股份有限公司"),
        _col("channel", "渠道|充值渠道", "充值渠道，最多32个字符", "APP", required=False),
    ),
    UploadKind.AUDIT_CHARGES: (
        _col("charge_id", "补费流水号", "唯一，最多64个字符", "AC2026112500000001"),
        _col("pass_id", "原通行标识|通行标识", "原通行的通行标识（可空）", "G3201012026112508000123", required=False),
        _PLATE,
        _PLATE_COLOR,
        _col("card_no", "ETC卡号|卡号", "20位数字（可空）", "32011901230000123456", required=False),
        _col("toll_unit", "收费单元编号|收费单元", "少收费用的收费单元，须为本省收费单元", TOLL_UNIT_SAMPLE),
        _col(
            "reason", "补费原因", "CLASS车型不符，ROUTE路径不符，EXEMPTION优免不符，NO_EXIT有入无出，OTHER其他", "CLASS"
        ),
        _col("amount", "补费金额|金额", MONEY_HELP + "，大于0", "20.00"),
        _col("paid_at", "补费时间", TIME_HELP, "2026-11-25 11:00:00"),
    ),
    UploadKind.PAPER_TICKETS: (
        _col("ticket_no", "票据号", "纸质票据上的票据号，唯一，最多64个字符", "32010012026112500001"),
        _col("toll_unit", "收费单元编号|收费单元", "须为本省收费单元", TOLL_UNIT_SAMPLE),
        _PLATE,
        _PLATE_COLOR,
        _VEHICLE_CLASS,
        _col("exit_time", "出口时间", TIME_HELP + "，不晚于当前时间", "2026-11-25 09:10:00"),
        _col("amount", "金额", MONEY_HELP + "，大于0", "35.00"),
        _col("pay_method", "支付方式", "CASH现金，MOBILE移动支付", "CASH"),
    ),
    UploadKind.TAXI_RIDES: (
        _col("ride_id", "行程号|行程编号", "唯一，最多64个字符", "TX2026112500000001"),
        _col(
            "company_tax_id",
            "出租车公司纳税人识别号|公司纳税人识别号",
            "出租车公司的纳税人识别号",
            "91320100134767001M",
        ),
        _col("company_name", "出租车公司名称|公司名称", "出租车公司名称", "南京出租汽车有限公司"),
        _col("taxi_plate", "出租车车牌|车牌号", "出租车车牌号", "苏AT1234"),
        _col("start_time", "上车时间", TIME_HELP, "2026-11-25 08:00:00"),
        _col("end_time", "下车时间", TIME_HELP + "，不早于上车时间，不晚于当前时间", "2026-11-25 08:30:00"),
        _col("distance_km", "里程|里程（公里）", "公里，最多三位小数", "12.345"),
        _col("amount", "金额", MONEY_HELP + "，大于0", "45.50"),
    ),
}
"""The columns of every upload kind, in template order."""


@dataclass(frozen=True)
class UploadLimits:
    """What a file must keep to, as the reader enforces it (the upload page's help shows these numbers)."""

    max_bytes: int  # the whole file (setting PIAOGEN_UPLOAD_MAX_BYTES)
    line_bytes: int  # one CSV line, or one quoted section (a cell)
    columns: int  # header columns
    xlsx_inflated_bytes: int  # all parts of an XLSX, inflated, as declared
    xlsx_ratio: int  # compression ratio of one XLSX part…
    xlsx_ratio_min_part: int  # …over this inflated size
    xlsx_parts: int  # parts in an XLSX


def upload_limits() -> UploadLimits:
    """The limits of `tolling.reading` (its constants) and the upload size setting, read from where they are set."""
    from django.conf import settings

    from tolling import reading  # reading imports this module: import it when asked

    return UploadLimits(
        max_bytes=int(settings.PIAOGEN["UPLOAD_MAX_BYTES"]),
        line_bytes=reading.MAX_LINE_BYTES,
        columns=reading.MAX_COLUMNS,
        xlsx_inflated_bytes=reading.XLSX_MAX_INFLATED,
        xlsx_ratio=reading.XLSX_MAX_RATIO,
        xlsx_ratio_min_part=reading.XLSX_RATIO_MIN_PART,
        xlsx_parts=reading.XLSX_MAX_PARTS,
    )


ERROR_LINE_HEADER = "行号"
ERROR_REASON_HEADER = "错误原因"
ERROR_CODE_HEADER = "错误代码"  # the machine-readable codes of the reasons (validation.row_codes), joined with ";"
ERROR_FILE_HEADERS = (ERROR_LINE_HEADER, ERROR_REASON_HEADER, ERROR_CODE_HEADER)
"""Columns the error file adds; ignored silently on upload so a corrected error file uploads cleanly."""


def header_key(text: str) -> str:
    """Normalise a header cell for matching: full-width folded, without spaces, case-insensitive."""
    return "".join(fold_fullwidth(text).split()).lower()


def columns_by_header(kind: str) -> dict[str, Column]:
    """Every accepted header (English name and aliases, normalised) → its column."""
    mapping: dict[str, Column] = {}
    for column in CONTRACT[kind]:
        for header in (column.name, *column.aliases):
            mapping.setdefault(header_key(header), column)
    return mapping


def column(kind: str, name: str) -> Column:
    """The column ``name`` of ``kind``."""
    for col in CONTRACT[kind]:
        if col.name == name:
            return col
    raise KeyError(f"{kind} has no column {name!r}")


def template_csv(kind: str) -> bytes:
    """The CSV template of ``kind``: UTF-8 with BOM, header of Chinese aliases, one sample row."""
    columns = CONTRACT[kind]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.alias for c in columns])
    writer.writerow([c.sample for c in columns])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def template_xlsx(kind: str) -> bytes:
    """The XLSX template of ``kind``: header and sample row as text cells, and a sheet 说明 for every column."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    columns = CONTRACT[kind]
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = str(UploadKind(kind).label)
    bold = Font(bold=True)
    for index, col in enumerate(columns, start=1):
        head = sheet.cell(row=1, column=index, value=col.alias)
        head.font = bold
        sample = sheet.cell(row=2, column=index, value=col.sample)
        sample.number_format = "@"
        sheet.column_dimensions[head.column_letter].width = max(12, len(col.sample) + 4)
        for row in range(3, 1001):  # pre-format the rows users fill in as text (keeps 20-digit card numbers)
            sheet.cell(row=row, column=index).number_format = "@"
    sheet.freeze_panes = "A2"
    notes = workbook.create_sheet(str(_("说明")))
    notes.append([str(_("列名")), str(_("英文名")), str(_("必填")), str(_("说明")), str(_("示例"))])
    for cell in notes[1]:
        cell.font = bold
    for col in columns:
        required = str(_("是")) if col.required else str(_("否"))
        notes.append(["、".join(col.aliases), col.name, required, col.description, col.sample])
    for letter, width in zip("ABCDE", (24, 18, 6, 60, 28), strict=True):
        notes.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
