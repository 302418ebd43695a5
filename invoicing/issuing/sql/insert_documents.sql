-- Issuing, step 5: the documents of issue_docs, numbered. The numbers taken (step 4) come as %(numbers)s, all
-- series' blocks comma-joined; series i is (%(series_kinds)s[i], %(series_provinces)s[i]) with code
-- %(series_codes)s[i] and its block starting after position %(series_offsets)s[i]: a document takes the n-th
-- number of its series' block. Seller and buyer as printed are copied from the operator and the title version.
WITH s AS (
        SELECT * FROM unnest(%(series_kinds)s::varchar[], %(series_provinces)s::varchar[],
            %(series_codes)s::varchar[], %(series_offsets)s::int[]) AS s(kind, province, code, off)
    ),
    nums AS (SELECT * FROM unnest(string_to_array(%(numbers)s, ',')) WITH ORDINALITY AS u(number, pos))
INSERT INTO invoicing_document (id, kind, business_line, status, code, number, issued_at, service_date, province,
    seller_id, seller_name, seller_tax_id, customer_id, title_id, buyer_name, buyer_tax_id, card_no, tax_rate,
    amount_net, amount_tax, amount_gross, period_start, period_end, is_merged, original_id, replaces_id, remarks,
    pdf, run_id)
SELECT d.id, d.kind, %(business_line)s, %(status)s, s.code, nums.number, %(issued_at)s, %(issued_on)s, d.province,
    d.seller, o.name, o.tax_id, t.customer_id, d.title_id, t.name, t.tax_id, d.card_no, d.rate, d.net,
    d.gross - d.net, d.gross, d.period_start, d.period_end, %(merged)s, NULL, NULL, '', '', %(run)s
FROM issue_docs d JOIN s ON s.kind = d.kind AND s.province = d.province JOIN nums ON nums.pos = s.off + d.n
JOIN tolling_operator o ON o.id = d.seller JOIN invoicing_buyertitle t ON t.id = d.title_id
RETURNING id, code || number
