-- Issuing, step 8: an "issued" event per document of issue_docs, its data %(data)s (the run, if any) and the
-- document's item count.
INSERT INTO invoicing_documentevent (document_id, kind, at, by_id, data)
SELECT d.id, 'issued', %(at)s, %(by)s, %(data)s::jsonb || jsonb_build_object('items', d.items) FROM issue_docs d
