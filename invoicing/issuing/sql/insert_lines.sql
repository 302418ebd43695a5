-- Issuing, step 6: the lines of issue_lines. Item name %(item_name)s (the item kind's), %(fiscal_item_name)s on a
-- fiscal receipt (%(fiscal)s); a line carries its document's issue date and card.
INSERT INTO invoicing_documentline (id, document_id, line_no, item_name, plate, vehicle_type, date_from, date_to,
    tax_rate, amount_net, amount_tax, amount_gross, service_date, card_no)
SELECT l.line_id, d.id, l.line_no, CASE WHEN l.kind = %(fiscal)s THEN %(fiscal_item_name)s ELSE %(item_name)s END,
    l.plate, l.vtype, l.date_from, l.date_to, l.rate, l.net, l.gross - l.net, l.gross, %(issued_on)s, d.card_no
FROM issue_lines l JOIN issue_docs d ON d.grp = l.grp AND d.part = l.part
