"""The Django admin, the maintainers' tool: shared building blocks, and the staff, token and audit admins.

Building blocks used by every app's admin module:

- `PiaogenAdmin`: every add, change and delete made in the admin is also written to the audit trail, and
  search fields prefixed with ``=`` are matched by plain equality (see `exact_search_q`).
- `LargeTableAdmin`: for tables of millions of rows: no full COUNT(*), no sorting by arbitrary columns.
- `ReadOnlyAdmin` / `FactAdmin` / `ReadOnlyInlineMixin`: facts, documents and the audit trail are viewed here,
  never written (they are append-only, or changed only through services).
- `money_column`, `province_name`, `ProvinceFilter`, `recent_values_filter`: list columns and filters.
- `MaskedPiiMixin`, `masked_column`: phone, ID numbers, e-mail addresses and holder names are never rendered in
  clear, neither in lists nor on change pages (product.md: PII masked by default everywhere).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from functools import cached_property, reduce
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Field, Model, Q, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import format_lazy, smart_split, unescape_string_literal
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from piaogen.audit import audit_record
from piaogen.callbacks import api_token_callback_set
from piaogen.identifiers import Province, fold_fullwidth, province_label
from piaogen.models import ApiToken, AuditEvent, CallbackDelivery, IdempotentRequest, Role, User
from piaogen.money import format_yuan
from piaogen.privacy import MASKS, PII_FIELDS, Pii, shown
from piaogen.roles import group_name
from piaogen.services import api_token_issue

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# --- list columns and filters ---------------------------------------------------------------------------------------


class MoneyColumn:
    """A list or read-only column showing an integer-fen field as yuan: ``123450`` → ``¥1,234.50``.

    A callable object, not a function, so it also works as a class attribute named in `readonly_fields`.
    """

    def __init__(self, field: str, label: StrOrPromise) -> None:
        self.field = field
        self.short_description = label
        self.admin_order_field = field
        self.__name__ = f"{field}_yuan"

    def __call__(self, obj: Model) -> str:
        value = getattr(obj, self.field)
        return "" if value is None else format_yuan(value)


def money_column(field: str, label: StrOrPromise) -> MoneyColumn:
    """``money_column("fee", _("实收金额"))``: put it in `list_display`, or on the admin class for `readonly_fields`."""
    return MoneyColumn(field, label)


@admin.display(description=_("省份"), ordering="province")
def province_name(obj: Model) -> str:
    """The province as its short name, for tables whose `province` column is a bare code (facts, rollups)."""
    code = str(getattr(obj, "province", "") or "")
    return province_label(code)


@admin.display(description=_("手机号"))
def masked_phone(obj: Model) -> str:
    """A customer's or card holder's phone number, masked in lists (support/views reveal it with a reason)."""
    phone = str(getattr(obj, "phone", None) or getattr(obj, "holder_phone", "") or "")
    return shown(Pii.PHONE, phone)


# --- PII ------------------------------------------------------------------------------------------------------------


Mask = Callable[[str], str]


class MaskedColumn:
    """A list or read-only column showing a PII field masked: ``masked_column(Card, "holder_phone")``.

    A callable object (like `MoneyColumn`), so it works in `list_display` and as an admin attribute named in the
    fields of a read-only change page.
    """

    def __init__(self, field: str, mask: Mask, label: StrOrPromise) -> None:
        self.field = field
        self.mask = mask
        self.short_description = label
        self.__name__ = f"{field}_masked"

    def __call__(self, obj: Model) -> str:
        return self.mask(str(getattr(obj, self.field, "") or ""))


def masked_column(model: type[Model], field: str) -> MaskedColumn:
    """``masked_column(Customer, "email")``: masked by the field's rule (``piaogen.privacy.PII_FIELDS``), labelled
    with the field's own verbose name."""
    mask = MASKS[PII_FIELDS[model._meta.label_lower][field]]
    return MaskedColumn(field, mask, model._meta.get_field(field).verbose_name)  # type: ignore[union-attr]


class _MaskedPiiForm:
    """Mixed into an admin change form: each PII input starts empty, with the masked current value as its
    placeholder; left empty the stored value is kept, filled in it replaces it (and is validated as usual)."""

    masked_fields: ClassVar[dict[str, Mask]] = {}
    instance: Model
    fields: dict[str, Any]
    initial: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, mask in self.masked_fields.items():
            field = self.fields.get(name)
            if field is None:
                continue
            current = mask(str(getattr(self.instance, name, "") or ""))
            self.initial[name] = ""
            field.required = False
            field.widget.attrs["placeholder"] = current
            field.widget.attrs["autocomplete"] = "off"
            field.help_text = format_lazy(_("当前值（已遮蔽）：{}。留空则保持不变，填写则替换。"), current or "—")

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        for name in self.masked_fields:
            if name in self.fields and cleaned.get(name) in ("", None):
                cleaned[name] = getattr(self.instance, name)
        return cleaned


class MaskedPiiMixin:
    """PII never appears in clear on a change page. `masked_fields` maps a field to its mask: the model's
    personal-data fields with their rules, ``piaogen.privacy.pii_fields_of(Model)``.

    Where the field can be edited, the input is write-only (see `_MaskedPiiForm`): a maintainer corrects a phone or
    ID number recorded wrongly without reading the old one (the admin write is audited). Where the page is read-only
    (viewed-only admins, or no change permission), the masked value is shown in the field's place.
    """

    masked_fields: ClassVar[dict[str, Mask]] = {}

    def __init__(self, model: type[Model], admin_site: admin.AdminSite) -> None:
        super().__init__(model, admin_site)  # type: ignore[call-arg]
        for name, mask in self.masked_fields.items():
            label = model._meta.get_field(name).verbose_name  # type: ignore[union-attr]
            setattr(self, f"{name}_masked", MaskedColumn(name, mask, label))

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)  # type: ignore[misc]
        if obj is None or self.has_change_permission(request, obj):  # type: ignore[attr-defined]
            return fields  # the add page has nothing to hide; an editable page masks through the form
        return [f"{name}_masked" if name in self.masked_fields else name for name in fields]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)  # type: ignore[misc]
        if obj is None or not self.masked_fields:
            return form
        return type(form)(form.__name__, (_MaskedPiiForm, form), {"masked_fields": self.masked_fields})


class ProvinceFilter(admin.SimpleListFilter):
    """Province from the fixed list of codes: no `SELECT DISTINCT province` over a fact table."""

    title = _("省份")
    parameter_name = "province"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(code), str(label)) for code, label in Province.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(province=value) if value else queryset


class RecentValuesFilter(admin.SimpleListFilter):
    """Filter on a free-text column (no choices), offering the values found in the latest `window` rows.

    Django's default for such a column is `SELECT DISTINCT` over the whole table; this reads a bounded slice.
    """

    field_name = ""
    window = 10_000

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: type[Model], model_admin: Any) -> None:
        self.title = getattr(model._meta.get_field(self.field_name), "verbose_name", self.field_name)
        self.parameter_name = self.field_name
        super().__init__(request, params, model, model_admin)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        manager = model_admin.model._default_manager
        recent = manager.order_by("-pk").values("pk")[: self.window]
        values = (
            manager.filter(pk__in=recent)
            .exclude(**{self.field_name: ""})
            .order_by(self.field_name)
            .values_list(self.field_name, flat=True)
            .distinct()
        )
        return [(value, value) for value in values]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{self.field_name: value}) if value else queryset


def recent_values_filter(field_name: str) -> type[RecentValuesFilter]:
    return type(f"RecentValuesFilter_{field_name}", (RecentValuesFilter,), {"field_name": field_name})


# --- search ---------------------------------------------------------------------------------------------------------


def search_terms(search_term: str) -> list[str]:
    """The admin's search box split like Django does (quotes keep spaces), full-width folded, blanks dropped."""
    terms = []
    for bit in smart_split(search_term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        bit = fold_fullwidth(bit).strip()
        if bit:
            terms.append(bit)
    return terms


def exact_search_q(model: type[Model], path: str, term: str) -> Q | None:
    """``path == term`` as the field's own type, or None when the term can never match (not a number, too long).

    Django's ``=field`` search is ``UPPER(col) = UPPER(term)``, which no b-tree index serves: on a fact table that
    is a sequential scan of millions of rows. Plain equality uses the index; integer columns compare as integers.
    """
    opts = model._meta
    parts = path.split(LOOKUP_SEP)
    field: Any = None
    for i, part in enumerate(parts):
        field = opts.get_field(part)
        if i < len(parts) - 1:
            opts = field.related_model._meta
    target: Field[Any, Any] = field.target_field if field.many_to_one or field.one_to_one else field
    try:
        value = target.clean(term, None)
    except ValidationError:
        return None
    return Q(**{path: value})


def _loose_lookup(name: str) -> str:
    if name.startswith("^"):
        return f"{name[1:]}__istartswith"
    return name if LOOKUP_SEP in name else f"{name}__icontains"


# --- base admins ----------------------------------------------------------------------------------------------------


class AuditedAdminMixin:
    """Every write made through the admin goes to the audit trail too (Django's own LogEntry is kept as well)."""

    def _audit(self, request: HttpRequest, action: str, obj: Model, message: Any = None) -> None:
        user = request.user
        audit_record(
            actor=user if isinstance(user, User) else None,
            action=action,
            obj=obj,
            after={"admin": message} if message else None,
            request=request,
        )

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        self._audit(request, "admin.add", obj, message)
        return super().log_addition(request, obj, message)  # type: ignore[misc]

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        self._audit(request, "admin.change", obj, message)
        return super().log_change(request, obj, message)  # type: ignore[misc]

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            self._audit(request, "admin.delete", obj, str(obj))
        return super().log_deletions(request, queryset)  # type: ignore[misc]


class PiaogenAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Base admin: audited writes; ``=field`` search fields matched by index-friendly equality.

    Several terms must all match (as in Django); within a term, any search field may match.
    """

    def __init__(self, model: type[Model], admin_site: admin.AdminSite) -> None:
        super().__init__(model, admin_site)
        names = [str(name) for name in self.search_fields]
        exact = [name[1:] for name in names if name.startswith("=")]
        if exact and len(exact) == len(names) and not self.search_help_text:  # mixed: each admin words its own
            labels = [self._search_label(name) for name in exact]
            listed = format_lazy("{sep}".join(["{}"] * len(labels)), *labels, sep=_("、"))
            setattr(self, "search_help_text", format_lazy(_("精确查找：{}"), listed))  # noqa: B010 (a ClassVar)

    def _search_label(self, path: str) -> Any:
        opts = self.model._meta
        field: Any = None
        for part in path.split(LOOKUP_SEP):
            field = opts.get_field(part)
            opts = field.related_model._meta if field.is_relation else opts
        return opts.verbose_name if field.is_relation else field.verbose_name

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        fields: Sequence[str] = [str(name) for name in self.get_search_fields(request)]
        if not search_term or not any(name.startswith("=") for name in fields):
            return super().get_search_results(request, queryset, search_term)
        for term in search_terms(search_term):
            matches: list[Q] = []
            for name in fields:
                if name.startswith("="):
                    q = exact_search_q(self.model, name[1:], term)
                    if q is not None:
                        matches.append(q)
                else:
                    matches.append(Q(**{_loose_lookup(name): term}))
            if not matches:
                return queryset.none(), False
            queryset = queryset.filter(reduce(operator.or_, matches))
        return queryset, False


class CappedCountPaginator(Paginator):
    """Counts at most `cap` + 1 rows: an unfiltered COUNT(*) over tens of millions of rows takes seconds.

    Past the cap the list says "10001" and pages only that far; narrow it with a filter or an exact search.
    """

    cap = 10_000

    @cached_property
    def count(self) -> int:
        object_list: Any = self.object_list
        if isinstance(object_list, QuerySet):
            return object_list[: self.cap + 1].count()
        return len(object_list)


class KeyOrderChangeList(ChangeList):
    """Always in the admin's own order (by default newest first by primary key), whatever `?o=` asks for:
    sorting tens of millions of rows by an unindexed column would be a full sort."""

    def get_ordering(self, request: HttpRequest, queryset: QuerySet[Any]) -> list[Any]:
        return [*(self.model_admin.get_ordering(request) or ()), "-pk"]

    def get_ordering_field_columns(self) -> dict[int, Any]:
        return {}


class LargeTableAdmin(PiaogenAdmin):
    """For tables of millions of rows: capped counts, newest first by primary key, no sorting by other columns."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    sortable_by = ()
    list_per_page = 50

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return KeyOrderChangeList


class ReadOnlyMixin:
    """Viewable only: no add, change or delete, for anyone (superusers included)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class NoDeleteMixin:
    """Master data referenced by card or plate text from the facts (no foreign key protects it): never deleted."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyMixin, PiaogenAdmin):
    """A small read-only table (job rows, rollups, the audit of reveals…)."""


class FactAdmin(ReadOnlyMixin, LargeTableAdmin):
    """A fact table (tens of millions of rows, append-only) or a document table: view and find, nothing more."""


class ReadOnlyInlineMixin(ReadOnlyMixin):
    """An inline that shows the related rows and offers no form rows."""

    extra = 0
    can_delete = False
    show_change_link = True


# --- staff users ----------------------------------------------------------------------------------------------------


def _check_role_province(form: ModelForm[User]) -> None:
    """The same rules as the database constraints (and `staff_upsert`), as form errors instead of a 500."""
    role = form.cleaned_data.get("role") or ""
    province = form.cleaned_data.get("province") or ""
    if role == Role.PROVINCE and not province:
        form.add_error("province", _("省级用户必须指定省份。"))
    if province and role not in (Role.PROVINCE, Role.MANAGER):
        form.add_error("province", _("只有省级用户和管理人员可以限定省份。"))


class StaffChangeForm(UserChangeForm):
    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        _check_role_province(self)
        return cleaned


class StaffCreationForm(AdminUserCreationForm):
    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        _check_role_province(self)
        return cleaned


@admin.register(User)
class StaffAdmin(AuditedAdminMixin, DjangoUserAdmin):
    """Console users. The role decides the group (permissions) and admin access; both follow it on save."""

    form = StaffChangeForm
    add_form = StaffCreationForm
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("个人信息"), {"fields": ("first_name", "last_name", "email")}),
        (_("角色与省份"), {"fields": ("role", "province")}),
        (_("权限"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("重要日期"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "usable_password", "password1", "password2")}),
        (_("角色与省份"), {"classes": ("wide",), "fields": ("role", "province")}),
    )
    readonly_fields = ("is_staff", "is_superuser", "groups", "last_login", "date_joined")
    list_display = ("username", "last_name", "first_name", "role", "province", "is_active", "last_login")
    list_filter = ("role", "province", "is_active")
    search_fields = ("username", "first_name", "last_name", "email")
    ordering = ("username",)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        obj.is_staff = obj.role == Role.MAINTAINER or obj.is_superuser  # the admin is the maintainers' tool
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        user = form.instance
        user.groups.set(Group.objects.filter(name=group_name(user.role)) if user.role else [])


# --- API tokens -----------------------------------------------------------------------------------------------------


@admin.register(ApiToken)
class ApiTokenAdmin(PiaogenAdmin):
    """Tokens of provincial systems. The key is shown once, on creation; only its hash is stored, never shown."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    list_select_related = ("user",)
    search_fields = ("name", "=prefix", "=user__username")
    search_help_text = _("名称中的文字，或精确的前缀、用户名")
    actions = ("revoke",)

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("user", "name")
        return ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at", "callback_url")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> tuple[str, ...]:
        return () if obj is None else ("user", "prefix", "created_at", "last_used_at", "revoked_at")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":  # tokens go to provincial system accounts only (api_token_issue)
            kwargs["queryset"] = User.objects.filter(role=Role.PROVINCE, is_active=True).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False  # revoke instead: the row stays for the audit trail

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            api_token_callback_set(token=obj, url=obj.callback_url)  # a signing secret with the first URL
            return
        token, key = api_token_issue(user=obj.user, name=obj.name)
        obj.pk = token.pk
        obj.refresh_from_db()
        obj._state.adding = False
        messages.success(request, gettext("令牌已创建。密钥只显示这一次，请立即复制保存：%(key)s") % {"key": key})

    @admin.action(description=_("吊销"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        tokens = list(queryset.filter(revoked_at__isnull=True))
        ApiToken.objects.filter(pk__in=[t.pk for t in tokens], revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        actor = request.user if isinstance(request.user, User) else None
        for token in tokens:
            audit_record(actor=actor, action="api_token.revoke", obj=token, request=request)
        messages.success(request, gettext("已吊销 %(count)d 个令牌。") % {"count": len(tokens)})


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(ReadOnlyAdmin):
    """The callback delivery log: one row per notification, its attempts and the receiver's last answer."""

    list_display = ("created_at", "token", "event", "object_id", "status", "attempts", "response_status", "sent_at")
    list_filter = ("status", "event")
    list_select_related = ("token",)
    search_fields = ("=object_id",)


@admin.register(IdempotentRequest)
class IdempotentRequestAdmin(ReadOnlyAdmin):
    """The answers kept for Idempotency-Key (piaogen.idempotency), by token and key; forgotten after 30 days."""

    list_display = ("created_at", "key", "token", "user", "status_code", "location")
    list_select_related = ("token", "user")
    search_fields = ("=key",)


# --- audit trail ----------------------------------------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(FactAdmin):
    """The audit trail, read-only (a database trigger refuses UPDATE and DELETE anyway).

    Search by `actor_name` / `object_id`: neither leads an index, so that search scans the table.
    """

    list_display = ("at", "actor_name", "action", "object_type", "object_id", province_name, "reason", "ip")
    list_filter = (
        recent_values_filter("action"),
        recent_values_filter("object_type"),
        ProvinceFilter,
        ("at", admin.DateFieldListFilter),
    )
    search_fields = ("=actor_name", "=object_id")
    raw_id_fields = ("actor",)
