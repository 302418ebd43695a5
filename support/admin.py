"""Admin for support work: tickets with their notes and links, saved filters, and (read-only) PII reveals and
support action requests.

Notes are append-only: existing notes are shown, new ones can be added and are signed by whoever adds them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from piaogen.admin import PiaogenAdmin, ProvinceFilter, ReadOnlyAdmin
from support.models import ActionRequest, PiiReveal, SavedFilter, SearchEvent, Ticket, TicketLink, TicketNote


class OverdueFilter(admin.SimpleListFilter):
    title = _("超时")
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("1", _("已超时"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.overdue() if self.value() == "1" else queryset  # type: ignore[attr-defined]


class TicketNoteInline(admin.TabularInline):
    model = TicketNote
    extra = 0
    can_delete = False
    fields = ("body", "author", "created_at")
    readonly_fields = ("author", "created_at")
    ordering = ("created_at",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a note, once written, stays as written


class TicketLinkInline(admin.TabularInline):
    model = TicketLink
    extra = 0
    fields = ("object_type", "object_key")


@admin.register(Ticket)
class TicketAdmin(PiaogenAdmin):
    list_display = (
        "id",
        "subject",
        "category",
        "status",
        "province",
        "customer",
        "assignee",
        "due_at",
        "created_at",
        "closed_at",
    )
    list_filter = ("status", "category", OverdueFilter, ProvinceFilter)
    list_select_related = ("customer", "assignee")
    date_hierarchy = "created_at"
    search_fields = ("=id", "=customer")
    raw_id_fields = ("customer",)
    autocomplete_fields = ("assignee",)
    readonly_fields = ("created_by", "created_at")
    inlines = (TicketNoteInline, TicketLinkInline)

    def save_model(self, request: HttpRequest, obj: Ticket, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is TicketNote:
            for note in formset.save(commit=False):
                if note.pk is None:
                    note.author = request.user
                    note.save()
            return
        super().save_formset(request, form, formset, change)


@admin.register(TicketNote)
class TicketNoteAdmin(ReadOnlyAdmin):
    """Notes are added on their ticket's page."""

    list_display = ("ticket", "author", "created_at", "body")
    list_select_related = ("ticket", "author")
    search_fields = ("=ticket",)
    raw_id_fields = ("ticket", "author")


@admin.register(TicketLink)
class TicketLinkAdmin(PiaogenAdmin):
    list_display = ("ticket", "object_type", "object_key")
    list_select_related = ("ticket",)
    search_fields = ("=ticket",)
    raw_id_fields = ("ticket",)


@admin.register(SavedFilter)
class SavedFilterAdmin(PiaogenAdmin):
    list_display = ("name", "page", "owner", "shared", "query")
    list_filter = ("page", "shared")
    list_select_related = ("owner",)
    search_fields = ("name", "=owner__username")
    search_help_text = _("名称中的文字，或精确的用户名")
    autocomplete_fields = ("owner",)


@admin.register(PiiReveal)
class PiiRevealAdmin(ReadOnlyAdmin):
    """Who saw which customer's phone and ID numbers, why, and until when: a record, never edited."""

    list_display = ("user", "customer", "reason", "created_at", "expires_at")
    list_select_related = ("user", "customer")
    list_filter = (("created_at", admin.DateFieldListFilter),)
    search_fields = ("=customer", "=user__username")
    raw_id_fields = ("user", "customer")


@admin.register(ActionRequest)
class ActionRequestAdmin(ReadOnlyAdmin):
    """Confirmed support actions with their results (written by the action pages only)."""

    list_display = ("id", "kind", "object_type", "object_id", "user", "province", "created_at")
    list_filter = ("kind", ProvinceFilter)
    list_select_related = ("user",)
    search_fields = ("=object_id", "=user__username")
    raw_id_fields = ("user", "ticket")


@admin.register(SearchEvent)
class SearchEventAdmin(ReadOnlyAdmin):
    """Console searches for the workload report: the kind recognised, never the text typed."""

    list_display = ("at", "user", "kind", "province", "results", "opened")
    list_filter = ("kind", ProvinceFilter)
    date_hierarchy = "at"


from support import admin_stats  # noqa: E402, F401  (the statistics rollup's admin registers itself)
