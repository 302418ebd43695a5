"""Eligibility's shared lookups as SQL functions (``invoicing/eligibility/sql/functions.sql``): the buyer in force
at a transaction (``invoicing_buyer_at``), the rate in force (``invoicing_rate_at``) and the FIFO matching of top-ups
to trips (``invoicing_fifo_*``), so that each eligibility statement is whole and can be run as it stands.

The file is read when the migration runs (``CREATE OR REPLACE``): a later change to ``functions.sql`` needs a new
migration that runs it again, or existing databases keep the old bodies; ``tests/invoicing/test_eligibility_sql.py``
fails while the database and the file differ."""

from pathlib import Path

from django.db import migrations

FUNCTIONS_SQL = (Path(__file__).resolve().parent.parent / "eligibility" / "sql" / "functions.sql").read_text()

DROP_SQL = """
DROP FUNCTION IF EXISTS invoicing_fifo_paid_by_invoiced_topups(varchar[]);
DROP FUNCTION IF EXISTS invoicing_fifo_topups_spent_on_invoiced_segments(varchar[]);
DROP FUNCTION IF EXISTS invoicing_fifo_matches(varchar[]);
DROP FUNCTION IF EXISTS invoicing_rate_at(bigint, date);
DROP FUNCTION IF EXISTS invoicing_buyer_at(varchar, timestamptz);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0009_buyer_title_one_document"),
        ("tolling", "0006_vehicle_plate_prefix_idx"),
    ]

    operations = [migrations.RunSQL(FUNCTIONS_SQL, DROP_SQL)]
