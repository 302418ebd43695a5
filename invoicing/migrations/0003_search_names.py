"""Support search (support/search.py): btree indexes on customer and buyer-title names for two-character names
(张伟 has no whole trigram, so the trigram GIN indexes cannot serve it): ``name LIKE '张伟%'`` and ``name = …``
use them (the database collation is C, so a btree serves prefix LIKE). Hand-written SQL: the models keep their
declared indexes; this migration owns these two."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0002_invoice_cycle_run_heartbeat")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS customer_name_prefix_idx ON invoicing_customer (name)",
            "DROP INDEX IF EXISTS customer_name_prefix_idx",
        ),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS buyer_title_name_prefix_idx ON invoicing_buyertitle (name)",
            "DROP INDEX IF EXISTS buyer_title_name_prefix_idx",
        ),
    ]
