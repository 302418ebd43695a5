-- Issuing, step 7: one live item (%(item_kind)s) per row of issue_rows, on its line. The partial unique index
-- document_item_one_live_per_item refuses an item a concurrent worker issued first: the attempt rolls back and
-- writing.items_issue tries again without it (exactly once).
INSERT INTO invoicing_documentitem (document_id, line_id, item_kind, item_id, service_date, card_no, amount, live)
SELECT d.id, l.line_id, %(item_kind)s, r.id, r.service_date, r.card_no, r.amount, true
FROM issue_rows r
JOIN issue_lines l ON l.kind = r.kind AND l.seller = r.seller AND l.title_id = r.title_id
    AND coalesce(l.rate, -1) = coalesce(r.rate, -1) AND l.plate = r.plate AND l.vtype = r.vtype
JOIN issue_docs d ON d.grp = l.grp AND d.part = l.part
