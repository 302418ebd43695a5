"""Cross-cutting models: staff users with a role and a province scope, API tokens, the audit trail."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from piaogen.identifiers import Province


class Role(models.TextChoices):
    AGENT = "agent", _("客服")
    PROVINCE = "province", _("省级用户")
    MANAGER = "manager", _("管理人员")
    MAINTAINER = "maintainer", _("运维")


class User(AbstractUser):
    """A console user. `role` decides the pages; `province` (when set) bounds every row they can reach."""

    role = models.CharField(_("角色"), max_length=16, choices=Role.choices, blank=True)
    province = models.CharField(_("省份"), max_length=2, choices=Province.choices, blank=True)

    class Meta:
        verbose_name = pgettext_lazy("singular", "工作人员")
        verbose_name_plural = pgettext_lazy("plural", "工作人员")
        constraints = [
            models.CheckConstraint(name="user_role_valid", condition=Q(role__in=[*Role.values, ""])),
            models.CheckConstraint(
                name="user_province_role_has_province", condition=~Q(role=Role.PROVINCE) | ~Q(province="")
            ),
            models.CheckConstraint(
                name="user_province_scope_only_for_province_or_manager",
                condition=Q(province="") | Q(role__in=[Role.PROVINCE, Role.MANAGER]),
            ),
        ]

    @property
    def province_scope(self) -> str | None:
        """The one province this user is bounded to, or None for all provinces."""
        return self.province or None

    def has_role(self, *roles: str) -> bool:
        return self.is_active and self.role in roles


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class ApiToken(models.Model):
    """A provincial system's token. Only its SHA-256 is stored; the key is shown once, at creation."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens", verbose_name=_("用户")
    )
    name = models.CharField(_("名称"), max_length=100)
    prefix = models.CharField(_("前缀"), max_length=8, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    callback_url = models.URLField(
        _("回调地址"), max_length=500, blank=True, help_text=_("批次结束时向该地址 POST 通知（HMAC-SHA256 签名）")
    )
    callback_secret = models.CharField(_("回调签名密钥"), max_length=64, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = pgettext_lazy("singular", "API 令牌")
        verbose_name_plural = pgettext_lazy("plural", "API 令牌")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, *, user: User, name: str) -> tuple[ApiToken, str]:
        """Create a token; returns it with the clear key, which is not stored anywhere."""
        key = "pg_" + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, prefix=key[:8], key_hash=cls.hash_key(key))
        return token, key


class IdempotentRequest(models.Model):
    """The answer to a command sent with an ``Idempotency-Key`` header: the same key from the same caller (API
    token, or console user) gets this answer again instead of a second batch or document (piaogen.idempotency)."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # SHA-256 of method, path and request: a reused key is refused
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(encoder=DjangoJSONEncoder)
    location = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # the look-up of a repeated request, and the lock that makes two concurrent ones wait for each other
            models.UniqueConstraint(
                fields=["token", "key"], condition=Q(token__isnull=False), name="idempotent_request_token_key_uniq"
            ),
            models.UniqueConstraint(
                fields=["user", "key"], condition=Q(token__isnull=True), name="idempotent_request_user_key_uniq"
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotent_created_idx")]  # the daily expiry

    def __str__(self) -> str:
        return self.key


class CallbackStatus(models.TextChoices):
    WAITING = "waiting", _("等待事件")
    PENDING = "pending", _("待发送")
    SENT = "sent", _("已送达")
    FAILED = "failed", _("发送失败")


class CallbackDelivery(models.Model):
    """One notification to an API token's callback URL, with its delivery log (piaogen.callbacks). Armed
    (``waiting``) when the token starts the work, filled and sent when the work ends."""

    id = models.BigAutoField(primary_key=True)
    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="callbacks", verbose_name=_("令牌"))
    event = models.CharField(_("事件"), max_length=40)
    object_id = models.BigIntegerField(_("对象"))
    url = models.URLField(_("回调地址"), max_length=500)
    payload = models.JSONField(_("内容"), default=dict, encoder=DjangoJSONEncoder)
    status = models.CharField(_("状态"), max_length=10, choices=CallbackStatus.choices, default=CallbackStatus.WAITING)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    response_status = models.PositiveSmallIntegerField(_("响应状态码"), null=True, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("下次尝试"), null=True, blank=True)
    sent_at = models.DateTimeField(_("送达时间"), null=True, blank=True)

    class Meta:
        verbose_name = pgettext_lazy("singular", "回调通知")
        verbose_name_plural = pgettext_lazy("plural", "回调通知")
        constraints = [
            # one notification per token and event: callbacks_fire finds the armed ones by (event, object_id)
            models.UniqueConstraint(fields=["token", "event", "object_id"], name="callback_token_event_object_uniq"),
            models.CheckConstraint(name="callback_status_valid", condition=Q(status__in=CallbackStatus.values)),
        ]
        indexes = [
            # callbacks_fire: the armed notifications of an event's object
            models.Index(fields=["event", "object_id"], name="callback_event_object_idx"),
            # callbacks_resume_stalled: the few notifications still to send
            models.Index(
                fields=["next_attempt_at"],
                name="callback_pending_idx",
                condition=Q(status__in=[CallbackStatus.PENDING, CallbackStatus.FAILED]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.object_id} → {self.url}"


# What each audit action reads as in the viewer and on timelines (an unknown action shows as is)
AUDIT_ACTION_LABELS = {
    "admin.add": _("管理后台新增"),
    "admin.change": _("管理后台修改"),
    "admin.delete": _("管理后台删除"),
    "api_token.revoke": _("吊销 API 令牌"),
    "buyer_title.add": _("新增抬头版本"),
    "buyer_title.backdate": _("提前抬头生效时间"),
    "card.bind": _("绑定 ETC 卡"),
    "card.unbind": _("解绑 ETC 卡"),
    "card.prepaid_choice": _("变更储值卡开票方式"),
    "card_binding.backdate": _("提前绑卡追溯起点"),
    "document.issue": _("申请开票"),
    "invoice.claim": _("按号码申请开票"),
    "document.reissue": _("换票"),
    "document.reverse": _("红冲"),
    "document.resend": _("重发票据"),
    "export.retry": _("重试导出任务"),
    "issue_run.retry": _("重试开票任务"),
    "pii.reveal": _("查看敏感信息"),
    "report.export": _("导出报表"),
    "report.pdf": _("下载 PDF 报告"),
    "report.schedule_create": _("新建定时报告"),
    "stats.export": _("导出查询统计"),
    "report.schedule_update": _("修改定时报告"),
    "report.schedule_pause": _("暂停定时报告"),
    "report.schedule_resume": _("恢复定时报告"),
    "summary_sheet.issue": _("生成汇总单"),
    "summary_sheet.void": _("作废汇总单"),
    "ticket.link": _("工单关联记录"),
    "ticket.open": pgettext_lazy("audit action", "新建工单"),
    "ticket.update": _("更新工单"),
    "upload.cancel": _("取消上传批次"),
    "upload.create": _("上传数据"),
    "upload.retry": _("重试上传批次"),
    # the support workbench's actions (support.models.ActionKind)
    "support.resend": _("客服：重发票据"),
    "support.request_invoices": _("客服：申请开票"),
    "support.reissue": _("客服：换票"),
    "support.reverse": _("客服：红冲"),
    "support.summary_sheet": _("客服：生成汇总单"),
    "support.card_bind": _("客服：绑卡"),
    "support.card_unbind": _("客服：解绑"),
    "support.title_add": _("客服：新增抬头版本"),
    "support.claim": _("客服：代客开票"),
    "support.prepaid_choice": _("客服：变更储值卡开票方式"),
    "support.binding_backdate": _("客服：提前绑卡追溯起点"),
    "support.title_backdate": _("客服：提前抬头生效时间"),
}


class AuditEvent(models.Model):
    """The audit trail: who did what, when, from where, why, before → after.

    Append-only: a database trigger (piaogen migration 0001) refuses UPDATE and DELETE.
    """

    at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("操作人"),
    )
    actor_name = models.CharField(_("操作人"), max_length=150, blank=True)
    action = models.CharField(_("操作"), max_length=64)
    object_type = models.CharField(_("对象类型"), max_length=64, blank=True)
    object_id = models.CharField(_("对象标识"), max_length=64, blank=True)
    province = models.CharField(_("省份"), max_length=2, blank=True)
    reason = models.TextField(_("原因"), blank=True)
    ip = models.GenericIPAddressField(_("来源地址"), null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(_("变更前"), null=True, blank=True)
    after = models.JSONField(_("变更后"), null=True, blank=True)

    class Meta:
        verbose_name = pgettext_lazy("singular", "审计记录")
        verbose_name_plural = pgettext_lazy("plural", "审计记录")
        indexes = [
            # timeline of one record (customer, document, batch…) on record pages
            models.Index(fields=["object_type", "object_id", "at"], name="audit_object_at_idx"),
            # "what did this agent do" in the audit viewer
            models.Index(fields=["actor", "at"], name="audit_actor_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)

    @property
    def action_label(self) -> str:
        return str(AUDIT_ACTION_LABELS.get(self.action, self.action))
