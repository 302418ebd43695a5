"""Support workbench pages, one module per area: search and record pages (`search`, `records`), actions
(`actions`), tickets (`tickets`), the audit trail viewer and PII reveals (`audit`)."""
