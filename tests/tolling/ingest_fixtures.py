"""Builders shared by the ingest tests: toll units, valid rows per upload kind, files and batches."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from typing import Any

from django.core.files.base import ContentFile

from piaogen.models import User
from tolling.contract import CONTRACT, TOLL_UNIT_SAMPLE
from tolling.importing import batch_process
from tolling.models import Operator, OperatorKind, TollUnit, TollUnitRate, UploadBatch, UploadMode

PROVINCE = "32"
UNIT = TOLL_UNIT_SAMPLE  # Jiangsu, commercial
UNIT_LOAN = "G001532001001002"  # Jiangsu, government-loan
OTHER_UNIT = "G001533001001001"  # Zhejiang
ROAD_TAX_ID = "91320000134767000D"
ISSUER_TAX_ID = "91320000134767000D"
TAXI_TAX_ID = "91320100134767001M"
CARD = "32011901230000123456"

VALID: dict[str, dict[str, str]] = {
    "segments": {
        "pass_id": "G3201012026112508000123",
        "segment_no": "1",
        "card_no": CARD,
        "card_type": "23",
        "plate": "苏A12345",
        "plate_color": "0",
        "vehicle_class": "1",
        "toll_unit": UNIT,
        "entry_time": "2026-01-01 08:00:00",
        "exit_time": "2026-01-01 09:10:00",
        "entry_station": "南京收费站",
        "exit_station": "无锡收费站",
        "pay_fee": "35.50",
        "discount_fee": "1.78",
        "fee": "33.72",
    },
    "topups": {
        "topup_id": "TU0001",
        "card_no": "32011901220000123456",
        "amount": "500",
        "topped_up_at": "2026-01-01 10:00:00",
        "issuer_tax_id": ISSUER_TAX_ID,
        "issuer_name": "江苏通行宝",
        "channel": "APP",
    },
    "audit_charges": {
        "charge_id": "AC0001",
        "pass_id": "G3201012026112508000123",
        "plate": "苏A12345",
        "plate_color": "0",
        "card_no": CARD,
        "toll_unit": UNIT,
        "reason": "CLASS",
        "amount": "20.00",
        "paid_at": "2026-01-02 11:00:00",
    },
    "paper_tickets": {
        "ticket_no": "PT0001",
        "toll_unit": UNIT,
        "plate": "苏A12345",
        "plate_color": "1",
        "vehicle_class": "11",
        "exit_time": "2026-01-01 09:10:00",
        "amount": "35",
        "pay_method": "CASH",
    },
    "taxi_rides": {
        "ride_id": "TX0001",
        "company_tax_id": TAXI_TAX_ID,
        "company_name": "南京出租汽车有限公司",
        "taxi_plate": "苏AT1234",
        "start_time": "2026-01-01 08:00:00",
        "end_time": "2026-01-01 08:30:00",
        "distance_km": "12.345",
        "amount": "45.50",
    },
    "toll_units": {
        "toll_unit": "G001532001009999",
        "name": "新单元",
        "province": PROVINCE,
        "operator_tax_id": ROAD_TAX_ID,
        "operator_name": "江苏宁沪高速公路股份有限公司",
        "road_nature": "1",
        "tax_rate": "0.09",
        "valid_from": "2026-01-01",
    },
}
"""One valid row per upload kind (with the ``units_create`` toll units in the database)."""


def units_create() -> None:
    """A Jiangsu road operator with a commercial and a loan toll unit, and a Zhejiang unit."""
    js = Operator.objects.create(kind=OperatorKind.ROAD_OPERATOR, tax_id=ROAD_TAX_ID, name="宁沪", province="32")
    zj = Operator.objects.create(kind=OperatorKind.ROAD_OPERATOR, tax_id="330000000000000", name="浙高", province="33")
    unit = TollUnit.objects.create(code=UNIT, name="沪宁高速无锡段", province="32", operator=js, road_nature=1)
    TollUnitRate.objects.create(toll_unit=unit, tax_rate="0.03", valid_from="2020-01-01")
    TollUnit.objects.create(code=UNIT_LOAN, name="还贷段", province="32", operator=js, road_nature=2)
    TollUnit.objects.create(code=OTHER_UNIT, name="杭甬", province="33", operator=zj, road_nature=1)


def row(kind: str, **changes: str) -> dict[str, str]:
    return {**VALID[kind], **changes}


def csv_bytes(
    rows: Sequence[dict[str, str] | Sequence[str]],
    *,
    kind: str = "segments",
    header: Sequence[str] | None = None,
    encoding: str = "utf-8",
) -> bytes:
    """A CSV upload: ``header`` (default the English names of ``kind``), then rows (dicts by field, or lists)."""
    names = list(header) if header is not None else [c.name for c in CONTRACT[kind]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(names)
    for item in rows:
        writer.writerow([item.get(n, "") for n in names] if isinstance(item, dict) else list(item))
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: Sequence[Sequence[Any]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for item in rows:
        sheet.append(list(item))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def batch_make(
    user: User,
    kind: str,
    content: bytes,
    *,
    name: str = "upload.csv",
    province: str = PROVINCE,
    mode: str = UploadMode.APPEND,
) -> UploadBatch:
    batch = UploadBatch(
        kind=kind,
        province=province,
        mode=mode,
        uploaded_by=user,
        file_name=name,
        file_size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )
    batch.file.save(name, ContentFile(content), save=False)
    batch.save()
    return batch


def ingest(user: User, kind: str, content: bytes, *, chunk_rows: int | None = None, **kwargs: Any) -> UploadBatch:
    """Upload ``content`` as ``kind`` and process it; the batch as it ends."""
    batch = batch_make(user, kind, content, **kwargs)
    batch_process(batch_id=batch.pk, chunk_rows=chunk_rows)
    batch.refresh_from_db()
    return batch
