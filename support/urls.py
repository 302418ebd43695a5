"""Support console pages (included at the site root); the API routes are in ``support.api_urls``."""

from django.urls import URLPattern, URLResolver, path, register_converter

from support.views import actions as action_views
from support.views import audit as audit_views
from support.views import records as record_views
from support.views import search as search_views
from support.views import stats as stats_views
from support.views import tickets as ticket_views


class StatsFormatConverter:
    regex = "csv|xlsx"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(StatsFormatConverter, "stats_fmt")

urlpatterns: list[URLPattern | URLResolver] = [
    path("search/", search_views.search_view, name="search"),
    path("customers/<int:customer_id>/", record_views.customer_detail, name="customer-detail"),
    path("trips/<int:trip_id>/", record_views.trip_detail, name="trip-detail"),
    path("cards/<int:card_id>/", record_views.card_detail, name="card-detail"),
    path("vehicles/<str:plate>/", record_views.vehicle_detail, name="vehicle-detail"),
    path("records/stats/", record_views.record_stats, name="record-stats"),
    # actions, tickets, PII reveal, audit (part B)
    path("actions/<int:pk>/", action_views.action_result, name="action-result"),
    path("actions/documents/<int:pk>/resend/", action_views.document_resend, name="action-document-resend"),
    path("actions/documents/<int:pk>/reverse/", action_views.document_reverse, name="action-document-reverse"),
    path("actions/documents/<int:pk>/reissue/", action_views.document_reissue, name="action-document-reissue"),
    path(
        "actions/customers/<int:pk>/invoices/",
        action_views.customer_request_invoices,
        name="action-customer-invoices",
    ),
    path("actions/customers/<int:pk>/sheet/", action_views.customer_summary_sheet, name="action-customer-sheet"),
    path("actions/customers/<int:pk>/bind/", action_views.customer_card_bind, name="action-customer-bind"),
    path("actions/customers/<int:pk>/title/", action_views.customer_title_add, name="action-customer-title"),
    path("actions/customers/<int:pk>/claim/", action_views.customer_claim, name="action-customer-claim"),
    path("actions/cards/<int:pk>/unbind/", action_views.card_unbind, name="action-card-unbind"),
    path("actions/cards/<int:pk>/prepaid-choice/", action_views.card_prepaid_choice, name="action-card-prepaid-choice"),
    path(
        "actions/customers/<int:pk>/binding-backdate/",
        action_views.customer_binding_backdate,
        name="action-customer-binding-backdate",
    ),
    path(
        "actions/customers/<int:pk>/title-backdate/",
        action_views.customer_title_backdate,
        name="action-customer-title-backdate",
    ),
    path("tickets/", ticket_views.ticket_list, name="ticket-list"),
    path("tickets/new/", ticket_views.ticket_create, name="ticket-create"),
    path("tickets/record/", ticket_views.ticket_record_fragment, name="ticket-record"),
    path("tickets/filters/", ticket_views.saved_filter_create, name="ticket-filter-create"),
    path("tickets/filters/<int:pk>/delete/", ticket_views.saved_filter_delete, name="ticket-filter-delete"),
    path("tickets/<int:pk>/", ticket_views.ticket_detail, name="ticket-detail"),
    path("customers/<int:pk>/reveal/", audit_views.pii_reveal_view, name="pii-reveal"),
    path("audit/", audit_views.audit_list, name="audit-list"),
    path("audit/export.csv", audit_views.audit_export, name="audit-export"),
    # query statistics (查询统计)
    path("stats/", stats_views.stats_page, name="stats"),
    path("stats/export.<stats_fmt:fmt>", stats_views.stats_export, name="stats-export"),
    path("stats/rows/", stats_views.stats_rows, name="stats-rows"),
    path("stats/rows/export.<stats_fmt:fmt>", stats_views.stats_rows_export, name="stats-rows-export"),
]
