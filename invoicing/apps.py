from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# the live document holding item {id} of a kind (document_item_one_live_per_item): what a correction may not touch
HELD_BY_SQL = (
    "SELECT CASE WHEN d.code = '' THEN d.number ELSE d.code || '-' || d.number END FROM invoicing_documentitem di"
    " JOIN invoicing_document d ON d.id = di.document_id WHERE di.item_kind = '{kind}' AND di.item_id = {{id}}"
    " AND di.live LIMIT 1"
)


class InvoicingConfig(AppConfig):
    name = "invoicing"
    verbose_name = _("开票")

    def ready(self) -> None:
        from invoicing.jobs import RUNS
        from invoicing.models import ItemKind
        from piaogen import jobs
        from tolling.importing.conflicts import HOLDERS

        jobs.register(RUNS)
        for kind in (ItemKind.SEGMENT, ItemKind.AUDIT_CHARGE, ItemKind.PAPER_TICKET):
            HOLDERS[kind.value] = HELD_BY_SQL.format(kind=kind.value)
