"""Pre-aggregated rollups that dashboards read (never the fact tables), their watermarks, and scheduled reports.

Rollups are rebuilt per closed day by Celery beat; the watermark says which days are final, so re-runs skip them
and late data reopens a day (docs/adr/0001-schema.md).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from piaogen.identifiers import Province, province_label


class DocumentRollup(models.Model):
    """Documents issued per day × province × business line × operator × vehicle class × document kind × tax rate."""

    day = models.DateField(_("日期"))
    province = models.CharField(_("省份"), max_length=2)
    business_line = models.CharField(_("业务线"), max_length=10)
    operator_id = models.BigIntegerField(_("销售方"))
    vehicle_class = models.PositiveSmallIntegerField(_("收费车型"), null=True, blank=True)
    document_kind = models.CharField(_("票据种类"), max_length=8)
    tax_rate = models.DecimalField(_("税率"), max_digits=4, decimal_places=3, null=True, blank=True)
    documents = models.BigIntegerField(_("张数"), default=0)  # blue documents (issued, later reversed or not)
    reversals = models.BigIntegerField(_("红字张数"), default=0)  # red-letter documents (negative amounts)
    # signed sums over blue and red documents: what stands issued
    amount_gross = models.BigIntegerField(_("价税合计(分)"), default=0)
    amount_tax = models.BigIntegerField(_("税额(分)"), default=0)

    class Meta:
        verbose_name = pgettext_lazy("singular", "开票汇总")
        verbose_name_plural = pgettext_lazy("plural", "开票汇总")
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "day",
                    "province",
                    "business_line",
                    "operator_id",
                    "vehicle_class",
                    "document_kind",
                    "tax_rate",
                ],
                name="document_rollup_dims_uniq",
                nulls_distinct=False,
            ),
        ]
        indexes = [
            # dashboard and refresh: every query bounds the day range, a province user's also the province
            models.Index(fields=["province", "day"], name="document_rollup_province_idx"),
            models.Index(fields=["day"], name="document_rollup_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.province} {self.business_line}"


class UploadRollup(models.Model):
    """Upload health per day × province × kind."""

    day = models.DateField(_("日期"))
    province = models.CharField(_("省份"), max_length=2)
    kind = models.CharField(_("数据类型"), max_length=16)
    batches = models.IntegerField(_("批次数"), default=0)
    batches_failed = models.IntegerField(_("失败批次"), default=0)
    rows_accepted = models.BigIntegerField(_("接收行数"), default=0)
    rows_duplicate = models.BigIntegerField(_("重复行数"), default=0)
    rows_rejected = models.BigIntegerField(_("拒绝行数"), default=0)
    duration_seconds = models.BigIntegerField(_("处理时长(秒)"), default=0)

    class Meta:
        verbose_name = pgettext_lazy("singular", "上传汇总")
        verbose_name_plural = pgettext_lazy("plural", "上传汇总")
        constraints = [models.UniqueConstraint(fields=["day", "province", "kind"], name="upload_rollup_dims_uniq")]

    def __str__(self) -> str:
        return f"{self.day} {self.province} {self.kind}"


class TrafficRollup(models.Model):
    """Toll segments (通行拆分明细) per service day × province × operator × vehicle class, with their fee (实收): the
    traffic the province comparison divides by. Rebuilt per day from the query statistics' segment rollup and the
    raw segments above its watermark (reports/rollups.py)."""

    day = models.DateField(_("日期"))
    province = models.CharField(_("省份"), max_length=2)
    operator_id = models.BigIntegerField(_("路段业主"))
    vehicle_class = models.PositiveSmallIntegerField(_("收费车型"))
    segments = models.BigIntegerField(_("通行次数"), default=0)
    fee = models.BigIntegerField(_("实收金额(分)"), default=0)

    class Meta:
        verbose_name = pgettext_lazy("singular", "通行汇总")
        verbose_name_plural = pgettext_lazy("plural", "通行汇总")
        constraints = [
            # also the province comparison's read: a day range (leading column)
            models.UniqueConstraint(
                fields=["day", "province", "operator_id", "vehicle_class"], name="traffic_rollup_dims_uniq"
            ),
        ]
        indexes = [
            # a province user's comparison: their province over a day range
            models.Index(fields=["province", "day"], name="traffic_rollup_province_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.province}"


class DeliveryRollup(models.Model):
    """E-mail deliveries of documents per document day × province × delivery status (the monthly report's 票据投递).
    Rebuilt per day like the others; days with deliveries still pending are rebuilt until they settle."""

    day = models.DateField(_("日期"))
    province = models.CharField(_("省份"), max_length=2)
    status = models.CharField(_("状态"), max_length=8)
    deliveries = models.BigIntegerField(_("投递次数"), default=0)

    class Meta:
        verbose_name = pgettext_lazy("singular", "投递汇总")
        verbose_name_plural = pgettext_lazy("plural", "投递汇总")
        constraints = [
            # also the monthly report's read: a day range (leading column)
            models.UniqueConstraint(fields=["day", "province", "status"], name="delivery_rollup_dims_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.province} {self.status}"


class UploadLateness(models.Model):
    """How late upload data arrives: the rows one batch brought, by the days between their service date and the
    upload (the batch's Beijing upload day − the row's `service_date`). Counted once per batch when it has finished,
    from the new fact rows (reports/rollups.py `upload_lateness_catch_up`); `day`, `province` and `kind` are the
    batch's, so it reads with the upload rollup and the batch list."""

    batch_id = models.BigIntegerField(_("上传批次"))
    day = models.DateField(_("日期"))
    province = models.CharField(_("省份"), max_length=2)
    kind = models.CharField(_("数据类型"), max_length=16)
    late_days = models.IntegerField(_("迟到天数"))
    rows = models.BigIntegerField(_("行数"), default=0)

    class Meta:
        verbose_name = pgettext_lazy("singular", "上传迟到")
        verbose_name_plural = pgettext_lazy("plural", "上传迟到")
        constraints = [
            models.UniqueConstraint(fields=["batch_id", "late_days"], name="upload_lateness_batch_days_uniq"),
            models.CheckConstraint(name="upload_lateness_days_non_negative", condition=Q(late_days__gte=0)),
        ]
        indexes = [
            # the uploads template: a period's lateness per province (day range, a province user's province)
            models.Index(fields=["day", "province"], name="upload_lateness_day_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.batch_id} +{self.late_days}"


class SupportRollup(models.Model):
    """Support workload per day × province: tickets opened, closed, overdue; actions by type."""

    day = models.DateField(_("日期"))
    province = models.CharField(_("省份"), max_length=2, blank=True)
    tickets_opened = models.IntegerField(pgettext_lazy("count", "新建工单"), default=0)
    tickets_closed = models.IntegerField(_("关闭工单"), default=0)
    tickets_overdue = models.IntegerField(_("超时工单"), default=0)
    actions = models.JSONField(_("操作次数"), default=dict)

    class Meta:
        verbose_name = pgettext_lazy("singular", "客服汇总")
        verbose_name_plural = pgettext_lazy("plural", "客服汇总")
        constraints = [models.UniqueConstraint(fields=["day", "province"], name="support_rollup_dims_uniq")]

    def __str__(self) -> str:
        return f"{self.day} {self.province}"


class RollupWatermark(models.Model):
    """The last day a rollup is final for; days after it are recomputed on the next run.

    `last_id` is the highest source row id the last run saw and `last_run_at` when it ran: a finished day is
    reopened only when a row with a higher id (or, for uploads and tickets, one finished since) belongs to it.
    """

    name = models.CharField(max_length=32, primary_key=True)
    final_through = models.DateField(null=True, blank=True)
    last_id = models.BigIntegerField(default=0)
    last_run_at = models.DateTimeField(null=True, blank=True)
    # when the freshness poll last found the rollup up to date (reports/rollups.py): 数据截至 on the pages
    checked_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = pgettext_lazy("singular", "汇总水位")
        verbose_name_plural = pgettext_lazy("plural", "汇总水位")

    def __str__(self) -> str:
        return f"{self.name} ≤ {self.final_through}"


class SavedView(models.Model):
    """A report template with its filters, saved under a name by a manager: personal, or shared with the readers of
    the same scope (a province-bound view is seen in that province only)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("创建人")
    )
    name = models.CharField(_("名称"), max_length=100)
    template = models.CharField(_("报表模板"), max_length=32)
    query = models.CharField(_("筛选条件"), max_length=1000, blank=True)
    province = models.CharField(_("省份"), max_length=2, blank=True)  # the owner's scope when saved; blank: national
    shared = models.BooleanField(_("共享"), default=False)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)

    class Meta:
        verbose_name = pgettext_lazy("singular", "报表视图")
        verbose_name_plural = pgettext_lazy("plural", "报表视图")
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="saved_view_owner_name_uniq")]
        indexes = [
            # the gallery's "shared views" list
            models.Index(fields=["shared", "name"], name="saved_view_shared_idx", condition=Q(shared=True)),
        ]

    def __str__(self) -> str:
        return self.name


class ReportFrequency(models.TextChoices):
    DAILY = "daily", _("每天")
    WEEKLY = "weekly", _("每周")
    MONTHLY = "monthly", _("每月")


class ScheduledReport(models.Model):
    """A PDF report e-mailed on a schedule to a province's staff (or to named addresses): the classic management
    report, or a report template (optionally with a saved view's filters)."""

    name = models.CharField(_("名称"), max_length=100)
    template = models.CharField(_("报表模板"), max_length=32, blank=True)  # blank: the management report
    query = models.CharField(_("筛选条件"), max_length=1000, blank=True)  # a saved view's filters, copied
    frequency = models.CharField(_("频率"), max_length=8, choices=ReportFrequency.choices)
    province = models.CharField(_("省份"), max_length=2, choices=Province.choices, blank=True)
    recipients = ArrayField(models.EmailField(), verbose_name=_("收件人"), default=list, blank=True)
    active = models.BooleanField(_("启用"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("创建人")
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = pgettext_lazy("singular", "定时报表")
        verbose_name_plural = pgettext_lazy("plural", "定时报表")
        constraints = [
            models.CheckConstraint(
                name="scheduled_report_frequency_valid", condition=Q(frequency__in=ReportFrequency.values)
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    SENDING = "sending", _("发送中")
    SENT = "sent", _("已发送")
    FAILED = "failed", _("失败")


class ReportDelivery(models.Model):
    """One sending of a scheduled report: the period it covers, to whom, and how it went."""

    report = models.ForeignKey(
        ScheduledReport, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("报表")
    )
    period_start = models.DateField(_("开始日期"))
    period_end = models.DateField(_("结束日期"))
    recipients = ArrayField(models.EmailField(), verbose_name=_("收件人"))
    status = models.CharField(_("状态"), max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.SENDING)
    error = models.TextField(_("错误"), blank=True)
    is_test = models.BooleanField(_("测试发送"), default=False)
    sent_at = models.DateTimeField(_("发送时间"), default=timezone.now)
    pdf = models.FileField(_("PDF"), max_length=300, blank=True)

    class Meta:
        verbose_name = pgettext_lazy("singular", "报表投递")
        verbose_name_plural = pgettext_lazy("plural", "报表投递")
        constraints = [
            models.UniqueConstraint(
                fields=["report", "period_start", "period_end"],
                condition=Q(is_test=False),
                name="report_delivery_once_per_period",
            ),
            models.CheckConstraint(name="report_delivery_status_valid", condition=Q(status__in=DeliveryStatus.values)),
        ]
        indexes = [models.Index(fields=["report", "-sent_at"], name="report_delivery_log_idx")]  # delivery log

    def __str__(self) -> str:
        return f"{self.report_id} {self.period_start}–{self.period_end}"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("生成中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")


class ExportKind(models.TextChoices):
    DOCUMENTS = "documents", _("票据明细")
    UPLOADS = "uploads", _("上传批次")
    TICKETS = "tickets", _("工单")
    SEARCHES = "searches", _("搜索记录")


class ExportJob(models.Model):
    """A large drill-down export made in the background (queue `reports`): the filters as a query string, the
    province scope it was made under, progress, and the file. Only its creator downloads it."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(_("导出内容"), max_length=10, choices=ExportKind.choices)
    fmt = models.CharField(_("格式"), max_length=4)
    query = models.CharField(_("筛选条件"), max_length=1000, blank=True)
    province = models.CharField(_("省份"), max_length=2, blank=True)  # the creator's scope; blank: national
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("创建人")
    )
    status = models.CharField(_("状态"), max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    rows_total = models.BigIntegerField(_("总行数"), default=0)
    rows_done = models.BigIntegerField(_("已导出"), default=0)
    file = models.FileField(_("文件"), max_length=300, blank=True)
    error = models.TextField(_("错误"), blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    # take-over (reports/exports.py): when the job was last sent to the queue (a queued job whose message was lost
    # is sent again once this is stale), the worker's heartbeat while it writes rows, and how many times a worker
    # has started it (bounded: a job that kills its worker every time ends failed)
    queued_at = models.DateTimeField(_("入队时间"), default=timezone.now)
    heartbeat_at = models.DateTimeField(_("心跳时间"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)

    class Meta:
        verbose_name = pgettext_lazy("singular", "导出任务")
        verbose_name_plural = pgettext_lazy("plural", "导出任务")
        constraints = [
            models.CheckConstraint(name="export_job_kind_valid", condition=Q(kind__in=ExportKind.values)),
            models.CheckConstraint(name="export_job_fmt_valid", condition=Q(fmt__in=["csv", "xlsx"])),
            models.CheckConstraint(name="export_job_status_valid", condition=Q(status__in=ExportStatus.values)),
        ]
        indexes = [
            # "my exports", newest first
            models.Index(fields=["created_by", "-created_at"], name="export_job_owner_idx"),
            # the stall sweep and the job monitor: the few jobs not finished (queued, running, failed)
            models.Index(fields=["status"], name="export_job_open_idx", condition=~Q(status=ExportStatus.DONE)),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}.{self.fmt}"

    @property
    def province_name(self) -> str:
        """The scope's province name; blank for a national export."""
        return province_label(self.province)
