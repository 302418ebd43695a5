"""The platform side: customer accounts (票根 users), card bindings, versioned buyer titles, and the documents
issued for toll data — 数电 invoices, fiscal e-receipts, red-letter reversals — with their lines, the items each
line covers, summary sheets, number series, events, deliveries and issuing runs.

Invariants in the database: one live document item per invoiced thing (partial unique), net + tax = gross,
red-letter amounts negative and the rest non-negative, document numbers unique per (code, number).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from piaogen.identifiers import (
    Province,
    card_number_validator,
    id_number_validator,
    phone_validator,
    plate_validator,
    taxpayer_id_validator,
    validate_id_document,
)
from piaogen.privacy import Pii, shown
from tolling.models import Operator

# the cheap part of two identifier checks, repeated in the database (the check digits stay in the validators)
PHONE_SQL = r"^1[3-9][0-9]{9}$"
CARD_NO_SQL = r"^[0-9]{20}$"


class CustomerKind(models.TextChoices):
    PERSON = "person", _("个人")
    COMPANY = "company", _("单位")


class InvoiceCycle(models.TextChoices):
    """How often a customer's trips are invoiced: per trip (the daily run, the default) or merged monthly."""

    PER_TRIP = "daily", _("按次开票")
    MONTHLY = "monthly", _("月度合并")


class Customer(models.Model):
    """A 票根 account: a person or company that binds cards and receives invoices."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(_("类型"), max_length=8, choices=CustomerKind.choices, default=CustomerKind.PERSON)
    name = models.CharField(_("姓名/名称"), max_length=200)
    phone = models.CharField(_("手机号"), max_length=20, unique=True, validators=[phone_validator])
    email = models.EmailField(_("邮箱"), blank=True)
    id_type = models.CharField(_("证件类型"), max_length=16, blank=True)
    id_no = models.CharField(_("证件号码"), max_length=32, blank=True, validators=[id_number_validator])
    province = models.CharField(_("所属省份"), max_length=2, choices=Province.choices, blank=True)
    # trips of a monthly customer are left out of the daily run and merged once a month (domain.md §4.7)
    invoice_cycle = models.CharField(
        _("开票周期"),
        max_length=8,
        choices=InvoiceCycle.choices,
        default=InvoiceCycle.PER_TRIP,
        db_default=InvoiceCycle.PER_TRIP,  # bulk loads (COPY) that leave the column out
    )
    created_at = models.DateTimeField(_("注册时间"), default=timezone.now)

    class Meta:
        verbose_name = pgettext_lazy("singular", "客户")
        verbose_name_plural = pgettext_lazy("plural", "客户")
        constraints = [
            models.CheckConstraint(name="customer_kind_valid", condition=Q(kind__in=CustomerKind.values)),
            models.CheckConstraint(
                name="customer_invoice_cycle_valid", condition=Q(invoice_cycle__in=InvoiceCycle.values)
            ),
            models.CheckConstraint(name="customer_phone_format", condition=Q(phone__regex=PHONE_SQL)),
        ]
        indexes = [
            # fuzzy name search (pg_trgm; the extension comes with piaogen's first migration)
            GinIndex(fields=["name"], name="customer_name_trgm", opclasses=["gin_trgm_ops"]),
            models.Index(fields=["id_no"], name="customer_id_no_idx", condition=~Q(id_no="")),  # search by ID no.
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The ID number checked as its type asks (a 身份证 must pass GB 11643, a USCC its check character)."""
        if self.id_no:
            try:
                validate_id_document(self.id_type, self.id_no)
            except ValidationError as error:
                raise ValidationError({"id_no": error.messages}) from error


class CardBindingQuerySet(models.QuerySet["CardBinding"]):
    def covering(self, card_no: str, at: dt.datetime) -> CardBindingQuerySet:
        """The binding of ``card_no`` that covered the time ``at`` (at most one; see ``CardBinding``)."""
        return self.filter(
            Q(covers_from__lte=at) | Q(covers_from__isnull=True, bound_at__lte=at),
            Q(unbound_at__isnull=True) | Q(unbound_at__gt=at),
            card_no=card_no,
        )


class CardBinding(models.Model):
    """A card bound to an account for a period. At most one active binding per card.

    Binding reaches back (domain.md §4.11, assumed): the binding covers the card's transactions from
    ``covers_from`` — when it was made, the start of the request window (``PIAOGEN["REQUEST_WINDOW_DAYS"]``) or the
    end of the card's previous binding, whichever is later — so the card's uninvoiced trips and top-ups of that
    time become the customer's. NULL (bindings made before this rule): from ``bound_at``.
    """

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="bindings", verbose_name=_("客户"))
    card_no = models.CharField(_("ETC卡号"), max_length=20, validators=[card_number_validator])
    bound_at = models.DateTimeField(_("绑定时间"), default=timezone.now)
    unbound_at = models.DateTimeField(_("解绑时间"), null=True, blank=True)
    covers_from = models.DateTimeField(_("追溯起点"), null=True, blank=True)

    objects = CardBindingQuerySet.as_manager()

    class Meta:
        verbose_name = pgettext_lazy("singular", "绑卡")
        verbose_name_plural = pgettext_lazy("plural", "绑卡")
        constraints = [
            models.UniqueConstraint(
                fields=["card_no"], condition=Q(unbound_at__isnull=True), name="card_binding_one_active_per_card"
            ),
            models.CheckConstraint(
                name="card_binding_period_valid",
                condition=Q(unbound_at__isnull=True) | Q(unbound_at__gte=F("bound_at")),
            ),
            models.CheckConstraint(name="card_binding_card_no_format", condition=Q(card_no__regex=CARD_NO_SQL)),
            models.CheckConstraint(
                name="card_binding_covers_from_not_after_binding",
                condition=Q(covers_from__isnull=True) | Q(covers_from__lte=F("bound_at")),
            ),
        ]
        indexes = [models.Index(fields=["card_no", "bound_at"], name="card_binding_card_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} ⇄ {self.card_no}"

    @property
    def covers_since(self) -> dt.datetime:
        """From when the binding covers the card's transactions (``covers_from``, else ``bound_at``)."""
        return self.covers_from or self.bound_at

    @property
    def reaches_back(self) -> bool:
        """Whether the binding brought in transactions from before it was made."""
        return self.covers_since < self.bound_at


class PrepaidChoice(models.TextChoices):
    """How a prepaid card's money is invoiced (domain.md §4.3, §4.12): as each top-up, or as the trips it pays."""

    PER_TRIP = "trips", _("按通行开票")
    AT_TOPUP = "topup", _("充值时开票")


class CardPrepaidChoice(models.Model):
    """A version of a prepaid card's invoicing choice, in force from ``valid_from`` (domain.md §4.12, assumed).

    Append-only. The version in force at a top-up's time decides whether the daily run issues that top-up
    (``AT_TOPUP``); without one the card is invoiced per trip, and its top-ups only on request. A change applies to
    later top-ups: money already invoiced either way stays as it is (FIFO, §4.3).
    """

    id = models.BigAutoField(primary_key=True)
    card_no = models.CharField(_("ETC卡号"), max_length=20, validators=[card_number_validator])
    choice = models.CharField(_("开票方式"), max_length=8, choices=PrepaidChoice.choices)
    valid_from = models.DateTimeField(_("生效时间"), default=timezone.now)
    customer = models.ForeignKey(  # the holder's account that chose (null: recorded without an account)
        Customer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,  # no query reads choices by customer; PROTECT checks are rare (customers are not deleted)
        related_name="+",
        verbose_name=_("客户"),
    )
    reason = models.CharField(_("原因"), max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("操作人"),
    )

    class Meta:
        verbose_name = pgettext_lazy("singular", "储值卡开票方式")
        verbose_name_plural = pgettext_lazy("plural", "储值卡开票方式")
        constraints = [
            # also the index of "the version in force for a card at a time" (card page, daily run's top-ups)
            models.UniqueConstraint(fields=["card_no", "valid_from"], name="card_prepaid_choice_version_uniq"),
            models.CheckConstraint(name="card_prepaid_choice_valid", condition=Q(choice__in=PrepaidChoice.values)),
            models.CheckConstraint(name="card_prepaid_choice_card_no_format", condition=Q(card_no__regex=CARD_NO_SQL)),
        ]

    def __str__(self) -> str:
        return f"{self.card_no} {self.choice} @ {self.valid_from}"


class TitleKind(models.TextChoices):
    PERSON = "person", _("个人")
    COMPANY = "company", _("单位")


class BuyerTitle(models.Model):
    """A version of a buyer title (抬头). Versions are append-only; the one in force at a transaction's time is
    the latest with valid_from ≤ that time, for the card when one is named, else the account's default."""

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="titles", verbose_name=_("客户"))
    card_no = models.CharField(  # blank: the account's default
        _("适用卡号"), max_length=20, blank=True, validators=[card_number_validator]
    )
    kind = models.CharField(_("抬头类型"), max_length=8, choices=TitleKind.choices)
    name = models.CharField(_("抬头名称"), max_length=200)
    tax_id = models.CharField(_("纳税人识别号"), max_length=20, blank=True, validators=[taxpayer_id_validator])
    address_phone = models.CharField(_("地址电话"), max_length=200, blank=True)
    bank_account = models.CharField(_("开户行及账号"), max_length=200, blank=True)
    email = models.EmailField(_("收票邮箱"), blank=True)
    valid_from = models.DateTimeField(_("生效时间"))
    # a title typed for one reissued document (换票) that the customer did not make their default: never in force
    # (the buyer lookup skips it), so later trips and top-ups keep the title they had (ADR 0008)
    one_document = models.BooleanField(_("仅用于一张换票"), default=False, db_default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("创建人"),
    )

    class Meta:
        verbose_name = pgettext_lazy("singular", "发票抬头")
        verbose_name_plural = pgettext_lazy("plural", "发票抬头")
        constraints = [
            models.UniqueConstraint(fields=["customer", "card_no", "valid_from"], name="buyer_title_version_uniq"),
            models.CheckConstraint(name="buyer_title_kind_valid", condition=Q(kind__in=TitleKind.values)),
            models.CheckConstraint(name="buyer_title_company_has_tax_id", condition=Q(kind="person") | ~Q(tax_id="")),
            models.CheckConstraint(
                name="buyer_title_card_no_format", condition=Q(card_no="") | Q(card_no__regex=CARD_NO_SQL)
            ),
        ]
        indexes = [
            models.Index(fields=["tax_id"], name="buyer_title_tax_id_idx", condition=~Q(tax_id="")),  # taxpayer id
            GinIndex(fields=["name"], name="buyer_title_name_trgm", opclasses=["gin_trgm_ops"]),  # company names
        ]

    def __str__(self) -> str:
        return self.name


class BusinessLine(models.TextChoices):
    ETC_TRIP = "etc_trip", _("通行消费")
    ETC_TOPUP = "etc_topup", _("充值")
    AUDIT = "audit", _("稽核补费")
    PAPER = "paper", _("纸改电")
    TAXI = "taxi", _("出租车")


class DocumentKind(models.TextChoices):
    DIGITAL_INVOICE = "invoice", _("数电发票")
    LEGACY_INVOICE = "legacy", _("增值税电子普通发票")
    FISCAL_RECEIPT = "receipt", _("财政电子票据")


class DocumentStatus(models.TextChoices):
    ISSUED = "issued", _("已开具")
    REVERSED = "reversed", _("已红冲")
    RED = "red", _("红字")  # the negative document itself


class DocumentQuerySet(models.QuerySet["Document"]):
    def live(self) -> DocumentQuerySet:
        return self.filter(status=DocumentStatus.ISSUED)

    def for_province(self, province: str | None) -> DocumentQuerySet:
        return self if province is None else self.filter(province=province)


class Document(models.Model):
    """An issued document: one seller + one buyer title version + one rate + one kind (domain.md §4.7).

    Seller and buyer are snapshotted as printed. A red-letter reversal is a Document with status `red`,
    negative amounts and `original` set; the original becomes `reversed`; a reissue points at what it replaces.
    """

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(_("票据种类"), max_length=8, choices=DocumentKind.choices)
    business_line = models.CharField(_("业务线"), max_length=10, choices=BusinessLine.choices)
    status = models.CharField(_("状态"), max_length=8, choices=DocumentStatus.choices, default=DocumentStatus.ISSUED)
    code = models.CharField(_("票据代码"), max_length=12, blank=True)  # legacy and fiscal documents only
    number = models.CharField(_("票据号码"), max_length=20)
    issued_at = models.DateTimeField(_("开票时间"), default=timezone.now)
    service_date = models.DateField(_("开票日期"))  # Beijing date of issued_at
    province = models.CharField(_("省份"), max_length=2, choices=Province.choices)  # the seller's
    seller = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+", verbose_name=_("销售方"))
    seller_name = models.CharField(_("销售方名称"), max_length=200)
    seller_tax_id = models.CharField(_("销售方纳税人识别号"), max_length=20, validators=[taxpayer_id_validator])
    # Indexes: every index is maintained on each of a daily run's inserts, so a reference gets one only where a
    # query reads by it. customer: document_customer_idx leads with it; title: no query reads documents by title
    # (titles are append-only, never deleted); original/replaces: partial (most documents have neither).
    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="documents",
        verbose_name=_("客户"),
    )
    title = models.ForeignKey(
        BuyerTitle,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("购买方抬头"),
    )
    buyer_name = models.CharField(_("购买方名称"), max_length=200)
    buyer_tax_id = models.CharField(
        _("购买方纳税人识别号"), max_length=20, blank=True, validators=[taxpayer_id_validator]
    )
    card_no = models.CharField(_("ETC卡号"), max_length=20, blank=True, validators=[card_number_validator])
    # null: non-taxable (不征税) or a fiscal receipt
    tax_rate = models.DecimalField(_("税率"), max_digits=4, decimal_places=3, null=True, blank=True)
    amount_net = models.BigIntegerField(_("金额(分)"))
    amount_tax = models.BigIntegerField(_("税额(分)"))
    amount_gross = models.BigIntegerField(_("价税合计(分)"))
    period_start = models.DateField(_("通行日期起"), null=True, blank=True)
    period_end = models.DateField(_("通行日期止"), null=True, blank=True)
    is_merged = models.BooleanField(_("月度合并"), default=False)
    # fact → fact references keep the ORM relation but no database constraint (scale-notes rule 3, ADR 0003
    # addendum): the red document and the reissue are written in the same transaction as what they point at
    original = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_constraint=False,
        db_index=False,  # document_original_idx
        related_name="reversals",
        verbose_name=_("原票据"),
    )
    replaces = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_constraint=False,
        db_index=False,  # document_replaces_idx
        related_name="reissues",
        verbose_name=_("被替换票据"),
    )
    remarks = models.CharField(_("备注"), max_length=500, blank=True)
    pdf = models.FileField(_("PDF"), max_length=300, blank=True)
    run = models.ForeignKey(
        "IssueRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,  # no query reads documents by run (the run counts them); runs are never deleted
        related_name="documents",
        verbose_name=_("开票任务"),
    )

    objects = DocumentQuerySet.as_manager()

    class Meta:
        verbose_name = pgettext_lazy("singular", "票据")
        verbose_name_plural = pgettext_lazy("plural", "票据")
        constraints = [
            models.UniqueConstraint(fields=["code", "number"], name="document_code_number_uniq"),
            models.CheckConstraint(
                name="document_net_plus_tax_is_gross", condition=Q(amount_gross=F("amount_net") + F("amount_tax"))
            ),
            models.CheckConstraint(
                name="document_sign_matches_status",
                condition=(
                    Q(status="red", amount_gross__lte=0, original__isnull=False)
                    | (~Q(status="red") & Q(amount_gross__gte=0, amount_net__gte=0, amount_tax__gte=0))
                ),
            ),
            models.CheckConstraint(name="document_kind_valid", condition=Q(kind__in=DocumentKind.values)),
            models.CheckConstraint(name="document_status_valid", condition=Q(status__in=DocumentStatus.values)),
            models.CheckConstraint(
                name="document_business_line_valid", condition=Q(business_line__in=BusinessLine.values)
            ),
            models.CheckConstraint(
                name="document_receipt_has_code", condition=~Q(kind__in=["receipt", "legacy"]) | ~Q(code="")
            ),
            models.CheckConstraint(
                name="document_period_ordered",
                condition=Q(period_start__isnull=True) | Q(period_end__gte=F("period_start")),
            ),
        ]
        indexes = [
            models.Index(fields=["number"], name="document_number_idx"),  # search by number alone
            models.Index(fields=["customer", "-issued_at"], name="document_customer_idx"),  # customer page
            models.Index(fields=["card_no", "service_date"], name="document_card_date_idx"),  # card page
            models.Index(fields=["province", "service_date"], name="document_province_date_idx"),  # lists, rollups
            models.Index(fields=["buyer_tax_id"], name="document_buyer_tax_idx", condition=~Q(buyer_tax_id="")),
            # the red document of an original (support: 红冲 detail), the reissue of a replaced one
            models.Index(fields=["original"], name="document_original_idx", condition=Q(original__isnull=False)),
            models.Index(fields=["replaces"], name="document_replaces_idx", condition=Q(replaces__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.code}{self.number}" if self.code else self.number

    @property
    def undelivered_reason(self) -> str:
        """Why it has no delivery (``invoicing.delivery.undelivered_reason``), for the pages."""
        from invoicing.delivery import undelivered_reason  # the delivery service reads models

        return undelivered_reason(self)


class DocumentLine(models.Model):
    """A printed line: items aggregated by plate and date range, with the tax split done on the line.

    No database foreign key to the document (a fact → fact reference, scale-notes rule 3): the writers
    (``invoicing.issuing.grouping``'s statements, ``invoicing.issuing.writing.documents_write``) insert a document,
    its lines and its items in one transaction, and
    ``tests/invoicing/test_issuing_consistency.py`` checks that every line and item points at an existing document.
    """

    id = models.BigAutoField(primary_key=True)
    document = models.ForeignKey(  # indexed by document_line_no_uniq (document, line_no)
        Document,
        on_delete=models.PROTECT,
        db_constraint=False,
        db_index=False,
        related_name="lines",
        verbose_name=_("票据"),
    )
    line_no = models.PositiveSmallIntegerField(_("行号"))
    item_name = models.CharField(_("项目名称"), max_length=100)  # *经营租赁*通行费, *运输服务*客运服务费 …
    plate = models.CharField(_("车牌号"), max_length=10, blank=True, validators=[plate_validator])
    vehicle_type = models.CharField(_("类型"), max_length=16, blank=True)
    date_from = models.DateField(_("通行日期起"), null=True, blank=True)
    date_to = models.DateField(_("通行日期止"), null=True, blank=True)
    tax_rate = models.DecimalField(_("税率"), max_digits=4, decimal_places=3, null=True, blank=True)
    amount_net = models.BigIntegerField(_("金额(分)"))
    amount_tax = models.BigIntegerField(_("税额(分)"))
    amount_gross = models.BigIntegerField(_("价税合计(分)"))
    # the document's, carried so lines partition and shard with their document (scale-notes rule 1)
    service_date = models.DateField(_("业务日期"), null=True, blank=True)
    card_no = models.CharField(
        _("ETC卡号"), max_length=20, blank=True, default="", db_default="", validators=[card_number_validator]
    )

    class Meta:
        verbose_name = pgettext_lazy("singular", "票据行")
        verbose_name_plural = pgettext_lazy("plural", "票据行")
        constraints = [
            models.UniqueConstraint(fields=["document", "line_no"], name="document_line_no_uniq"),
            models.CheckConstraint(
                name="document_line_net_plus_tax_is_gross", condition=Q(amount_gross=F("amount_net") + F("amount_tax"))
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}/{self.line_no}"


class ItemKind(models.TextChoices):
    SEGMENT = "segment", pgettext_lazy("singular", "通行拆分明细")
    TOPUP = "topup", pgettext_lazy("singular", "充值")
    AUDIT_CHARGE = "audit", pgettext_lazy("singular", "稽核补费")
    PAPER_TICKET = "paper", pgettext_lazy("singular", "纸质票据")
    TAXI_RIDE = "taxi", pgettext_lazy("singular", "出租车行程")


class DocumentItem(models.Model):
    """What a document line covers: one segment, top-up, back-charge, paper ticket or taxi ride.

    `live` is true while the document stands; a reversal clears it, which releases the item for reissue.
    The partial unique index is the rule "each item is in at most one live document line".
    Items reference facts by (kind, id) without a foreign key (facts are partitionable; ADR 0001), and their
    document and line without a database constraint either (written in the same transaction; see DocumentLine).
    """

    id = models.BigAutoField(primary_key=True)
    document = models.ForeignKey(
        Document, on_delete=models.PROTECT, db_constraint=False, related_name="items", verbose_name=_("票据")
    )
    line = models.ForeignKey(  # no index: a line's items are read with their document's (document index)
        DocumentLine,
        on_delete=models.PROTECT,
        db_constraint=False,
        db_index=False,
        related_name="items",
        verbose_name=_("票据行"),
    )
    item_kind = models.CharField(_("明细类型"), max_length=8, choices=ItemKind.choices)
    item_id = models.BigIntegerField(_("明细标识"))
    service_date = models.DateField(_("业务日期"))
    card_no = models.CharField(_("ETC卡号"), max_length=20, blank=True, validators=[card_number_validator])
    amount = models.BigIntegerField(_("金额(分)"))
    live = models.BooleanField(default=True)

    class Meta:
        verbose_name = pgettext_lazy("singular", "票据明细")
        verbose_name_plural = pgettext_lazy("plural", "票据明细")
        constraints = [
            models.UniqueConstraint(
                fields=["item_kind", "item_id"], condition=Q(live=True), name="document_item_one_live_per_item"
            ),
            models.CheckConstraint(name="document_item_kind_valid", condition=Q(item_kind__in=ItemKind.values)),
        ]
        indexes = [
            # "which documents ever held this segment" (support: reversed, reissued…)
            models.Index(fields=["item_kind", "item_id"], name="document_item_item_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.item_kind}:{self.item_id} → {self.document_id}"


class SheetStatus(models.TextChoices):
    VALID = "valid", _("有效")
    VOID = "void", _("已作废")


class SummarySheet(models.Model):
    """电子汇总单: binds one or more trips' documents; not an invoice. A change voids it and issues a new one."""

    id = models.BigAutoField(primary_key=True)
    number = models.CharField(_("汇总单号"), max_length=16)
    province = models.CharField(_("发行方省份"), max_length=2, choices=Province.choices)
    status = models.CharField(_("状态"), max_length=8, choices=SheetStatus.choices, default=SheetStatus.VALID)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="sheets", verbose_name=_("客户")
    )
    card_no = models.CharField(_("ETC卡号"), max_length=20, validators=[card_number_validator])
    pass_ids = ArrayField(models.CharField(max_length=40), verbose_name=_("通行标识"))
    documents = models.ManyToManyField(Document, related_name="summary_sheets", blank=True, verbose_name=_("票据"))
    amount_gross = models.BigIntegerField(_("合计(分)"))
    issued_at = models.DateTimeField(_("生成时间"), default=timezone.now)
    service_date = models.DateField(_("业务日期"))
    replaced_by = models.OneToOneField(  # fact → fact: no database constraint (scale-notes rule 3)
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="replaces",
        verbose_name=_("替换为"),
    )
    pdf = models.FileField(_("PDF"), max_length=300, blank=True)

    class Meta:
        verbose_name = pgettext_lazy("singular", "电子汇总单")
        verbose_name_plural = pgettext_lazy("plural", "电子汇总单")
        constraints = [
            models.UniqueConstraint(fields=["number"], name="summary_sheet_number_uniq"),
            models.CheckConstraint(name="summary_sheet_status_valid", condition=Q(status__in=SheetStatus.values)),
            models.CheckConstraint(
                name="summary_sheet_void_when_replaced", condition=Q(replaced_by__isnull=True) | Q(status="void")
            ),
            models.CheckConstraint(name="summary_sheet_amount_non_negative", condition=Q(amount_gross__gte=0)),
        ]
        indexes = [models.Index(fields=["card_no", "service_date"], name="summary_sheet_card_idx")]

    def __str__(self) -> str:
        return self.number


class NumberSeries(models.Model):
    """A gapless number series (e.g. 数电 numbers of one year, province and channel). Taken by a single
    `UPDATE … SET next_value = next_value + n RETURNING`, so concurrent workers never share a number."""

    key = models.CharField(max_length=64, primary_key=True)
    next_value = models.BigIntegerField(default=1)

    class Meta:
        verbose_name = pgettext_lazy("singular", "号段")
        verbose_name_plural = pgettext_lazy("plural", "号段")
        constraints = [models.CheckConstraint(name="number_series_positive", condition=Q(next_value__gte=1))]

    def __str__(self) -> str:
        return f"{self.key}: {self.next_value}"


# What each document event kind reads as on the pages (kinds are open-ended strings: an unknown one shows as is)
EVENT_LABELS = {
    "issued": _("开具"),
    "issued_red": _("开具红字票据"),
    "reversed": _("已红冲"),
    "reissued": _("已换票重开"),
    "pdf_rendered": _("生成 PDF"),
    "sheet_bound": _("并入汇总单"),
    "sheet_voided": _("汇总单作废"),
    "delivery_queued": _("排队投递"),
    "delivered": _("已投递"),
    "delivery_failed": _("投递失败"),
    "sheet_delivery_queued": _("汇总单排队投递"),
    "sheet_delivered": _("汇总单已投递"),
    "sheet_delivery_failed": _("汇总单投递失败"),
}


class DocumentEvent(models.Model):
    """Append-only history of a document: issued, pdf rendered, delivered, reversed, reissued, sheet bound…
    No database constraint on ``document`` (fact → fact; the "issued" event is written with its document)."""

    id = models.BigAutoField(primary_key=True)
    document = models.ForeignKey(  # indexed by document_event_doc_idx (document, at)
        Document,
        on_delete=models.PROTECT,
        db_constraint=False,
        db_index=False,
        related_name="events",
        verbose_name=_("票据"),
    )
    kind = models.CharField(_("事件"), max_length=32)
    at = models.DateTimeField(_("时间"), default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,  # document_event_by_idx (partial: run events have no user)
        related_name="+",
        verbose_name=_("操作人"),
    )
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = pgettext_lazy("singular", "票据事件")
        verbose_name_plural = pgettext_lazy("plural", "票据事件")
        indexes = [
            models.Index(fields=["document", "at"], name="document_event_doc_idx"),  # a document's timeline
            # a user's actions (and the PROTECT check when a user is deleted)
            models.Index(fields=["by"], name="document_event_by_idx", condition=Q(by__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.document_id} {self.kind}"

    @property
    def label(self) -> str:
        return str(EVENT_LABELS.get(self.kind, self.kind))


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("待发送")
    SENT = "sent", _("已发送")
    FAILED = "failed", _("发送失败")


class Delivery(models.Model):
    """Sending a document (or a summary sheet) by e-mail, with attempts and the last error. One per document
    sent: a fact, so its references to documents and sheets have no database constraint (scale-notes rule 3)."""

    id = models.BigAutoField(primary_key=True)
    document = models.ForeignKey(
        Document,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="deliveries",
        verbose_name=_("票据"),
    )
    sheet = models.ForeignKey(
        SummarySheet,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="deliveries",
        verbose_name=_("汇总单"),
    )
    address = models.EmailField(_("邮箱"))
    status = models.CharField(_("状态"), max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    last_error = models.TextField(_("错误"), blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("申请人"),
    )

    class Meta:
        verbose_name = pgettext_lazy("singular", "投递")
        verbose_name_plural = pgettext_lazy("plural", "投递")
        constraints = [
            models.CheckConstraint(name="delivery_status_valid", condition=Q(status__in=DeliveryStatus.values)),
            models.CheckConstraint(
                name="delivery_has_one_target",
                condition=Q(document__isnull=False, sheet__isnull=True) | Q(document__isnull=True, sheet__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{shown(Pii.EMAIL, self.address)} {self.status}"  # shown in admin titles: the address masked


class RunKind(models.TextChoices):
    DAILY = "daily", _("每日开票")
    MONTHLY = "monthly", _("月度合并")
    REQUEST = "request", _("按需开票")


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("进行中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")


class IssueRun(models.Model):
    """A job row for an issuing run (daily, monthly merge, or a single request): claimed, chunked, resumable."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(_("类型"), max_length=8, choices=RunKind.choices)
    status = models.CharField(_("状态"), max_length=8, choices=RunStatus.choices, default=RunStatus.QUEUED)
    business_date = models.DateField(_("业务日期"), null=True, blank=True)
    province = models.CharField(_("省份"), max_length=2, choices=Province.choices, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("申请人"),
    )
    params = models.JSONField(default=dict, blank=True)
    items_total = models.BigIntegerField(default=0)
    items_done = models.BigIntegerField(default=0)
    documents_issued = models.BigIntegerField(default=0)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # refreshed at every chunk; a running run whose heartbeat is older than ISSUE_STALE_SECONDS is taken over
    heartbeat_at = models.DateTimeField(_("心跳时间"), null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = pgettext_lazy("singular", "开票任务")
        verbose_name_plural = pgettext_lazy("plural", "开票任务")
        constraints = [
            models.CheckConstraint(name="issue_run_kind_valid", condition=Q(kind__in=RunKind.values)),
            models.CheckConstraint(name="issue_run_status_valid", condition=Q(status__in=RunStatus.values)),
            # one daily run per (date, province) and one monthly run per (first day of the month, province)
            models.UniqueConstraint(
                fields=["kind", "business_date", "province"],
                condition=Q(kind__in=[RunKind.DAILY, RunKind.MONTHLY]),
                name="issue_run_one_per_period",
            ),
            models.CheckConstraint(
                name="issue_run_periodic_has_date",
                condition=Q(kind=RunKind.REQUEST) | Q(business_date__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.status}"
