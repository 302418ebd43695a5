"""Toll data as provinces send it: master data (operators, toll units, cards, vehicles) and the facts
(trips, segments, top-ups, audit back-charges, paper tickets, taxi rides), plus the upload batches that bring them.

Fact tables are lean, append-only and keyed for national scale (docs/adr/0001-schema.md): bigint ids, money in
integer fen, a `service_date` (Beijing business date) and the card number on every row, no foreign keys between
facts (only to small dimension tables), natural keys unique.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from piaogen.identifiers import (
    CardType,
    PlateColor,
    Province,
    VehicleClass,
    card_number_validator,
    id_number_validator,
    phone_validator,
    plate_validator,
    taxpayer_id_validator,
    validate_id_document,
)


def batch_field() -> models.ForeignKey[UploadBatch | None, UploadBatch | None]:
    """The upload batch a fact row came in: no database constraint and no index (facts stay partitionable;
    a batch's rows are found through the batch's own counters and error rows, not by scanning facts)."""
    return models.ForeignKey(
        "UploadBatch",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("上传批次"),
    )


class RoadNature(models.IntegerChoices):
    COMMERCIAL = 1, _("经营性")
    LOAN = 2, _("还贷")


class OperatorKind(models.TextChoices):
    ROAD_OPERATOR = "road", _("路段业主")
    CARD_ISSUER = "issuer", _("发行方")
    TAXI_COMPANY = "taxi", _("出租车公司")


class Operator(models.Model):
    """A seller of documents: road operator (路段业主), card issuer (发行方) or taxi company."""

    kind = models.CharField(_("类型"), max_length=8, choices=OperatorKind.choices)
    tax_id = models.CharField(_("纳税人识别号"), max_length=20, validators=[taxpayer_id_validator])
    name = models.CharField(_("名称"), max_length=200)
    province = models.CharField(_("省份"), max_length=2, choices=Province.choices)
    # Taxi companies: rate set per company (domain.md §2, assumed). Others carry rates on toll units.
    tax_rate = models.DecimalField(_("税率"), max_digits=4, decimal_places=3, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = pgettext_lazy("singular", "销售方")
        verbose_name_plural = pgettext_lazy("plural", "销售方")
        constraints = [
            # per province: a province's upload names its own sellers only (docs/security.md, issue #18)
            models.UniqueConstraint(fields=["kind", "tax_id", "province"], name="operator_kind_tax_id_province_uniq"),
            models.CheckConstraint(name="operator_kind_valid", condition=Q(kind__in=OperatorKind.values)),
            models.CheckConstraint(name="operator_province_valid", condition=Q(province__in=Province.values)),
            models.CheckConstraint(
                name="operator_tax_rate_range", condition=Q(tax_rate__isnull=True) | Q(tax_rate__gte=0, tax_rate__lt=1)
            ),
        ]
        indexes = [models.Index(fields=["tax_id"], name="operator_tax_id_idx")]  # search by taxpayer id

    def __str__(self) -> str:
        return self.name


class TollUnit(models.Model):
    """收费单元: the unit a segment is charged on; its road nature decides invoice vs fiscal receipt."""

    code = models.CharField(_("收费单元编号"), max_length=16, unique=True)
    name = models.CharField(_("名称"), max_length=200)
    province = models.CharField(_("省份"), max_length=2, choices=Province.choices)
    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="toll_units", verbose_name=_("路段业主")
    )
    road_nature = models.PositiveSmallIntegerField(_("路段性质"), choices=RoadNature.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = pgettext_lazy("singular", "收费单元")
        verbose_name_plural = pgettext_lazy("plural", "收费单元")
        constraints = [
            models.CheckConstraint(name="toll_unit_road_nature_valid", condition=Q(road_nature__in=RoadNature.values)),
            models.CheckConstraint(name="toll_unit_province_valid", condition=Q(province__in=Province.values)),
            models.CheckConstraint(name="toll_unit_code_format", condition=Q(code__regex=r"^[A-Z0-9]{16}$")),
        ]
        indexes = [models.Index(fields=["province", "code"], name="toll_unit_province_idx")]  # province scope

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class TollUnitRate(models.Model):
    """A commercial toll unit's VAT rate from a date on (rates have effective dates)."""

    toll_unit = models.ForeignKey(TollUnit, on_delete=models.CASCADE, related_name="rates", verbose_name=_("收费单元"))
    tax_rate = models.DecimalField(_("税率"), max_digits=4, decimal_places=3)
    valid_from = models.DateField(_("生效日期"))

    class Meta:
        verbose_name = pgettext_lazy("singular", "收费单元税率")
        verbose_name_plural = pgettext_lazy("plural", "收费单元税率")
        constraints = [
            models.UniqueConstraint(fields=["toll_unit", "valid_from"], name="toll_unit_rate_uniq"),
            models.CheckConstraint(name="toll_unit_rate_known", condition=Q(tax_rate__in=["0.03", "0.05", "0.09"])),
        ]

    def __str__(self) -> str:
        return f"{self.toll_unit_id} {self.tax_rate} @ {self.valid_from}"


class Vehicle(models.Model):
    """A vehicle as ETC knows it: plate + colour (the same plate can exist in two colours)."""

    plate = models.CharField(_("车牌号"), max_length=10, validators=[plate_validator])
    plate_color = models.PositiveSmallIntegerField(_("车牌颜色"), choices=PlateColor.choices)
    vehicle_class = models.PositiveSmallIntegerField(_("收费车型"), choices=VehicleClass.choices, null=True, blank=True)

    class Meta:
        verbose_name = pgettext_lazy("singular", "车辆")
        verbose_name_plural = pgettext_lazy("plural", "车辆")
        constraints = [
            models.UniqueConstraint(fields=["plate", "plate_color"], name="vehicle_plate_color_uniq"),
            models.CheckConstraint(name="vehicle_plate_color_valid", condition=Q(plate_color__in=PlateColor.values)),
        ]
        indexes = [
            # the search's plate prefix (support.search read_plate_prefix: plate LIKE '苏A12%'), in any collation
            models.Index(fields=["plate"], name="vehicle_plate_prefix_idx", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.plate}_{self.plate_color}"


class Card(models.Model):
    """An ETC card (20 digits), with the holder data recorded at issue (needed to bind it to an account)."""

    card_no = models.CharField(_("ETC卡号"), max_length=20, validators=[card_number_validator])
    card_type = models.PositiveSmallIntegerField(_("卡类型"), choices=CardType.choices)
    province = models.CharField(_("发行省份"), max_length=2, choices=Province.choices)
    issuer = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="cards", null=True, blank=True, verbose_name=_("发行方")
    )
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.PROTECT, related_name="cards", null=True, blank=True, verbose_name=_("车辆")
    )
    holder_name = models.CharField(_("持卡人"), max_length=100, blank=True)
    holder_id_type = models.CharField(_("证件类型"), max_length=16, blank=True)
    holder_id_no = models.CharField(_("证件号码"), max_length=32, blank=True, validators=[id_number_validator])
    holder_phone = models.CharField(_("持卡人手机号"), max_length=20, blank=True, validators=[phone_validator])
    issued_at = models.DateTimeField(_("发行时间"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = pgettext_lazy("singular", "ETC卡")
        verbose_name_plural = pgettext_lazy("plural", "ETC卡")
        constraints = [
            models.UniqueConstraint(fields=["card_no"], name="card_no_uniq"),
            models.CheckConstraint(name="card_type_valid", condition=Q(card_type__in=CardType.values)),
            models.CheckConstraint(name="card_no_format", condition=Q(card_no__regex=r"^[0-9]{20}$")),
            models.CheckConstraint(name="card_province_matches_number", condition=Q(card_no__startswith=F("province"))),
        ]
        indexes = [
            models.Index(fields=["holder_phone"], name="card_holder_phone_idx"),  # search by phone
            models.Index(fields=["holder_id_no"], name="card_holder_id_idx"),  # binding checks
        ]

    def __str__(self) -> str:
        return self.card_no

    def clean(self) -> None:
        """The holder's ID number checked as its type asks (a 身份证 must pass GB 11643)."""
        if self.holder_id_no:
            try:
                validate_id_document(self.holder_id_type, self.holder_id_no)
            except ValidationError as error:
                raise ValidationError({"holder_id_no": error.messages}) from error


class Trip(models.Model):
    """A passage (通行, pass_id): the registry of pass ids, with the trip's span; its charges are segments.

    Upserted by segment ingest (ON CONFLICT (pass_id) widens entry/exit): one narrow row per trip.
    """

    pass_id = models.CharField(_("通行标识"), max_length=40)
    card_no = models.CharField(_("ETC卡号"), max_length=20, validators=[card_number_validator])
    card_type = models.PositiveSmallIntegerField(_("卡类型"), choices=CardType.choices)
    plate = models.CharField(_("车牌号"), max_length=10, validators=[plate_validator])
    plate_color = models.PositiveSmallIntegerField(_("车牌颜色"), choices=PlateColor.choices)
    vehicle_class = models.PositiveSmallIntegerField(_("收费车型"), choices=VehicleClass.choices)
    entry_time = models.DateTimeField(_("入口时间"))
    exit_time = models.DateTimeField(_("出口时间"))
    service_date = models.DateField(_("业务日期"))  # Beijing date of the first exit seen

    class Meta:
        verbose_name = pgettext_lazy("singular", "通行")
        verbose_name_plural = pgettext_lazy("plural", "通行")
        constraints = [
            models.UniqueConstraint(fields=["pass_id"], name="trip_pass_id_uniq"),
            models.CheckConstraint(name="trip_card_type_valid", condition=Q(card_type__in=CardType.values)),
            models.CheckConstraint(name="trip_exit_after_entry", condition=Q(exit_time__gte=F("entry_time"))),
        ]
        indexes = [
            # a card's trips on the customer / card pages, newest first
            models.Index(fields=["card_no", "service_date"], name="trip_card_date_idx"),
        ]

    def __str__(self) -> str:
        return self.pass_id


class Segment(models.Model):
    """通行拆分明细: one toll unit's charge in a trip. Natural key (pass_id, segment_no). Money in fen.

    Partitioned by month of ``service_date`` (ADR 0010): the database's primary key is ``(id, service_date)``;
    a lookup by id alone probes every partition's index, so reads that know the date give it."""

    id = models.BigAutoField(primary_key=True)
    pass_id = models.CharField(_("通行标识"), max_length=40)
    segment_no = models.PositiveSmallIntegerField(_("拆分序号"))
    service_date = models.DateField(_("业务日期"))  # Beijing date of exit_time
    card_no = models.CharField(_("ETC卡号"), max_length=20, validators=[card_number_validator])
    card_type = models.PositiveSmallIntegerField(_("卡类型"), choices=CardType.choices)
    plate = models.CharField(_("车牌号"), max_length=10, validators=[plate_validator])
    plate_color = models.PositiveSmallIntegerField(_("车牌颜色"), choices=PlateColor.choices)
    vehicle_class = models.PositiveSmallIntegerField(_("收费车型"), choices=VehicleClass.choices)
    # No database FK: ingest checks every toll unit set-based, and the per-row FK check cost ~15 % of a load.
    toll_unit = models.ForeignKey(
        TollUnit,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
        verbose_name=_("收费单元"),
    )
    province = models.CharField(_("省份"), max_length=2)  # the toll unit's, copied for scope filters
    entry_time = models.DateTimeField(_("入口时间"))
    exit_time = models.DateTimeField(_("出口时间"))
    entry_station = models.CharField(_("入口站"), max_length=100)
    exit_station = models.CharField(_("出口站"), max_length=100, blank=True)
    pay_fee = models.BigIntegerField(_("应收金额(分)"))
    discount_fee = models.BigIntegerField(_("优惠金额(分)"))
    fee = models.BigIntegerField(_("实收金额(分)"))
    batch = batch_field()

    class Meta:
        verbose_name = pgettext_lazy("singular", "通行拆分明细")
        verbose_name_plural = pgettext_lazy("plural", "通行拆分明细")
        constraints = [
            # with the partition key (ADR 0010); a pass id's segment number seen again on another date is caught by
            # the upload's key check (tolling.importing.conflicts), which matches on (pass_id, segment_no) alone
            models.UniqueConstraint(fields=["pass_id", "segment_no", "service_date"], name="segment_natural_key"),
            models.CheckConstraint(
                name="segment_fee_is_pay_minus_discount", condition=Q(fee=F("pay_fee") - F("discount_fee"))
            ),
            models.CheckConstraint(
                name="segment_money_non_negative", condition=Q(fee__gte=0, pay_fee__gte=0, discount_fee__gte=0)
            ),
            models.CheckConstraint(name="segment_no_positive", condition=Q(segment_no__gte=1)),
            models.CheckConstraint(name="segment_card_type_valid", condition=Q(card_type__in=CardType.values)),
            models.CheckConstraint(name="segment_plate_color_valid", condition=Q(plate_color__in=PlateColor.values)),
            models.CheckConstraint(
                name="segment_vehicle_class_valid", condition=Q(vehicle_class__in=VehicleClass.values)
            ),
            models.CheckConstraint(name="segment_exit_after_entry", condition=Q(exit_time__gte=F("entry_time"))),
        ]
        indexes = [
            # a card's segments by date: customer/card pages, eligibility, FIFO matching against top-ups
            models.Index(fields=["card_no", "service_date"], name="segment_card_date_idx"),
            # a plate's segments by date: statistics and record pages filtered by a plate (ADR 0006 addendum)
            models.Index(fields=["plate", "service_date"], name="segment_plate_date_idx"),
            # issuing runs and reports scan by business date; BRIN stays tiny as rows arrive in date order
            BrinIndex(fields=["service_date"], name="segment_date_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.pass_id}#{self.segment_no}"


class TopUp(models.Model):
    """充值: a prepaid card top-up; invoiceable at once (non-taxable) by the card issuer.

    Partitioned by month of ``service_date`` like segments (ADR 0010)."""

    id = models.BigAutoField(primary_key=True)
    topup_id = models.CharField(_("充值流水号"), max_length=64)
    service_date = models.DateField(_("业务日期"))
    card_no = models.CharField(_("ETC卡号"), max_length=20, validators=[card_number_validator])
    amount = models.BigIntegerField(_("充值金额(分)"))
    topped_up_at = models.DateTimeField(_("充值时间"))
    issuer = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+", verbose_name=_("发行方"))
    province = models.CharField(_("省份"), max_length=2)
    channel = models.CharField(_("渠道"), max_length=32, blank=True)
    batch = batch_field()

    class Meta:
        verbose_name = pgettext_lazy("singular", "充值")
        verbose_name_plural = pgettext_lazy("plural", "充值")
        constraints = [
            # natural keys are the sending province's: another province's equal key is another row, never a clash
            # with the partition key (ADR 0010): the upload's key check matches (topup_id, province) on any date
            models.UniqueConstraint(fields=["topup_id", "province", "service_date"], name="topup_id_province_uniq"),
            models.CheckConstraint(name="topup_amount_positive", condition=Q(amount__gt=0)),
        ]
        indexes = [
            # a card's top-ups in time order: FIFO matching of trips to top-ups, customer page
            models.Index(fields=["card_no", "topped_up_at"], name="topup_card_time_idx"),
            BrinIndex(fields=["service_date"], name="topup_date_brin"),
        ]

    def __str__(self) -> str:
        return self.topup_id


class AuditReason(models.TextChoices):
    CLASS = "CLASS", _("车型不符")
    ROUTE = "ROUTE", _("路径不符")
    EXEMPTION = "EXEMPTION", _("优免不符")
    NO_EXIT = "NO_EXIT", _("有入无出")
    OTHER = "OTHER", _("其他")


class AuditCharge(models.Model):
    """稽核补费: a charge recovered after an audit, invoiced by the underpaid toll unit's operator."""

    id = models.BigAutoField(primary_key=True)
    charge_id = models.CharField(_("补费流水号"), max_length=64)
    service_date = models.DateField(_("业务日期"))
    pass_id = models.CharField(_("原通行标识"), max_length=40, blank=True)
    card_no = models.CharField(_("ETC卡号"), max_length=20, blank=True, validators=[card_number_validator])
    plate = models.CharField(_("车牌号"), max_length=10, validators=[plate_validator])
    plate_color = models.PositiveSmallIntegerField(_("车牌颜色"), choices=PlateColor.choices)
    toll_unit = models.ForeignKey(TollUnit, on_delete=models.PROTECT, related_name="+", verbose_name=_("收费单元"))
    province = models.CharField(_("省份"), max_length=2)
    reason = models.CharField(_("补费原因"), max_length=16, choices=AuditReason.choices)
    amount = models.BigIntegerField(_("补费金额(分)"))
    paid_at = models.DateTimeField(_("补费时间"))
    batch = batch_field()

    class Meta:
        verbose_name = pgettext_lazy("singular", "稽核补费")
        verbose_name_plural = pgettext_lazy("plural", "稽核补费")
        constraints = [
            models.UniqueConstraint(fields=["charge_id", "province"], name="audit_charge_id_province_uniq"),
            models.CheckConstraint(name="audit_charge_amount_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(name="audit_charge_reason_valid", condition=Q(reason__in=AuditReason.values)),
        ]
        indexes = [
            models.Index(fields=["plate", "plate_color"], name="audit_charge_vehicle_idx"),  # customer page
            models.Index(fields=["pass_id"], name="audit_charge_pass_idx", condition=~Q(pass_id="")),  # trip page
        ]

    def __str__(self) -> str:
        return self.charge_id


class PayMethod(models.TextChoices):
    CASH = "CASH", _("现金")
    MOBILE = "MOBILE", _("移动支付")


class PaperTicket(models.Model):
    """纸改电: a cash or mobile-pay trip in a manual lane, claimed by its printed ticket number."""

    id = models.BigAutoField(primary_key=True)
    ticket_no = models.CharField(_("票据号"), max_length=64)
    service_date = models.DateField(_("业务日期"))
    toll_unit = models.ForeignKey(TollUnit, on_delete=models.PROTECT, related_name="+", verbose_name=_("收费单元"))
    province = models.CharField(_("省份"), max_length=2)
    plate = models.CharField(_("车牌号"), max_length=10, validators=[plate_validator])
    plate_color = models.PositiveSmallIntegerField(_("车牌颜色"), choices=PlateColor.choices)
    vehicle_class = models.PositiveSmallIntegerField(_("收费车型"), choices=VehicleClass.choices)
    exit_time = models.DateTimeField(_("出口时间"))
    amount = models.BigIntegerField(_("金额(分)"))
    pay_method = models.CharField(_("支付方式"), max_length=8, choices=PayMethod.choices)
    batch = batch_field()

    class Meta:
        verbose_name = pgettext_lazy("singular", "纸质票据")
        verbose_name_plural = pgettext_lazy("plural", "纸质票据")
        constraints = [
            models.UniqueConstraint(fields=["ticket_no", "province"], name="paper_ticket_no_province_uniq"),
            models.CheckConstraint(name="paper_ticket_amount_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(name="paper_ticket_pay_method_valid", condition=Q(pay_method__in=PayMethod.values)),
        ]

    def __str__(self) -> str:
        return self.ticket_no


class TaxiRide(models.Model):
    """出租车: a taxi ride, invoiced by its taxi company."""

    id = models.BigAutoField(primary_key=True)
    ride_id = models.CharField(_("行程号"), max_length=64)
    service_date = models.DateField(_("业务日期"))
    company = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+", verbose_name=_("出租车公司"))
    province = models.CharField(_("省份"), max_length=2)
    taxi_plate = models.CharField(_("出租车车牌"), max_length=10, validators=[plate_validator])
    start_time = models.DateTimeField(_("上车时间"))
    end_time = models.DateTimeField(_("下车时间"))
    distance_m = models.PositiveIntegerField(_("里程(米)"))
    amount = models.BigIntegerField(_("金额(分)"))
    batch = batch_field()

    class Meta:
        verbose_name = pgettext_lazy("singular", "出租车行程")
        verbose_name_plural = pgettext_lazy("plural", "出租车行程")
        constraints = [
            models.UniqueConstraint(fields=["ride_id", "province"], name="taxi_ride_id_province_uniq"),
            models.CheckConstraint(name="taxi_ride_amount_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(name="taxi_ride_end_after_start", condition=Q(end_time__gte=F("start_time"))),
        ]

    def __str__(self) -> str:
        return self.ride_id


class UploadKind(models.TextChoices):
    TOLL_UNITS = "toll_units", _("收费单元")
    SEGMENTS = "segments", _("通行拆分明细")
    TOPUPS = "topups", _("充值")
    AUDIT_CHARGES = "audit_charges", _("稽核补费")
    PAPER_TICKETS = "paper_tickets", _("纸改电")
    TAXI_RIDES = "taxi_rides", _("出租车")


class UploadStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("处理中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")
    CANCELLED = "cancelled", _("已取消")
    REFUSED = "refused", _("已拒收")


class UploadMode(models.TextChoices):
    APPEND = "append", _("新增")
    CORRECT = "correct", _("更正")  # a row whose key is stored with other values replaces it (not yet invoiced)


def upload_path(batch: UploadBatch, filename: str) -> str:
    return f"uploads/{batch.province}/{timezone.now():%Y/%m}/{batch.sha256[:16]}-{filename}"


class UploadBatch(models.Model):
    """One uploaded file and its processing: counts, progress, the original file, the error file."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(_("数据类型"), max_length=16, choices=UploadKind.choices)
    province = models.CharField(_("省份"), max_length=2, choices=Province.choices)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("上传人")
    )
    file = models.FileField(_("原始文件"), upload_to=upload_path, max_length=300)
    file_name = models.CharField(_("文件名"), max_length=255)
    file_size = models.BigIntegerField(_("文件大小"))
    sha256 = models.CharField(max_length=64)
    encoding = models.CharField(_("编码"), max_length=16, blank=True)
    status = models.CharField(_("状态"), max_length=10, choices=UploadStatus.choices, default=UploadStatus.QUEUED)
    message = models.TextField(_("说明"), blank=True)
    rows_total = models.BigIntegerField(_("总行数"), default=0)
    rows_done = models.BigIntegerField(_("已处理"), default=0)
    rows_accepted = models.BigIntegerField(_("已接收"), default=0)
    rows_duplicate = models.BigIntegerField(_("重复"), default=0)
    rows_rejected = models.BigIntegerField(_("已拒绝"), default=0)
    # of the rejected rows, those whose key was taken with other values (tolling.importing.conflicts)
    rows_conflict = models.BigIntegerField(_("冲突"), default=0)
    mode = models.CharField(_("上传方式"), max_length=8, choices=UploadMode.choices, default=UploadMode.APPEND)
    rows_corrected = models.BigIntegerField(_("已更正"), default=0)  # mode=correct: stored rows replaced
    error_file = models.FileField(_("错误文件"), max_length=300, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # set by the worker after every committed chunk; a running batch whose heartbeat is stale is taken over
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("上传时间"), default=timezone.now)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = pgettext_lazy("singular", "上传批次")
        verbose_name_plural = pgettext_lazy("plural", "上传批次")
        constraints = [
            models.CheckConstraint(name="upload_kind_valid", condition=Q(kind__in=UploadKind.values)),
            models.CheckConstraint(name="upload_status_valid", condition=Q(status__in=UploadStatus.values)),
            models.CheckConstraint(name="upload_mode_valid", condition=Q(mode__in=UploadMode.values)),
            models.CheckConstraint(
                name="upload_counts_non_negative",
                condition=Q(
                    rows_total__gte=0,
                    rows_done__gte=0,
                    rows_accepted__gte=0,
                    rows_duplicate__gte=0,
                    rows_rejected__gte=0,
                ),
            ),
        ]
        indexes = [
            # the province's batch history, newest first, filtered by status/kind
            models.Index(fields=["province", "-created_at"], name="upload_province_created_idx"),
            # "same file again" detection
            models.Index(fields=["province", "kind", "sha256"], name="upload_same_file_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} {self.file_name}"

    @property
    def duration(self) -> timedelta | None:
        """Processing time so far (running) or in all (finished)."""
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at


class Correction(models.Model):
    """A stored row replaced by a ``mode=correct`` upload: the item, and the row before and after (append-only)."""

    id = models.BigAutoField(primary_key=True)
    batch = models.ForeignKey(UploadBatch, on_delete=models.PROTECT, related_name="corrections")
    item_kind = models.CharField(_("明细类型"), max_length=8)  # invoicing's ItemKind: segment, audit, paper
    item_id = models.BigIntegerField()
    line_no = models.PositiveIntegerField(_("行号"))
    before = models.JSONField()
    after = models.JSONField()
    corrected_at = models.DateTimeField(_("更正时间"), default=timezone.now)

    class Meta:
        verbose_name = pgettext_lazy("singular", "更正记录")
        verbose_name_plural = pgettext_lazy("plural", "更正记录")
        indexes = [models.Index(fields=["item_kind", "item_id"], name="correction_item_idx")]  # an item's history

    def __str__(self) -> str:
        return f"{self.item_kind}:{self.item_id} ← #{self.batch_id}:{self.line_no}"


class RejectedRow(models.Model):
    """A rejected upload row: its original cells and every reason, for the error file."""

    id = models.BigAutoField(primary_key=True)
    batch = models.ForeignKey(
        UploadBatch, on_delete=models.CASCADE, related_name="rejected_rows", verbose_name=_("上传批次")
    )
    line_no = models.PositiveIntegerField(_("行号"))
    cells = models.JSONField(_("原始内容"))
    reasons = models.JSONField(_("错误原因"))
    codes = models.JSONField(_("错误代码"), default=list)  # one per reason: card_no.length, row.conflict…

    class Meta:
        verbose_name = pgettext_lazy("singular", "拒绝行")
        verbose_name_plural = pgettext_lazy("plural", "拒绝行")
        constraints = [models.UniqueConstraint(fields=["batch", "line_no"], name="rejected_row_batch_line_uniq")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.line_no}"
