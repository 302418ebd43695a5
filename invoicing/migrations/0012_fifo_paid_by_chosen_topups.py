"""``invoicing_fifo_paid_by_chosen_topups`` (Reason ``topup_chosen``) and ``invoicing_prepaid_choice_at`` (the
choice in force, shared with topup_states.sql): functions.sql run again, as migration 0010 says a change to it must
be."""

from pathlib import Path

from django.db import migrations

FUNCTIONS_SQL = (Path(__file__).resolve().parent.parent / "eligibility" / "sql" / "functions.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0011_document_line_service_date_card")]

    operations = [
        migrations.RunSQL(
            FUNCTIONS_SQL,
            "DROP FUNCTION IF EXISTS invoicing_fifo_paid_by_chosen_topups(varchar[]);"
            "DROP FUNCTION IF EXISTS invoicing_prepaid_choice_at(varchar, timestamptz);",
        )
    ]
