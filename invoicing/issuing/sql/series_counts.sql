-- Issuing, step 4: how many numbers each series (kind, province) needs for issue_docs; Python takes them from
-- invoicing.numbering.document_numbers (late, one block per series, ADR 0002 order) and passes them to step 5.
SELECT kind, province, count(*) FROM issue_docs GROUP BY kind, province
