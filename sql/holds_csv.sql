-- holds.csv of a night, from the decisions review_night stored part by part (the `holds` view of
-- the held ones, sql/schema.sql; pipeline/publish.py writes it in batches, never the night's
-- holds at once). The order is the file's: by client, case and reason, each as published, i.e.
-- with a formula-looking value prefixed with ' (CSV injection, publish.escape_formulas), which
-- can move it among the others.
select client_id, case_id, customer_id, reason, detail
from holds
where business_date = $business_date
order by
    case when regexp_matches(client_id, '^[=+\-@\t\r]') then '''' || client_id else client_id end nulls last,
    case when regexp_matches(case_id, '^[=+\-@\t\r]') then '''' || case_id else case_id end nulls last,
    case when regexp_matches(reason, '^[=+\-@\t\r]') then '''' || reason else reason end nulls last
