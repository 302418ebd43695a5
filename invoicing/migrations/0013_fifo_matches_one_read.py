"""``invoicing_fifo_matches`` reads each card's top-ups and segments once (into ``events``) instead of twice: every
read of the partitioned tables is planned and probed over all their partitions (#15 item 4). functions.sql run
again, as migration 0010 says a change to it must be; the rule is unchanged."""

from pathlib import Path

from django.db import migrations

FUNCTIONS_SQL = (Path(__file__).resolve().parent.parent / "eligibility" / "sql" / "functions.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0012_fifo_paid_by_chosen_topups")]

    operations = [migrations.RunSQL(FUNCTIONS_SQL, migrations.RunSQL.noop)]
