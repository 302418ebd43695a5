"""Support work: tickets (工单) with notes and linked records, saved list filters, PII reveals, and the requests
behind support actions (one row per idempotency key: a double submit finds the first one's result)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from invoicing.models import Customer
from piaogen.identifiers import Province


class TicketCategory(models.TextChoices):
    """What customers call about (domain.md §7)."""

    TRIP_NOT_FOUND = "trip_not_found", _("找不到通行记录")
    SEVERAL_INVOICES = "several_invoices", _("一次通行多张发票")
    WRONG_TITLE = "wrong_title", _("抬头错误")
    WRONG_VEHICLE = "wrong_vehicle", _("车牌或车型错误")
    WRONG_KIND = "wrong_kind", _("充值/消费开票选择错误")
    ALREADY_INVOICED = "already_invoiced", _("已开票/重复开票")
    NOT_RECEIVED = "not_received", _("未收到发票")
    CARD_BINDING = "card_binding", _("绑卡/换卡")
    AMOUNT_DISPUTE = "amount_dispute", _("金额争议")
    AUDIT_CHARGE = "audit_charge", _("稽核补费")
    OTHER = "other", _("其他")


class TicketStatus(models.TextChoices):
    OPEN = "open", _("待处理")
    IN_PROGRESS = "in_progress", _("处理中")
    WAITING = "waiting", _("等待客户")
    RESOLVED = "resolved", _("已解决")
    CLOSED = "closed", _("已关闭")


class TicketQuerySet(models.QuerySet["Ticket"]):
    def open(self) -> TicketQuerySet:
        return self.exclude(status__in=[TicketStatus.RESOLVED, TicketStatus.CLOSED])

    def overdue(self) -> TicketQuerySet:
        return self.open().filter(due_at__lt=timezone.now())


class Ticket(models.Model):
    id = models.BigAutoField(primary_key=True)
    category = models.CharField(_("类别"), max_length=20, choices=TicketCategory.choices)
    status = models.CharField(_("状态"), max_length=12, choices=TicketStatus.choices, default=TicketStatus.OPEN)
    subject = models.CharField(_("主题"), max_length=200)
    description = models.TextField(_("描述"), blank=True)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="tickets", verbose_name=_("客户")
    )
    province = models.CharField(_("省份"), max_length=2, choices=Province.choices, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        verbose_name=_("处理人"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("创建人")
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    due_at = models.DateTimeField(_("应完成时间"))
    closed_at = models.DateTimeField(_("关闭时间"), null=True, blank=True)

    objects = TicketQuerySet.as_manager()

    class Meta:
        verbose_name = pgettext_lazy("singular", "工单")
        verbose_name_plural = pgettext_lazy("plural", "工单")
        constraints = [
            models.CheckConstraint(name="ticket_category_valid", condition=Q(category__in=TicketCategory.values)),
            models.CheckConstraint(name="ticket_status_valid", condition=Q(status__in=TicketStatus.values)),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="ticket_status_due_idx"),  # queue and overdue list
            models.Index(fields=["assignee", "status"], name="ticket_assignee_idx"),  # "my tickets"
            models.Index(fields=["customer", "-created_at"], name="ticket_customer_idx"),  # customer page
            models.Index(fields=["created_at"], name="ticket_created_idx"),  # the agent workspace: opened today
            models.Index(  # the agent workspace: closed today
                fields=["closed_at"], name="ticket_closed_idx", condition=Q(closed_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED)

    @property
    def is_overdue(self) -> bool:
        """Still open after its SLA due time (highlighted in lists)."""
        return self.is_open and self.due_at < timezone.now()


class TicketNote(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="notes", verbose_name=_("工单"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("作者")
    )
    body = models.TextField(_("内容"))
    created_at = models.DateTimeField(_("时间"), default=timezone.now)

    class Meta:
        verbose_name = pgettext_lazy("singular", "工单备注")
        verbose_name_plural = pgettext_lazy("plural", "工单备注")

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.body[:30]}"


class TicketLink(models.Model):
    """A record a ticket is about: a document, trip, card, batch… named by type and business key."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links", verbose_name=_("工单"))
    object_type = models.CharField(_("对象类型"), max_length=32)
    object_key = models.CharField(_("对象标识"), max_length=64)

    class Meta:
        verbose_name = pgettext_lazy("singular", "工单关联")
        verbose_name_plural = pgettext_lazy("plural", "工单关联")
        constraints = [
            models.UniqueConstraint(fields=["ticket", "object_type", "object_key"], name="ticket_link_uniq"),
        ]
        indexes = [models.Index(fields=["object_type", "object_key"], name="ticket_link_object_idx")]

    def __str__(self) -> str:
        return f"{self.object_type}:{self.object_key}"


class SavedFilter(models.Model):
    """A named list filter (the query string), personal or shared with the team."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_filters", verbose_name=_("所有者")
    )
    page = models.CharField(_("页面"), max_length=32)
    name = models.CharField(_("名称"), max_length=100)
    query = models.CharField(_("筛选条件"), max_length=1000)
    shared = models.BooleanField(_("共享"), default=False)

    class Meta:
        verbose_name = pgettext_lazy("singular", "保存的筛选")
        verbose_name_plural = pgettext_lazy("plural", "保存的筛选")
        constraints = [models.UniqueConstraint(fields=["owner", "page", "name"], name="saved_filter_uniq")]

    def __str__(self) -> str:
        return self.name


class PiiReveal(models.Model):
    """An agent's time-limited permission to see one customer's phone and ID numbers unmasked (audited)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("用户")
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", verbose_name=_("客户"))
    reason = models.CharField(_("原因"), max_length=500)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("到期时间"))

    class Meta:
        verbose_name = pgettext_lazy("singular", "敏感信息查看")
        verbose_name_plural = pgettext_lazy("plural", "敏感信息查看")
        indexes = [models.Index(fields=["user", "customer", "expires_at"], name="pii_reveal_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.customer_id}"


class ActionKind(models.TextChoices):
    """The support actions (support.actions), each run through the invoicing services."""

    RESEND = "resend", _("重发票据")
    REQUEST_INVOICES = "request_invoices", _("申请开票")
    REISSUE = "reissue", _("换票")
    REVERSE = "reverse", _("红冲")
    SUMMARY_SHEET = "summary_sheet", _("生成汇总单")
    CARD_BIND = "card_bind", _("绑卡")
    CARD_UNBIND = "card_unbind", _("解绑")
    TITLE_ADD = "title_add", _("新增抬头版本")
    CLAIM = "claim", _("代客开票")  # a paper ticket, taxi ride or back-charge claimed for a caller
    PREPAID_CHOICE = "prepaid_choice", _("变更储值卡开票方式")
    BINDING_BACKDATE = "binding_backdate", _("提前绑卡追溯起点")
    TITLE_BACKDATE = "title_backdate", _("提前抬头生效时间")


class ActionRequest(models.Model):
    """One confirmed support action, keyed by the idempotency key its form carried.

    The row is inserted in the same transaction as the action: a second submit of the same key waits on the
    unique index until the first commits, then finds this row and shows its result instead of acting again.
    """

    id = models.BigAutoField(primary_key=True)
    key = models.UUIDField(_("幂等键"), unique=True)  # unique index: the double-submit guard
    kind = models.CharField(_("操作"), max_length=20, choices=ActionKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("操作人")
    )
    object_type = models.CharField(_("对象类型"), max_length=32)
    object_id = models.CharField(_("对象标识"), max_length=64)
    province = models.CharField(_("省份"), max_length=2, blank=True)
    reason = models.TextField(_("原因"))
    ticket = models.ForeignKey(
        Ticket, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("工单")
    )
    result = models.JSONField(_("结果"), default=dict, blank=True)
    created_at = models.DateTimeField(_("时间"), default=timezone.now)

    class Meta:
        verbose_name = pgettext_lazy("singular", "支持操作")
        verbose_name_plural = pgettext_lazy("plural", "支持操作")
        constraints = [
            models.CheckConstraint(name="action_request_kind_valid", condition=Q(kind__in=ActionKind.values)),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="action_request_created_idx"),  # the workspace: actions today
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_type}:{self.object_id}"


class SearchEvent(models.Model):
    """One search in the console's box (support/search.py `search_event_record`), for the support workload report:
    what the text was recognised as, who searched, when, in which province scope, how many records were found.
    Never the text itself (plates, phones, ID numbers are personal data)."""

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(_("搜索时间"), default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("搜索人")
    )
    kind = models.CharField(_("搜索类型"), max_length=20)  # support.recognise.Kind, or "unrecognised"
    province = models.CharField(_("省份"), max_length=2, blank=True)  # the searcher's scope; blank: national
    results = models.IntegerField(_("结果数"), default=0)
    opened = models.BooleanField(_("直接打开记录"), default=False)

    class Meta:
        verbose_name = pgettext_lazy("singular", "搜索记录")
        verbose_name_plural = pgettext_lazy("plural", "搜索记录")
        indexes = [
            # the support report: a period's searches by kind (reports/catalog), its drill-down list
            models.Index(fields=["at"], name="search_event_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.at:%Y-%m-%d %H:%M}"


# the query statistics' rollups (support/stats_rollup.py), registered with the app's models
from support.stats_rollup import (  # noqa: E402, F401
    DocumentStatsRollup,
    DocumentStatsRollupWatermark,
    SegmentRollup,
    SegmentRollupWatermark,
)
