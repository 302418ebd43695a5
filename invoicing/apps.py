from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# the live document holding item {id} of a kind (document_item_one_live_per_item): what a correction may not touch
HELD_BY_SQL = (
    "SELECT CASE WHEN d.code = '' THEN d.number ELSE d.code || '-' || d.number END FROM invoicing_documentitem di"
    " JOIN invoicing_document d ON d.id = di.document_id WHERE di.item_kind = '{kind}' AND di.item_id = {{id}}"
    " AND di.live LIMIT 1"
)

ERROR_STATUSES = {
    # "the state does not allow it": 409
    **dict.fromkeys(
        (
            "already_reversed",
            "red_document",
            "exchange_window_passed",
            "number_series_exhausted",
            "sheet_trip_not_invoiced",
            "sheet_void",
            "prepaid_choice_unchanged",
        ),
        409,
    ),
    "rate_limited": 429,  # a customer's claims (invoicing.claims)
}
"""HTTP status of invoicing's domain error codes (piaogen.errors); every other code is a 400."""


class InvoicingConfig(AppConfig):
    name = "invoicing"
    verbose_name = _("开票")

    def ready(self) -> None:
        from invoicing.jobs import RUNS
        from invoicing.models import ItemKind
        from piaogen import errors, jobs
        from tolling.importing.conflicts import HOLDERS

        jobs.register(RUNS)
        errors.register_statuses(ERROR_STATUSES)
        for kind in (ItemKind.SEGMENT, ItemKind.AUDIT_CHARGE, ItemKind.PAPER_TICKET):
            HOLDERS[kind.value] = HELD_BY_SQL.format(kind=kind.value)
